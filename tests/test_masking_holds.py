"""Personal numbers stay where they belong (issue 9, "masking that holds"): a mediator offered a
case sees the reporter's numbers masked however they were written; a database error logs no
parameter; the SQLite files are the owner's alone."""

from __future__ import annotations

import asyncio
import logging
import os
import re
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.cli import main
from dialogs.base import Services
from storage.database import create_engine, is_sqlite, session_factory
from storage.models import Region
from tests.conftest import VILLAGE_MEDIATION, answer_up_to_contact
from tests.telegram_harness import running_bot
from tests.test_telegram_e2e import bind_on_telegram

CITIZEN = 5101
MEDIATOR = 6101

# One report that writes its numbers the ways people do.
WRITTEN = {
    "13912345678": "139 1234 5678",
    "13812345678": "+86-138-1234-5678",
    "13712345678": "１３７１２３４５６７８",
    "06912123456": "(0691)212 3456",
    "53280119900101123X": "5328 0119 9001 0112 3X",
}
DESCRIPTION = (
    "隔壁邻居装修天天吵到半夜，说了也不听。我电话{}，我爱人{}，我妈{}，"
    "村委会座机{}，我身份证{}，上次报的是案件2026-000012"
).format(*WRITTEN.values())


def digits(shown: str) -> str:
    """Every digit a reader sees, in order, as one run: a number is in it if it was shown
    whole in any grouping or width."""
    folded = shown.translate({0xFF10 + i: ord("0") + i for i in range(10)})
    return "".join(re.findall(r"[0-9Xx]", folded))


async def test_an_offered_mediator_sees_every_number_masked_over_telegram(
    services: Services,
) -> None:
    async with running_bot(services) as tg:
        await bind_on_telegram(services, tg, MEDIATOR, "mediator", VILLAGE_MEDIATION)
        await tg.reports_up_to_contact(CITIZEN, DESCRIPTION)
        sent = await tg.sends(CITIZEN, tg.fake.contact_update(CITIZEN, "+8613912345678"))
        # The reporter's own summary shows what they wrote.
        assert "139 1234 5678" in sent[-1].text
        sent = await tg.taps(CITIZEN, "提交", sent)
        number = sent[0].text.split("案件编号是 ")[1][:11]

        offer = await tg.notices(MEDIATOR, number)
        shown = digits(offer.text)
        for whole in WRITTEN:
            assert whole not in shown, offer.text
        for masked in ("139****5678", "138****5678", "137****5678", "0691-****3456"):
            assert masked in offer.text
        assert "532***********123X" in offer.text
        assert "2026-000012" in offer.text  # a case number is no phone number

        # On the case, the mediator sees the report as written.
        sent = await tg.says(MEDIATOR, "接单", reply_to_message_id=offer.result["message_id"])
        accepted = "\n".join(call.text for call in sent)
        assert "您已接单" in accepted
        assert "139 1234 5678" in accepted and "(0691)212 3456" in accepted


async def test_a_database_error_logs_no_phone_number(
    services: Services, person, caplog: pytest.LogCaptureFixture
) -> None:
    """The database refuses to save a dialog holding the reporter's phone number (a fault
    injected as a constraint, as a full disk or a bug would refuse it): the reporter is told
    something went wrong, and the logged error names the statement but not its values, not
    even in PostgreSQL's own explanation ("DETAIL: Failing row contains (…)")."""
    phone = "13912345678"
    engine = services.sessions.engine
    if is_sqlite(engine):
        create = (
            "CREATE TRIGGER fail_on_phone BEFORE UPDATE ON dialog_states "
            f"WHEN NEW.data LIKE '%{phone}%' BEGIN SELECT RAISE(ABORT, 'fail_on_phone'); END"
        )
        drop = "DROP TRIGGER fail_on_phone"
    else:
        create = (
            "ALTER TABLE dialog_states ADD CONSTRAINT fail_on_phone "
            f"CHECK (data::text NOT LIKE '%{phone}%') NOT VALID"
        )
        drop = "ALTER TABLE dialog_states DROP CONSTRAINT fail_on_phone"
    async with engine.begin() as conn:
        await conn.execute(text(create))
    try:
        citizen = person("villager")
        await answer_up_to_contact(citizen, "隔壁邻居装修天天从早上七点吵到晚上十点")
        assert citizen.said()[-1] == "report.ask_contact"
        caplog.clear()
        with caplog.at_level(logging.ERROR):
            await citizen.says(phone)
    finally:
        async with engine.begin() as conn:
            await conn.execute(text(drop))

    assert citizen.said() == ["error.internal"]
    logged = caplog.text
    assert "failed to handle" in logged and "fail_on_phone" in logged  # the error is there
    assert "UPDATE dialog_states" in logged  # and the statement
    if not is_sqlite(engine):
        assert "Failing row contains (…)" in logged
    assert phone not in digits(logged)


async def test_a_unique_violation_logs_no_value(
    engine: AsyncEngine, caplog: pytest.LogCaptureFixture
) -> None:
    """PostgreSQL explains a unique violation with the key's value ("Key (phone)=(139…)
    already exists"); the log keeps the column and loses the value."""
    phone = "13912345678"
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE contacts (phone VARCHAR(32) UNIQUE)"))
    try:
        with pytest.raises(IntegrityError) as raised:
            async with engine.begin() as conn:
                insert = text("INSERT INTO contacts VALUES (:phone)")
                for _ in range(2):
                    await conn.execute(insert, {"phone": phone})
        with caplog.at_level(logging.ERROR):
            logging.getLogger("test").error("insert failed", exc_info=raised.value)
    finally:
        async with engine.begin() as conn:
            await conn.execute(text("DROP TABLE contacts"))
    logged = caplog.text
    assert "INSERT INTO contacts" in logged
    if not is_sqlite(engine):
        assert "Key (phone)=(…)" in logged
    assert phone not in digits(logged)


@pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
def test_the_sqlite_database_and_its_log_files_are_the_owners_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """However permissive the umask (a service manager may set 0000), `pingan init` makes the
    folder 0700 and the database 0600, and SQLite's -wal and -shm files follow the database."""
    folder = tmp_path / "var" / "pingan"
    url = f"sqlite+aiosqlite:///{folder}/pingan.db"
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PINGAN_DATABASE_URL", url)
    old = os.umask(0)
    try:
        result = CliRunner().invoke(main, ["init"])
        assert result.exit_code == 0, result.output

        async def write_and_look() -> dict[str, int]:
            engine = create_engine(url)
            try:
                async with session_factory(engine)() as session, session.begin():
                    session.add(
                        Region(code="990000", name="测试州", level="prefecture", path="/990000/")
                    )
                # The pool keeps the connection open, so the -wal and -shm files are there.
                return {
                    path.name: stat.S_IMODE(path.stat().st_mode)
                    for path in (folder, *folder.iterdir())
                }
            finally:
                await engine.dispose()

        modes = asyncio.run(write_and_look())
    finally:
        os.umask(old)
    assert set(modes) == {"pingan", "pingan.db", "pingan.db-wal", "pingan.db-shm"}, modes
    assert modes["pingan"] == 0o700
    for name, mode in modes.items():
        assert mode & 0o077 == 0, f"{name}: {oct(mode)}"
    assert stat.S_IMODE((tmp_path / "var").stat().st_mode) == 0o700
