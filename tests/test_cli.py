"""The `pingan` command line, driven as an administrator would, against a real database
(a SQLite file; PostgreSQL too when PINGAN_TEST_DATABASE_URL is set)."""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import func, select, update

from bot.app import build_domain
from bot.cli import main
from bot.settings import Settings
from bot.wallclock import SystemClock
from dialogs.base import Services
from dispatch.classify import Classifier
from dispatch.clock import FrozenClock
from dispatch.people import _ALPHABET
from dispatch.vocab import RISKS
from dispatch.workflow import STATES
from storage.database import create_engine, session_factory
from storage.models import Case, CaseOffer, CaseRead, Identity, OutboxMessage, Region, Unit
from tests.conftest import (
    BACKENDS,
    GRID,
    VILLAGE_MEDIATION,
    ZONE,
    Person,
    file_report,
    make_staff,
)
from tests.schema import empty_public_schema

SETTINGS_VARIABLES = tuple(f"PINGAN_{name.upper()}" for name in Settings.model_fields)
TOKEN = "123456789:AAHfake-token_for_tests_0123456789"
# A citizen's noise complaint, as the classifier files it under neighbours.
NOISE = "隔壁邻居装修天天从早上七点吵到晚上十点，说了好几次也不听"
CODE = re.compile(rf"^[{_ALPHABET}]{{10}}$")
SUMMARY = re.compile(
    r"(\d+) regions \((\d+) new, (\d+) changed\), (\d+) units \((\d+) new, (\d+) changed\)"
)

BROKEN_ORG = """\
regions:
  - code: "990000"
    name: 测试州
    level: prefecture
    children:
      - code: "990100"
        name: 测试县
        level: township
units:
  - code: U990000-ZZ
    name: 测试州综治中心
    kind: center
    region: "990099"
    categories: [all]
"""
FIXED_ORG = BROKEN_ORG.replace("level: township", "level: county").replace(
    'region: "990099"', 'region: "990000"'
)


# fixtures and helpers ------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """No PINGAN_ variable from the shell, no .env from the checkout, logging left as found."""
    for name in SETTINGS_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    root = logging.getLogger()
    names = ("alembic", "aiogram.event")
    saved = (root.level, list(root.handlers), [logging.getLogger(n).level for n in names])
    yield tmp_path
    root.setLevel(saved[0])
    root.handlers[:] = saved[1]
    for name, level in zip(names, saved[2], strict=True):
        logging.getLogger(name).setLevel(level)


async def _empty_schema(url: str) -> None:
    engine = create_engine(url)
    try:
        await empty_public_schema(engine)
    finally:
        await engine.dispose()


@pytest.fixture(params=BACKENDS)
def db(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    """PINGAN_DATABASE_URL for an empty, uninitialised database."""
    if request.param == "postgresql":
        from tests.conftest import database_url

        url = database_url("postgresql", tmp_path)
        asyncio.run(_empty_schema(url))
    else:
        url = f"sqlite+aiosqlite:///{tmp_path}/cli.db"
    monkeypatch.setenv("PINGAN_DATABASE_URL", url)
    return url


def pingan(*args: str, input: str | None = None, env: dict[str, str] | None = None) -> Result:
    result = CliRunner().invoke(main, list(args), input=input, env=env)
    # Whatever happened, the user sees a message, never a Python traceback.
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert "Traceback" not in result.output
    return result


def ok(*args: str, input: str | None = None) -> Result:
    result = pingan(*args, input=input)
    assert result.exit_code == 0, result.output
    return result


def _in_db(url: str, work: Any) -> Any:
    async def go() -> Any:
        engine = create_engine(url)
        try:
            return await work(session_factory(engine))
        finally:
            await engine.dispose()

    return asyncio.run(go())


def count(url: str, model: type) -> int:
    async def work(sessions: Any) -> int:
        async with sessions() as session:
            return int(await session.scalar(select(func.count()).select_from(model)) or 0)

    return _in_db(url, work)


def keys(person: Person) -> list[str]:
    """The message keys of the person's last answer."""
    assert person.last is not None
    return [reply.text_key for reply in person.last.replies]


def services_for(sessions: Any, classifier: Classifier) -> Services:
    clock = FrozenClock(datetime(2026, 11, 24, 1, 30, tzinfo=UTC))
    return Services(sessions=sessions, domain=build_domain(clock, ZONE), classifier=classifier)


# help, classify, diagram: no database ---------------------------------------------------------


def test_help_lists_every_command() -> None:
    result = ok("--help")
    listed = re.findall(r"^  (\w+)\s", result.stdout, flags=re.MULTILINE)
    for command in ("init", "org", "invite", "run", "chat", "classify", "cases", "diagram"):
        assert command in listed, result.stdout


def test_classify_json_is_one_object() -> None:
    words = "老板拖欠工资三个月了"
    lines = ok("classify", "--json", words).stdout.splitlines()
    assert len(lines) == 1
    result = json.loads(lines[0])
    assert set(result) == {"category", "kind", "confidence", "risk", "cues", "candidates"}
    assert result["category"] == "labor"
    assert result["kind"] == "dispute"
    assert 0 < result["confidence"] <= 1
    assert result["risk"] in RISKS
    assert result["cues"] and all(cue in words for cue in result["cues"])
    # The best guess leads the candidates, with its confidence as its score.
    assert result["candidates"][0] == {"category": "labor", "score": result["confidence"]}


def test_classify_json_lists_up_to_three_candidates_best_first() -> None:
    # Money owed on a building site: wages (labour) or project money (contract).
    words = "工地上好几个人的钱一直没结"
    result = json.loads(ok("classify", "--json", words).stdout)
    candidates = result["candidates"]
    assert 2 <= len(candidates) <= 3
    assert {c["category"] for c in candidates[:2]} == {"labor", "contract"}
    assert result["category"] == candidates[0]["category"]
    scores = [c["score"] for c in candidates]
    assert scores == sorted(scores, reverse=True) and 0 < sum(scores) <= 1.001


def test_classify_says_when_a_text_is_not_a_dispute() -> None:
    result = json.loads(ok("classify", "--json", "我们这条街的路灯坏了一个多月了").stdout)
    assert (result["kind"], result["category"]) == ("service", "other")
    fire = json.loads(ok("classify", "--json", "快来人啊，楼下着火了").stdout)
    assert (fire["kind"], fire["category"], fire["risk"]) == ("emergency", "other", "major")
    shown = ok("classify", "快来人啊，楼下着火了").stdout
    assert "kind: emergency" in shown


def test_classify_plain_is_readable() -> None:
    shown = ok("classify", "老板拖欠工资三个月了").stdout
    assert "category: labor" in shown
    assert "kind: dispute" in shown
    assert "candidates: labor " in shown
    assert "risk: " in shown


def test_classify_stdin_gives_one_json_line_per_line() -> None:
    stdin = "老板拖欠工资三个月了\n\n隔壁邻居装修天天吵到半夜\n宅基地边界纠纷，两家吵起来了\n"
    lines = ok("classify", "-", input=stdin).stdout.splitlines()
    assert len(lines) == 3  # the blank line is skipped
    assert [json.loads(line)["category"] for line in lines] == ["labor", "neighbor", "housing"]


def test_diagram_is_mermaid_with_every_state() -> None:
    shown = ok("diagram").stdout
    assert shown.splitlines()[0].startswith("stateDiagram")
    assert "reported --> assigned" in shown
    for state in STATES:
        assert state in shown


def test_wrong_role_is_a_usage_error() -> None:
    result = pingan("invite", "create", "--role", "boss", "--unit", VILLAGE_MEDIATION)
    assert result.exit_code == 2
    assert "Invalid value for '--role'" in result.stderr
    assert "mediator" in result.stderr  # the choices are listed


def test_unknown_status_fails_politely() -> None:
    result = pingan("cases", "list", "--status", "bogus")
    assert result.exit_code == 2
    assert "bogus" in result.stderr
    assert "in_progress" in result.stderr  # the valid ones are listed
    assert result.stdout == ""


# init and the organisation ---------------------------------------------------------------------


def test_init_demo_twice_changes_nothing_the_second_time(db: str) -> None:
    first = ok("init", "--demo").stdout
    assert "latest schema" in first
    regions, regions_new, _, units, units_new, _ = map(int, SUMMARY.search(first).groups())  # type: ignore[union-attr]
    assert regions_new == regions > 0
    assert units_new == units > 0

    second = ok("init", "--demo").stdout
    again = SUMMARY.search(second)
    assert again is not None, second
    assert again.groups() == (str(regions), "0", "0", str(units), "0", "0")
    assert count(db, Region) == regions
    assert count(db, Unit) == units


def test_org_import_of_a_broken_file_imports_nothing(db: str, tmp_path: Path) -> None:
    ok("init", "--demo")
    regions, units = count(db, Region), count(db, Unit)
    broken = tmp_path / "org.yaml"
    broken.write_text(BROKEN_ORG, encoding="utf-8")

    result = pingan("org", "import", str(broken))
    assert result.exit_code != 0
    assert "nothing imported" in result.stderr
    assert "regions[0].children[0].level: township cannot be a child of a prefecture" in (
        result.stderr
    )
    assert "units[0].region: no region 990099" in result.stderr
    # The valid top region was not imported on its own either.
    assert (count(db, Region), count(db, Unit)) == (regions, units)

    # Fixed, it goes in; imported again, it changes nothing.
    broken.write_text(FIXED_ORG, encoding="utf-8")
    shown = ok("org", "import", str(broken)).stdout
    assert "org.yaml: 2 regions (2 new, 0 changed), 1 units (1 new, 0 changed)" in shown
    assert (count(db, Region), count(db, Unit)) == (regions + 2, units + 1)
    shown = ok("org", "import", str(broken)).stdout
    assert "2 regions (0 new, 0 changed), 1 units (0 new, 0 changed)" in shown


@pytest.mark.parametrize(
    ("make", "says", "code"),
    [
        (lambda path: None, "cannot read file", 1),
        (lambda path: path.write_bytes(b"\x7fELF\x02\x01\x01\x00\xff\xfe\x00\x00"), "not UTF-8", 1),
        (lambda path: path.mkdir(), "is a directory", 2),
    ],
    ids=["missing", "binary", "directory"],
)
def test_org_import_of_an_unusable_file_is_a_clear_error(
    db: str, tmp_path: Path, make: Any, says: str, code: int
) -> None:
    ok("init")
    path = tmp_path / "org.yaml"
    make(path)
    result = pingan("org", "import", str(path))
    assert result.exit_code == code
    assert says in result.stderr
    assert "org.yaml" in result.stderr
    assert count(db, Region) == 0


# invites --------------------------------------------------------------------------------------


def test_invite_code_is_the_last_line_and_binds(db: str, classifier: Classifier) -> None:
    ok("init", "--demo")
    shown = ok(
        "invite", "create", "--role", "mediator", "--unit", VILLAGE_MEDIATION, "--name", "岩温"
    ).stdout
    code = shown.splitlines()[-1]
    assert CODE.match(code), shown
    assert VILLAGE_MEDIATION in shown
    assert "mediator" in shown
    other = ok("invite", "create", "--role", "mediator", "--unit", VILLAGE_MEDIATION).stdout
    assert other.splitlines()[-1] != code

    async def bind(sessions: Any) -> tuple[list[str], list[str], str]:
        services = services_for(sessions, classifier)
        first = Person(services, "yanwen")
        await first.says(f"/bind {code}")
        second = Person(services, "someone-else")
        await second.says(f"/bind {code}")
        return keys(first), keys(second), first.text()

    first, second, said = _in_db(db, bind)
    assert first[0] == "bind.done"
    assert "曼听社区人民调解委员会" in said
    assert second[0] == "bind.used"  # one code, one person


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        (["--unit", "NOPE"], "NOPE"),
        (["--unit", VILLAGE_MEDIATION, "--region", "532801001002G01"], "532801001002G01"),
    ],
    ids=["unknown-unit", "grid-outside-unit"],
)
def test_invite_for_a_wrong_place_is_a_clear_error(db: str, extra: list[str], named: str) -> None:
    ok("init", "--demo")
    result = pingan("invite", "create", "--role", "grid_worker", *extra)
    assert result.exit_code == 1
    assert result.stderr.startswith("error: ")
    assert named in result.stderr
    assert result.stdout == ""  # no code to hand out


# cases ----------------------------------------------------------------------------------------


def test_cases_on_an_empty_database(db: str) -> None:
    ok("init")
    assert ok("cases", "list").stdout.strip() == "no cases"
    result = pingan("cases", "show", "2026-999999")
    assert result.exit_code == 1
    assert "no case 2026-999999" in result.stderr


def test_a_reported_case_shows_up(db: str, classifier: Classifier) -> None:
    ok("init", "--demo")

    async def report(sessions: Any) -> str:
        services = services_for(sessions, classifier)
        mediator = Person(services, "岩温")  # the demo's mediator (`pingan init --demo`)
        citizen = Person(services, "villager")
        number = await file_report(citizen, NOISE, phone="13912345678")
        async with sessions() as session:
            offer_id = await session.scalar(
                select(CaseOffer.id)
                .join(Case, Case.id == CaseOffer.case_id)
                .where(Case.number == number, CaseOffer.state == "open")
            )
        await mediator.sends("choice", choice=f"a:{offer_id}")
        assert keys(mediator)[0] == "handling.accepted", mediator.texts()
        return number

    number = _in_db(db, report)

    data = json.loads(ok("cases", "show", number, "--json").stdout)
    assert {"number", "status", "category", "risk", "region", "assignee", "events"} <= set(data)
    assert data["number"] == number
    assert data["status"] == "in_progress"
    assert data["category"] == "neighbor"
    assert data["region"] == GRID
    assert data["assignee"] == "岩温"
    kinds = [event["kind"] for event in data["events"]]
    assert kinds[0] == "report" and "accept" in kinds, kinds
    assert data["events"][0]["to"] == "reported"
    assert data["events"][-1]["to"] == "in_progress"

    shown = ok("cases", "show", number).stdout
    assert number in shown and "events:" in shown
    # One language: labels, not codes; one zone: local times with the offset.
    assert "邻里纠纷" in shown and "调解中" in shown and "neighbor" not in shown
    created = datetime.fromisoformat(data["created_at"]).astimezone(ZONE)
    assert f"{created:%Y-%m-%d %H:%M:%S} +08:00" in shown, shown
    assert "+00:00" not in shown

    # Masked unless revealed: the phone, and numbers in the free text.
    assert data["phone"] == "139****5678"
    assert "13912345678" not in shown and "139****5678" in shown
    assert count(db, CaseRead) == 0

    listed = ok("cases", "list").stdout.splitlines()
    assert len(listed) == 2
    assert listed[0].split("\t") == ["编号", "状态", "类型", "风险", "地点", "承办人"]
    line = listed[1].split("\t")
    assert line == [number, "调解中", "邻里纠纷", "一般", "曼听社区第1网格", "岩温"], line
    machine = json.loads(ok("cases", "list", "--json").stdout)
    assert [(c["number"], c["status"], c["category"]) for c in machine] == [
        (number, "in_progress", "neighbor")
    ]
    assert ok("cases", "list", "--status", "in_progress").stdout.splitlines()[1].startswith(number)
    assert ok("cases", "list", "--status", "resolved").stdout.strip() == "no cases"

    # A reveal names its reader, who must be staff allowed to read it, and is recorded.
    assert pingan("cases", "show", number, "--reveal").exit_code == 2
    mediator_id = str(_in_db(db, _person_id("岩温")))
    revealed = ok("cases", "show", number, "--reveal", "--as", mediator_id).stdout
    assert "13912345678" in revealed
    assert count(db, CaseRead) == 1
    citizen_id = str(_in_db(db, _person_id("villager")))
    refused = pingan("cases", "show", number, "--reveal", "--as", citizen_id)
    assert refused.exit_code == 2 and "13912345678" not in refused.output
    assert count(db, CaseRead) == 1


def _person_id(user_ref: str) -> Any:
    async def work(sessions: Any) -> int:
        async with sessions() as session:
            return int(
                await session.scalar(
                    select(Identity.person_id).where(Identity.user_ref == user_ref)
                )
                or 0
            )

    return work


# an uninitialised database ------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["org", "import", "org.yaml"],
        ["invite", "create", "--role", "mediator", "--unit", VILLAGE_MEDIATION],
        ["cases", "list"],
        ["cases", "show", "2026-000001"],
        ["chat"],
        ["run"],
    ],
    ids=lambda args: " ".join(args[:2]),
)
def test_commands_on_an_uninitialised_database_say_run_init(db: str, args: list[str]) -> None:
    # `run` gets a well-formed token: it must stop at the database, before calling Telegram.
    result = pingan(*args, input="", env={"PINGAN_TELEGRAM_TOKEN": TOKEN})
    assert result.exit_code == 1
    assert "pingan init" in result.stderr
    assert len(result.stderr.splitlines()) == 1, result.stderr


def test_an_unreachable_database_is_one_line(tmp_path: Path) -> None:
    # Port 1 on localhost: nothing listens there.
    url = "postgresql+asyncpg://pingan:secret@127.0.0.1:1/pingan"
    for args in (["init"], ["cases", "list"], ["run"]):
        result = pingan(*args, env={"PINGAN_DATABASE_URL": url, "PINGAN_TELEGRAM_TOKEN": TOKEN})
        assert result.exit_code == 1, args
        assert result.stderr.startswith("error: cannot reach the database"), result.stderr
        assert len(result.stderr.splitlines()) == 1
        assert "cannot listen" not in result.stderr


# doctor ------------------------------------------------------------------------------------------


def _report_a_case(url: str, classifier: Classifier) -> str:
    async def work(sessions: Any) -> str:
        services = services_for(sessions, classifier)
        # The demo's own mediator (岩温) takes the offer.
        citizen = Person(services, "villager")
        number = await file_report(citizen, NOISE)
        # As if the sender had delivered everything and the case's next step were ahead.
        ahead = SystemClock().now() + timedelta(days=1)
        async with sessions() as session, session.begin():
            await session.execute(update(OutboxMessage).values(status="sent"))
            await session.execute(update(Case).values(next_action_at=ahead))
        return number

    return str(_in_db(url, work))


def _findings(*args: str) -> tuple[int, dict[str, Any]]:
    result = pingan("doctor", "--json", *args)
    found = {f["check"]: f for f in map(json.loads, result.stdout.splitlines())}
    return result.exit_code, found


def test_a_healthy_office_passes(db: str, classifier: Classifier) -> None:
    ok("init", "--demo")
    _report_a_case(db, classifier)
    result = pingan("doctor")
    assert result.exit_code == 0, result.output
    assert "next step" in result.stdout


def test_each_broken_promise_is_named_with_its_ids(db: str, classifier: Classifier) -> None:
    ok("init", "--demo")
    number = _report_a_case(db, classifier)

    async def break_things(sessions: Any) -> int:
        async with sessions() as session, session.begin():
            # The offer is withdrawn and the clock stopped: nobody will ever act on the case.
            await session.execute(update(CaseOffer).values(state="withdrawn"))
            await session.execute(update(Case).values(next_action_at=None))
            notice = await session.scalar(select(OutboxMessage.id).limit(1))
            await session.execute(update(OutboxMessage).values(status="failed"))
            return int(notice or 0)

    failed = _in_db(db, break_things)
    code, found = _findings()
    assert code == 1
    assert found["case_without_next_step"]["ids"] == [number]
    assert found["notice_failed"]["ids"] == [str(failed)]

    plain = pingan("doctor")
    assert plain.exit_code == 1
    assert number in plain.stdout and "case_without_next_step: 1" in plain.stdout


def test_a_paused_case_has_a_next_step_of_its_own(db: str, classifier: Classifier) -> None:
    ok("init", "--demo")
    _report_a_case(db, classifier)

    async def pause(sessions: Any) -> None:
        async with sessions() as session, session.begin():
            await session.execute(update(CaseOffer).values(state="accepted"))
            await session.execute(
                update(Case).values(
                    next_action_at=None,
                    paused_at=SystemClock().now(),
                    pause_reason="waiting for a party",
                )
            )

    _in_db(db, pause)
    code, found = _findings()
    assert code == 0, found


def test_stuck_and_overdue_work_is_found(db: str, classifier: Classifier) -> None:
    ok("init", "--demo")
    _report_a_case(db, classifier)
    now = SystemClock().now()
    long_ago = now - timedelta(hours=3)

    async def stall(sessions: Any) -> None:
        async with sessions() as session, session.begin():
            # No sender drained the queue, and no sweep took the step that fell due.
            await session.execute(
                update(OutboxMessage).values(status="pending", not_before=None, created_at=long_ago)
            )
            await session.execute(update(Case).values(next_action_at=long_ago))

    _in_db(db, stall)
    code, found = _findings()
    assert code == 1
    assert set(found) >= {"notice_stuck", "sweep_behind"}

    async def die_mid_send(sessions: Any) -> None:
        async with sessions() as session, session.begin():
            # A sender claimed the notice and died: its lease ran out a minute ago.
            lapsed = now - timedelta(minutes=1)
            await session.execute(
                update(OutboxMessage).values(status="sending", lease_until=lapsed)
            )

    _in_db(db, die_mid_send)
    code, found = _findings()
    assert code == 1 and "lease_expired" in found


# organisation, times, errors -------------------------------------------------------------------


def test_org_list_and_show_find_the_codes(db: str, classifier: Classifier) -> None:
    ok("init", "--demo")
    listed = ok("org", "list").stdout.splitlines()
    assert listed[0].split("\t") == ["代码", "名称", "层级/类别", "上级"]
    rows = {line.split("\t")[0]: line.split("\t") for line in listed[1:]}
    assert rows[GRID] == [GRID, "曼听社区第1网格", "网格", "532801001001"]
    assert rows[VILLAGE_MEDIATION][2] == "调解委员会"
    centres = json.loads(ok("org", "list", "--level", "center", "--json").stdout)
    assert centres and all(c["kind"] == "center" for c in centres)
    assert {"code", "name", "kind", "region"} == set(centres[0])
    grids = json.loads(ok("org", "list", "--level", "grid", "--json").stdout)
    assert len(grids) == 42 and all(g["level"] == "grid" for g in grids)

    async def bind(sessions: Any) -> None:
        services = services_for(sessions, classifier)
        await make_staff(services, "m-1", "mediator", VILLAGE_MEDIATION)
        await make_staff(services, "m-2", "mediator", VILLAGE_MEDIATION)

    _in_db(db, bind)
    unit = ok("org", "show", VILLAGE_MEDIATION).stdout
    assert "曼听社区人民调解委员会" in unit and "曼听社区 (532801001001)" in unit
    assert "调解员 3" in unit, unit  # the demo's 岩温 and the two bound here
    assert "m-1" not in unit and "岩温" not in unit  # counted, never named
    village = ok("org", "show", "532801001001").stdout
    assert "曼听社区第1网格 (532801001001G01)" in village and VILLAGE_MEDIATION in village
    assert "允景洪街道 (532801001)" in village
    unknown = pingan("org", "show", "NOPE")
    assert unknown.exit_code == 1
    assert unknown.stderr.startswith("error: no region or unit 'NOPE'")


def test_invite_expiry_is_local_time_with_its_offset(db: str) -> None:
    ok("init", "--demo")
    before = SystemClock().now()
    shown = ok("invite", "create", "--role", "mediator", "--unit", VILLAGE_MEDIATION).stdout
    line = next(x for x in shown.splitlines() if x.startswith("expires: "))
    expires = datetime.strptime(line.removeprefix("expires: "), "%Y-%m-%d %H:%M %z")
    assert expires.utcoffset() == timedelta(hours=8)
    assert (
        timedelta(days=7) - timedelta(minutes=2) < expires - before < timedelta(days=7, minutes=1)
    )


def test_jobs_list_shows_when_a_replayed_job_really_ran(db: str) -> None:
    ok("init")
    ran = ok("jobs", "run", "housekeeping", "--at", "2020-01-05T03:00").stdout
    assert ran.startswith("housekeeping at 2020-01-05 03:00:00 +08:00:"), ran
    now = SystemClock().now().astimezone(ZONE)
    listed = ok("jobs", "list").stdout.splitlines()
    last = listed[listed.index(next(x for x in listed if x.startswith("housekeeping"))) + 3]
    assert "(as of 2020-01-05 03:00 +08:00)" in last, last
    really = datetime.strptime(last.split("last: ")[1][:26], "%Y-%m-%d %H:%M:%S %z")
    assert abs(really - now) < timedelta(minutes=1), last
    ok("jobs", "run", "housekeeping")  # a run of its own time says nothing about "as of"
    assert "as of" not in ok("jobs", "list").stdout


@pytest.mark.parametrize(
    "args", [["cases", "list", "--bogus"], ["nope"], ["org", "show"]], ids=" ".join
)
def test_click_errors_have_our_prefix(args: list[str]) -> None:
    result = pingan(*args)
    assert result.exit_code == 2
    assert "error: " in result.stderr and "Error:" not in result.stderr, result.stderr


# key persons ----------------------------------------------------------------------------------


def test_keypersons_list_is_masked_filtered_and_audited(db: str, classifier: Classifier) -> None:
    from storage.models import KeyPersonRead
    from tests.test_keypersons import enrol_directly, office

    ok("init", "--demo")

    async def enrol_two(sessions: Any) -> None:
        services = services_for(sessions, classifier)
        staff = await office(services)
        await enrol_directly(services, staff, tier=1, name="王五")
        await enrol_directly(services, staff, tier=3, name="赵六六")

    _in_db(db, enrol_two)
    shown = ok("keypersons", "list").stdout
    assert "K1\t王*\t帮扶一类\t曼听社区第1网格\t0/4" in shown, shown
    assert "K2\t赵**\t帮扶三类" in shown and "王五" not in shown and "赵六六" not in shown
    rows = json.loads(ok("keypersons", "list", "--tier", "3", "--json").stdout)
    assert [(r["ref"], r["name"], r["quota"]) for r in rows] == [("K2", "赵**", 1)]
    assert ok("keypersons", "list", "--region", "532801101").stdout.strip() == "no key persons"
    assert len(json.loads(ok("keypersons", "list", "--region", "532801001", "--json").stdout)) == 2
    # Every listing is a read: 2 + 1 + 2 records shown.
    assert count(db, KeyPersonRead) == 5
    assert pingan("keypersons", "list", "--tier", "4").exit_code == 2


def test_jobs_run_visits_and_reassess_as_of_a_given_time(db: str, classifier: Classifier) -> None:
    from tests.test_keypersons import enrol_directly, office

    ok("init", "--demo")

    async def enrol_one(sessions: Any) -> None:
        services = services_for(sessions, classifier)
        await enrol_directly(services, await office(services))

    _in_db(db, enrol_one)
    assert "nothing due" in ok("jobs", "run", "visits", "--at", "2026-12-19T09:10").stdout
    assert "remind 1" in ok("jobs", "run", "visits", "--at", "2026-12-20T09:10").stdout
    assert "nothing due" in ok("jobs", "run", "visits", "--at", "2026-12-21T09:10").stdout
    assert "asked 1" in ok("jobs", "run", "reassess", "--at", "2027-02-25T09:20").stdout
    assert "chased 1" in ok("jobs", "run", "reassess", "--at", "2027-03-04T09:20").stdout


def test_grids_list_and_key_places(db: str) -> None:
    ok("init", "--demo")
    assert ok("grids", "places", "532801001001G01", "3").stdout.strip().endswith("3 key places")
    shown = ok("grids", "list", "--region", "532801001001").stdout
    assert "532801001001G01\t曼听社区第1网格\t常态网格\t6\t0/0\tkey_places=3" in shown, shown
    assert len(shown.splitlines()) == 2
    assert ok("grids", "list", "--grade", "key").stdout.strip() == "no grids"
    assert "kept" in ok("jobs", "run", "grading", "--at", "2027-01-01T08:00").stdout
    rows = json.loads(ok("grids", "list", "--region", "532801001001G01", "--json").stdout)
    assert rows[0]["indicators"]["key_places"] == 3 and rows[0]["score"] == 6.0
    result = pingan("grids", "places", "NOPE", "1")
    assert result.exit_code == 1 and "no grid 'NOPE'" in result.stderr


# run: roles on SQLite ----------------------------------------------------------------------


def test_a_second_worker_on_one_sqlite_database_is_refused_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot.roles import WORKER_LOCK, FileLock, lock_for

    monkeypatch.setenv("PINGAN_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path}/one.db")
    ok("init")
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path}/one.db")
    holder = lock_for(engine, WORKER_LOCK)  # what a running `pingan run` holds
    assert isinstance(holder, FileLock)
    assert asyncio.run(holder.try_acquire())
    try:
        for role in ("all", "worker"):
            result = pingan("run", "--role", role, env={"PINGAN_TELEGRAM_TOKEN": TOKEN})
            assert result.exit_code == 1
            assert "already runs the worker" in result.stderr
            assert "SQLite serves one pingan process" in result.stderr
            assert len(result.stderr.splitlines()) == 1, result.stderr
    finally:
        asyncio.run(holder.release())
        asyncio.run(engine.dispose())
