"""Leaders' reports and the red/black lists, as they arrive: over Telegram (a photo, then
the text), from the digest job at the leader's local time, once; and through the CLI."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from bot.cli import main
from dialogs.base import Services
from dispatch.clock import FrozenClock
from dispatch.jobs import JobContext, run_job
from storage.models import OutboxMessage, Person
from tests.conftest import TOWNSHIP_CENTRE, VILLAGE_MEDIATION, close_as_mediated, make_staff
from tests.telegram_harness import running_bot
from tests.test_sla import case_of, notices, report
from tests.test_telegram_e2e import bind_on_telegram

LEADER = 9100


def ctx(services: Services) -> JobContext:
    return JobContext(services.sessions, services.domain)


async def a_day_of_work(services: Services, person) -> list[str]:
    """Two reports in 允景洪街道 today, one accepted and resolved; one in 勐海 (elsewhere)."""
    mediator = await make_staff(services, "m", "mediator", VILLAGE_MEDIATION)
    first = await report(person("c1"))
    second = await report(person("c2"), "老板拖欠我们三个月工资一直不给，打电话也不接")
    case = await case_of(services, first)
    offer = [r for r in await notices(services, mediator.id) if r.case_id == case.id]
    await mediator.presses(f"a:{offer[-1].offer_id}")
    await close_as_mediated(mediator, case.id, "双方协商一致，约定施工时间，联系电话13912345678")
    return [first, second]


async def test_a_leader_asks_for_the_report_over_telegram(services: Services, person) -> None:
    await a_day_of_work(services, person)
    async with running_bot(services) as tg:
        await bind_on_telegram(services, tg, LEADER, "leader", TOWNSHIP_CENTRE)
        sent = await tg.says(LEADER, "/digest")
        assert sent[0].method == "sendPhoto"
        picture = sent[0].files[next(iter(sent[0].files))]
        assert picture.startswith(b"\x89PNG")
        text = sent[1].text
        assert "允景洪街道 每日工作情况（2026-11-24）" in text
        assert "新增 2 件" in text and "化解 1" in text
        assert "初次调解成功率 100.0%" in text
        assert "13912345678" not in text and "139****" not in text  # no phone in a report


async def test_the_digest_job_sends_once_at_the_leaders_time(
    services: Services, person, clock: FrozenClock
) -> None:
    await a_day_of_work(services, person)
    leader = await make_staff(services, "lead", "leader", TOWNSHIP_CENTRE)
    early = await make_staff(services, "early", "leader", "U532801-ZZ")
    async with services.sessions() as session, session.begin():
        row = await session.get(Person, early.id)
        assert row is not None
        row.digest_time = "17:00"
    clock.set(datetime(2026, 11, 24, 8, 30, tzinfo=UTC))  # 16:30 local: nobody yet
    assert (await run_job("digest", ctx(services))).startswith("0 ")
    clock.set(datetime(2026, 11, 24, 9, 5, tzinfo=UTC))  # 17:05: the county leader
    await run_job("digest", ctx(services))
    clock.set(datetime(2026, 11, 24, 10, 1, tzinfo=UTC))  # 18:01: the township leader too
    await run_job("digest", ctx(services))
    await run_job("digest", ctx(services))  # and again: nothing new
    clock.set(datetime(2026, 11, 24, 15, 0, tzinfo=UTC))  # 23:00
    await run_job("digest", ctx(services))
    async with services.sessions() as session:
        rows = (
            await session.scalars(select(OutboxMessage).where(OutboxMessage.purpose == "digest"))
        ).all()
    assert sorted((r.person_id, r.reply["text_key"]) for r in rows) == sorted(
        [(leader.id, "digest.day"), (early.id, "digest.day")]
    )
    county = next(r for r in rows if r.person_id == early.id)
    assert county.reply["params"]["region"] == "景洪市"
    assert county.reply["media"][0].startswith("png:")


async def test_monday_brings_last_weeks_report_and_the_first_last_months(
    services: Services, person, clock: FrozenClock
) -> None:
    await make_staff(services, "lead", "leader", TOWNSHIP_CENTRE)
    clock.set(datetime(2026, 11, 30, 10, 30, tzinfo=UTC))  # Monday 30 Nov, 18:30
    await run_job("digest", ctx(services))
    clock.set(datetime(2026, 12, 1, 10, 30, tzinfo=UTC))  # Tuesday 1 Dec, 18:30
    await run_job("digest", ctx(services))
    rows = [r for r in await notices(services) if r.purpose == "digest"]
    assert [(r.reply["text_key"], r.reply["params"]["period"]) for r in rows] == [
        ("digest.day", "2026-11-30"),
        ("digest.week", "2026-11-23 ~ 2026-11-29"),
        ("digest.day", "2026-12-01"),
        ("digest.month", "2026-11-01 ~ 2026-11-30"),
    ]


async def test_rankings_on_the_first_reach_the_leaders_and_the_units_named(
    services: Services, person, clock: FrozenClock
) -> None:
    await a_day_of_work(services, person)  # 曼听社区: +2 accepted, +5 on time, +3 first time
    leader = await make_staff(services, "lead", "leader", TOWNSHIP_CENTRE)
    clock.set(datetime(2026, 12, 1, 1, 0, tzinfo=UTC))  # 1 December 09:00 local
    result = await run_job("rankings", ctx(services))
    assert result.startswith("2026-11")
    rows = [r for r in await notices(services, leader.id) if r.purpose == "ranking"]
    township = next(r for r in rows if r.reply["params"]["parent"] == "允景洪街道")
    red = township.reply["params"]["red"]
    assert red[0]["unit"] == "曼听社区综治中心" and red[0]["points"] == 10
    # the mediator's unit is named, so its people get the list too
    assert await run_job("rankings", ctx(services)) == "2026-11: 0 reports queued"


async def test_points_and_ranking_on_demand(services: Services, person) -> None:
    await a_day_of_work(services, person)
    mediator = await make_staff(services, "m2", "mediator", VILLAGE_MEDIATION)
    first = person("m")  # the mediator who did the work
    await first.says("/points")
    assert "+10" in first.text()
    await mediator.says("/ranking")
    assert "红榜" in mediator.text() and "曼听社区综治中心：10分" in mediator.text()
    citizen = person("c1")
    await citizen.says("/digest")
    assert citizen.said()[0] == "digest.leaders_only"


@pytest.mark.parametrize(
    ("moment", "shown"),
    [
        ("2026-12-02T19:00", "2026-12-02 19:00:00"),
        ("2026-12-02T11:00+00:00", "2026-12-02 19:00:00"),
    ],
)
async def test_jobs_list_and_a_job_replayed_at_a_given_time(
    services: Services,
    person,
    monkeypatch: pytest.MonkeyPatch,
    moment: str,
    shown: str,
) -> None:
    await make_staff(services, "lead", "leader", TOWNSHIP_CENTRE)
    url = services.sessions.engine.url.render_as_string(hide_password=False)
    monkeypatch.setenv("PINGAN_DATABASE_URL", url)
    runner = CliRunner()
    listed = await asyncio.to_thread(runner.invoke, main, ["jobs", "list"])
    assert listed.exit_code == 0, listed.output
    for name in ("sweep", "followup", "digest", "rankings"):
        assert name in listed.output
    assert "next: 2026-12-01 09:00:00" in listed.output or "day=1, hour=9" in listed.output
    ran = await asyncio.to_thread(runner.invoke, main, ["jobs", "run", "digest", "--at", moment])
    assert ran.exit_code == 0, ran.output
    assert f"digest at {shown}" in ran.output and "1 reports queued" in ran.output
    again = await asyncio.to_thread(runner.invoke, main, ["jobs", "run", "digest", "--at", moment])
    assert "0 reports queued" in again.output  # replayed: nothing twice
    listed = await asyncio.to_thread(runner.invoke, main, ["jobs", "list"])
    # When it really ran (now), and the time it was replayed as.
    assert "(as of 2026-12-02 19:00 +08:00) — 0 reports queued" in listed.output
    assert "0 reports queued (by pingan jobs run)" in listed.output  # which process ran it
    bogus = await asyncio.to_thread(runner.invoke, main, ["jobs", "run", "bogus"])
    assert bogus.exit_code == 2 and "unknown job" in bogus.output
    garbled = await asyncio.to_thread(
        runner.invoke, main, ["jobs", "run", "sweep", "--at", "tomorrow"]
    )
    assert garbled.exit_code == 2 and "not an ISO time" in garbled.output
