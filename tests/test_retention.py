"""Retention (dispatch/data/retention.yaml) and a person's rights (`pingan person export|erase`),
on real data filed through the dialogs, as the `retention` job and the CLI apply them."""

from __future__ import annotations

import asyncio
import json
import stat
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import func, select

from bot.cli import main
from dialogs.base import Services
from dispatch import stats
from dispatch.clock import FrozenClock
from dispatch.jobs import JobContext, run_job
from dispatch.retention import RetentionPeriod, RetentionPolicy
from storage.models import (
    Case,
    CaseEvent,
    CaseOffer,
    DialogState,
    Identity,
    OutboxMessage,
    Person,
    PrivacyRecord,
)
from tests.conftest import (
    GRID,
    VILLAGE_MEDIATION,
    ZONE,
    answer_up_to_contact,
    case_of,
    close_as_mediated,
    event_kinds,
    file_report,
    make_staff,
)

PHONE = "13912345678"
OTHER_PHONE = "13800001111"
NOISE = "隔壁邻居装修天天从早上七点吵到晚上十点，说了好几次也不听"
WAGES = "老板拖欠我们三个月工资一直不给，打电话也不接，住在橄榄坝的张三家"
# The whole prefecture: every figure of the demo organisation.
EVERYWHERE = "/"


def ctx(services: Services, **periods: RetentionPeriod) -> JobContext:
    domain = services.domain
    if periods:
        domain = replace(domain, retention=replace(domain.retention, **periods))
    return JobContext(services.sessions, domain)


async def report(citizen: Any, text: str = NOISE, phone: str = PHONE) -> str:
    """A report as a citizen files it, with their phone number typed in."""
    return await file_report(citizen, text, phone=phone)


async def handle_and_close(
    services: Services, mediator: Any, number: str, clock: FrozenClock
) -> None:
    """The mediator accepts, pauses with a reason, notes progress, and closes: every kind of
    free text a case collects from its handler."""
    case = await case_of(services, number)
    async with services.sessions() as session:
        offer_id = await session.scalar(
            select(CaseOffer.id).where(CaseOffer.case_id == case.id, CaseOffer.state == "open")
        )
    await mediator.presses(f"a:{offer_id}")
    assert mediator.said()[0] == "handling.accepted", mediator.texts()
    await mediator.says(f"/pause {number} 当事人王五外出，回来后打{OTHER_PHONE}联系")
    clock.advance(timedelta(hours=2))
    await mediator.says(f"/resume {number}")
    await close_as_mediated(
        mediator, case.id, f"双方约定施工时间为早八点至晚六点，王五电话{OTHER_PHONE}"
    )
    assert mediator.said()[0] == "handling.closed", mediator.texts()


async def everything_about(services: Services, case_id: int) -> str:
    """The case, its events and its notices, as one text to search for personal data."""
    async with services.sessions() as session:
        case = await session.get_one(Case, case_id)
        events = (
            await session.scalars(select(CaseEvent.data).where(CaseEvent.case_id == case_id))
        ).all()
        replies = (
            await session.scalars(
                select(OutboxMessage.reply).where(OutboxMessage.case_id == case_id)
            )
        ).all()
        reasons = (
            await session.scalars(select(CaseOffer.reason).where(CaseOffer.case_id == case_id))
        ).all()
    row = {c.key: str(getattr(case, c.key)) for c in Case.__mapper__.column_attrs}
    return json.dumps([row, list(events), list(replies), list(reasons)], ensure_ascii=False)


async def figures_of(services: Services, day: date) -> tuple[stats.Report, stats.Report]:
    async with services.sessions() as session:
        return (
            await stats.report(session, EVERYWHERE, ZONE, day, "day"),
            await stats.report(session, EVERYWHERE, ZONE, day, "month"),
        )


def pingan(*args: str, input: str | None = None) -> Result:
    result = CliRunner().invoke(main, list(args), input=input)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert "Traceback" not in result.output
    return result


@pytest.fixture
def cli_database(services: Services, monkeypatch: pytest.MonkeyPatch) -> None:
    """`pingan` commands run against the test's database."""
    url = services.sessions.engine.url.render_as_string(hide_password=False)
    monkeypatch.setenv("PINGAN_DATABASE_URL", url)


async def cli(*args: str, input: str | None = None) -> Result:
    return await asyncio.to_thread(pingan, *args, input=input)


# -- dialogs ---------------------------------------------------------------------------------


# The same scenarios at night (quiet hours: notices wait) and in the afternoon, local time.
AT_HOURS = pytest.mark.parametrize("hour", [3, 15], ids=["03h", "15h"])


@AT_HOURS
async def test_an_abandoned_dialog_is_deleted_after_30_days(
    services: Services, person, clock: FrozenClock, hour: int
) -> None:
    clock.set(datetime(2026, 11, 24, hour, tzinfo=ZONE))
    early, late = person("early"), person("late")
    for citizen in (early, late):
        if citizen is late:
            clock.advance(timedelta(days=2))
        await answer_up_to_contact(citizen, NOISE)
        await citizen.says(PHONE)
        assert citizen.said()[-1] == "report.summary"  # walked away before 提交

    async def dialogs() -> dict[int, str]:
        async with services.sessions() as session:
            rows = (await session.scalars(select(DialogState))).all()
            return {row.person_id: json.dumps(row.data, ensure_ascii=False) for row in rows}

    held = await dialogs()
    assert PHONE in held[early.id] and PHONE in held[late.id]
    # 31 days after `early` stopped, 29 after `late` did.
    clock.advance(timedelta(days=29))
    result = await run_job("retention", ctx(services))
    assert result.startswith("1 dialogs deleted"), result
    assert set(await dialogs()) == {late.id}
    again = await run_job("retention", ctx(services))
    assert again.startswith("0 dialogs deleted"), again
    clock.advance(timedelta(days=2))
    assert (await run_job("retention", ctx(services))).startswith("1 dialogs deleted")
    assert await dialogs() == {}
    # Coming back, `early` starts afresh: no half-finished report is remembered.
    await early.says("你好")
    assert "dialog.expired" not in early.said()


# -- closed cases ----------------------------------------------------------------------------


@AT_HOURS
async def test_a_closed_case_is_redacted_after_3_years_with_the_same_statistics(
    services: Services, person, clock: FrozenClock, hour: int
) -> None:
    clock.set(datetime(2026, 11, 24, hour, tzinfo=ZONE))
    mediator = await make_staff(services, "mediator-a", "mediator", VILLAGE_MEDIATION)
    villager = person("villager")
    day = clock.now().astimezone(ZONE).date()
    closed = await report(villager)
    await handle_and_close(services, mediator, closed, clock)
    still_open = await report(person("worker"), WAGES, OTHER_PHONE)
    # 回访 three days later: basically satisfied, with a comment naming people.
    clock.advance(timedelta(days=3, minutes=1))
    await run_job("followup", ctx(services))
    closed_case, open_case = await case_of(services, closed), await case_of(services, still_open)
    await villager.presses(f"f:{closed_case.id}:b")
    await villager.says("调解员很耐心，王五家现在早上七点以后才开工")
    assert villager.said()[0] == "followup.thanks", villager.texts()
    closed_case = await case_of(services, closed)
    assert closed_case.status == "closed"
    closed_at = clock.now()  # the case's last event: archived after the answer
    before = await figures_of(services, day)
    assert before[0].now.new_total == 2 and before[0].now.resolved == 1
    assert before[0].now.avg_handling_hours == 0.0  # the two paused hours do not count
    assert before[1].now.satisfaction == 1.0 and before[1].now.followups_answered == 1
    held = await everything_about(services, closed_case.id)
    assert PHONE in held and OTHER_PHONE in held and "早上七点" in held and "早八点" in held
    open_before = await everything_about(services, open_case.id)

    # Long notices are kept 10 years here, so what goes from the notices below is the
    # case's own redaction, not the notice rule's.
    keep_notices = {"notices": RetentionPeriod(years=10)}
    clock.set(closed_at.replace(year=closed_at.year + 3) - timedelta(days=1))
    result = await run_job("retention", ctx(services, **keep_notices))
    assert "0 closed cases redacted" in result, result
    clock.set(closed_at.replace(year=closed_at.year + 3) + timedelta(days=1))
    result = await run_job("retention", ctx(services, **keep_notices))
    assert "1 closed cases redacted" in result, result
    again = await run_job("retention", ctx(services, **keep_notices))
    assert "0 closed cases redacted" in again, again

    after = await everything_about(services, closed_case.id)
    # The classifier's cues (its own vocabulary: 装修, 邻居) stay; the person's words go.
    for gone in (PHONE, OTHER_PHONE, "早上七点", "早八点", "王五"):
        assert gone not in after, gone
    redacted = await case_of(services, closed)
    assert redacted.phone is None and redacted.description == "" and redacted.redacted_at
    assert (redacted.category, redacted.risk, redacted.status, redacted.region_code) == (
        closed_case.category,
        closed_case.risk,
        closed_case.status,
        closed_case.region_code,
    )
    async with services.sessions() as session:
        kinds = await event_kinds(session, closed_case.id)
        notices = (
            await session.scalars(
                select(OutboxMessage).where(OutboxMessage.case_id == closed_case.id)
            )
        ).all()
    assert kinds[0] == "report" and "resolve" in kinds and "followup" in kinds
    assert kinds[-1] == "redact"
    assert notices and all(n.reply.get("redacted") for n in notices)
    # Every figure of that day and that month, and of the periods before them, is the same.
    assert await figures_of(services, day) == before
    # The open case, three years old, is never redacted.
    assert await everything_about(services, open_case.id) == open_before
    assert (await case_of(services, still_open)).redacted_at is None


async def test_sent_notices_lose_their_text_after_90_days(
    services: Services, person, clock: FrozenClock
) -> None:
    from tests.test_report_flow import Inbox, deliver_all

    await make_staff(services, "mediator-a", "mediator", VILLAGE_MEDIATION)
    number = await report(person("villager"))
    await deliver_all(services, Inbox())  # the offer, with the case card, is sent
    case = await case_of(services, number)
    clock.advance(timedelta(days=91))
    result = await run_job("retention", ctx(services))
    assert "notices redacted" in result and not result.split(", ")[2].startswith("0"), result
    again = await run_job("retention", ctx(services))
    assert ", 0 notices redacted" in again, again
    async with services.sessions() as session:
        rows = (await session.scalars(select(OutboxMessage))).all()
    sent = [r for r in rows if r.status == "sent"]
    assert sent and all(r.reply == {**r.reply, "params": {}, "redacted": True} for r in sent)
    assert all(PHONE not in json.dumps(r.reply) for r in sent)
    # Which notice went to whom, when and why stays, and the case itself is untouched.
    assert all(r.sent_ref and r.dedupe_key for r in sent)
    assert (await case_of(services, number)).phone == PHONE
    assert case.redacted_at is None


async def test_an_inactive_citizen_is_forgotten_but_not_one_with_an_open_case(
    services: Services, person, clock: FrozenClock
) -> None:
    idle, waiting = person("idle"), person("waiting")
    await idle.says("你好")
    await report(waiting)  # no mediator bound: the case stays open with the centre
    idle_id = idle.id
    clock.advance(timedelta(days=3 * 366))
    result = await run_job("retention", ctx(services))
    assert result.endswith("1 inactive citizens forgotten"), result
    async with services.sessions() as session:
        refs = set((await session.scalars(select(Identity.user_ref))).all())
        log = (await session.scalars(select(PrivacyRecord))).all()
    assert "idle" not in refs and "waiting" in refs
    assert [(r.action, r.person_id) for r in log] == [("forget", idle_id)]
    await idle.says("你好")
    assert idle.id != idle_id  # a stranger now


# -- export and erasure ----------------------------------------------------------------------


async def test_export_has_both_cases_of_a_citizen(
    services: Services, person, cli_database: None, tmp_path: Path
) -> None:
    citizen = person("villager")
    first = await report(citizen)
    second = await report(citizen, WAGES)
    result = await cli("person", "export", "console:villager")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["person"]["id"] == citizen.id
    assert [i["user_ref"] for i in data["identities"]] == ["villager"]
    reported = {c["number"]: c for c in data["cases_reported"]}
    assert set(reported) == {first, second}
    assert reported[first]["description"] == NOISE and reported[second]["description"] == WAGES
    assert {c["phone"] for c in reported.values()} == {PHONE}
    assert reported[first]["events"][0]["kind"] == "report"
    # The same, by person id and by case number, and to a file only its owner can read.
    by_id = json.loads((await cli("person", "export", str(citizen.id))).stdout)
    assert by_id["cases_reported"] == data["cases_reported"]
    out = tmp_path / "export.json"
    assert (await cli("person", "export", second, "--out", str(out))).exit_code == 0
    assert json.loads(out.read_text(encoding="utf-8"))["person"]["id"] == citizen.id
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    async with services.sessions() as session:
        exports = await session.scalar(select(func.count()).where(PrivacyRecord.action == "export"))
    assert exports == 3


@pytest.mark.parametrize("ref", ["console:nobody", "999999", "2026-999999"])
async def test_export_of_an_unknown_person_is_a_polite_error(
    services: Services, cli_database: None, ref: str
) -> None:
    result = await cli("person", "export", ref)
    assert result.exit_code == 1
    assert result.stderr == f"error: nobody is known as {ref}\n"
    garbled = await cli("person", "erase", "not a ref", "--yes")
    assert garbled.exit_code == 1 and "is not a person id" in garbled.stderr


async def test_erase_waits_for_the_open_case_then_leaves_nothing_personal(
    services: Services, person, cli_database: None, clock: FrozenClock
) -> None:
    mediator = await make_staff(services, "mediator-a", "mediator", VILLAGE_MEDIATION)
    citizen = person("villager")
    number = await report(citizen)
    person_id = citizen.id
    day = clock.now().astimezone(ZONE).date()

    refused = await cli("person", "erase", "console:villager", "--yes")
    assert refused.exit_code == 1
    assert f"reported case(s) still open: {number}" in refused.stderr
    holder = await cli("person", "erase", "console:mediator-a", "--yes")
    assert holder.exit_code == 1 and f"open case(s): {number}" in holder.stderr  # offered
    asked = await cli("person", "erase", "console:villager", input="n\n")
    assert asked.exit_code == 1
    assert (await case_of(services, number)).phone == PHONE  # nothing happened

    await handle_and_close(services, mediator, number, clock)
    before = await figures_of(services, day)
    # The mediator's own export names the case but does not carry the reporter's data.
    theirs = await cli("person", "export", "console:mediator-a")
    assert number in theirs.stdout and json.loads(theirs.stdout)["notices"]
    for other in (PHONE, "139****5678", "早上七点"):
        assert other not in theirs.stdout, other
    erased = await cli("person", "erase", number, "--yes")  # the case's reporter
    assert erased.exit_code == 0, erased.output
    assert f"person {person_id} erased: 1 chat identities deleted, 1 cases redacted" in (
        erased.stdout
    )

    exported = await cli("person", "export", str(person_id))
    assert exported.exit_code == 0, exported.output
    text = exported.stdout
    for gone in (PHONE, OTHER_PHONE, "早上七点", "早八点", "王五", "villager"):
        assert gone not in text, gone
    data = json.loads(text)
    assert data["identities"] == [] and data["dialog"] is None
    assert data["person"]["display_name"] == ""
    assert [c["number"] for c in data["cases_reported"]] == [number]
    assert data["cases_reported"][0]["redacted_at"]
    assert [r["action"] for r in data["privacy_log"]] == ["erase"]
    assert PHONE not in json.dumps(data["privacy_log"])
    assert (await cli("person", "export", "console:villager")).exit_code == 1
    assert await figures_of(services, day) == before

    # The same chat is a stranger now: a new person, with no cases.
    await citizen.says("/mycases")
    assert citizen.id != person_id
    async with services.sessions() as session:
        assert await session.get(Person, citizen.id) is not None
        mine = await session.scalar(select(func.count()).where(Case.reporter_id == citizen.id))
    assert mine == 0
    # Erasing again finds nothing left.
    again = await cli("person", "erase", str(person_id), "--yes")
    assert "0 chat identities deleted, 0 cases redacted" in again.stdout


async def test_jobs_run_retention_prints_what_it_did(
    services: Services, person, cli_database: None
) -> None:
    citizen = person("villager")
    await citizen.says(f"/start g_{GRID}")
    await citizen.says(NOISE)
    ran = await cli("jobs", "run", "retention", "--at", "2027-01-01T03:30")
    assert ran.exit_code == 0, ran.output
    assert "retention at 2027-01-01 03:30:00" in ran.output
    assert "1 dialogs deleted, 0 closed cases redacted, 0 notices redacted" in ran.output
    listed = await cli("jobs", "list")
    assert "retention" in listed.output and "hour=3, minute=30" in listed.output


def test_the_policy_defaults() -> None:
    policy = RetentionPolicy.load()
    now = datetime(2026, 11, 24, 1, 30, tzinfo=UTC)
    assert policy.dialogs.before(now) == now - timedelta(days=30)
    assert policy.closed_cases.before(now) == datetime(2023, 11, 24, 1, 30, tzinfo=UTC)
    assert policy.notices.before(now) == now - timedelta(days=90)


async def test_a_malformed_policy_file_is_refused_with_the_field_path(
    services: Services, cli_database: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from dispatch import retention

    broken = tmp_path / "retention.yaml"
    broken.write_text(
        retention.DEFAULT_RETENTION_PATH.read_text(encoding="utf-8").replace(
            "closed_cases: 3y", "closed_cases: 3 years"
        ),
        encoding="utf-8",
    )
    monkeypatch.setattr(retention, "DEFAULT_RETENTION_PATH", broken)
    retention.default_retention.cache_clear()
    try:
        ran = await cli("jobs", "run", "retention")
    finally:
        monkeypatch.undo()
        retention.default_retention.cache_clear()
    assert ran.exit_code == 1
    assert ran.stderr == (
        f"error: {broken}: closed_cases: '3 years' is not a period like 30d, 3y or 1y180d\n"
    )


async def test_a_run_that_dies_mid_case_leaves_it_whole_and_the_next_run_finishes(
    services: Services, person, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dispatch import workflow

    mediator = await make_staff(services, "mediator-a", "mediator", VILLAGE_MEDIATION)
    number = await report(person("villager"))
    await handle_and_close(services, mediator, number, clock)
    case = await case_of(services, number)
    held = await everything_about(services, case.id)
    clock.advance(timedelta(days=4 * 365))

    def dies(*args: object, **kwargs: object) -> None:
        raise RuntimeError("killed between two steps")

    # The process dies after the case row was cleared, before its `redact` event is written.
    monkeypatch.setattr(workflow, "record", dies)
    with pytest.raises(RuntimeError):
        await run_job("retention", ctx(services))
    monkeypatch.undo()
    assert await everything_about(services, case.id) == held  # all or nothing
    result = await run_job("retention", ctx(services))
    assert "1 closed cases redacted" in result, result
    assert PHONE not in await everything_about(services, case.id)
