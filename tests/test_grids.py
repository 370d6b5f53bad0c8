"""Graded grids (网格分级分类) driven through time: a grid worker records a patrol in chat and
reports what they found with the grid filled in; the half-year grading proposes grades from
the model and the county's dispatcher confirms one in chat (the history kept); a key grid
short of patrols reminds its worker, then the township's dispatcher."""

from __future__ import annotations

from datetime import UTC, date, timedelta

from sqlalchemy import select

from dialogs.base import Services
from dispatch.clock import FrozenClock
from dispatch.grids import GridModel, set_key_places
from dispatch.jobs import run_job
from storage.models import (
    DialogState,
    GridGradeChange,
    GridPatrol,
    GridState,
    OutboxMessage,
    PointsEntry,
)
from tests.conftest import GRID, TOWNSHIP_CENTRE, VILLAGE_CENTRE, ZONE, file_report, make_staff
from tests.test_keypersons import (
    at_local,
    ctx,
    enrol_directly,
    keys,
    labels,
    notices,
    office,
    rendered,
)

COUNTY_CENTRE = "U532801-ZZ"


async def test_the_shipped_model_loads_and_a_bad_one_names_the_field() -> None:
    model = GridModel.load()
    assert model.quota == {"key": 3, "concern": 1, "normal": 0}
    assert model.grade_for(20) == "key" and model.grade_for(8) == "concern"
    bad = (
        "window_months: 6\nweights: {disputes_reported: x}\n"
        "thresholds: {key: 5, concern: 8}\npatrols_per_month: {key: 3, concern: 1, normal: 0}\n"
        "quota_ladder: {remind_day: 20, dispatcher_day: 1}\n"
    )
    try:
        GridModel.parse(bad)
    except ValueError as exc:
        assert "weights.disputes_reported: expected a number" in str(exc)
        assert "weights.overdue: required key missing" in str(exc)
    else:
        raise AssertionError("a bad model loaded")


async def test_a_patrol_in_chat_and_a_dispute_found_on_it(services: Services) -> None:
    gw = await make_staff(services, "gw", "grid_worker", VILLAGE_CENTRE, GRID)
    await gw.says("巡查")
    assert gw.said()[-1] == "grid.ask_kind"
    await gw.taps("整治")
    await gw.says("清理巷道堆物，劝离占道经营")
    await gw.taps("无异常")
    await gw.sends("photo", media=("p1",))
    await gw.taps("完成")
    assert gw.said()[0] == "grid.patrol_saved", gw.texts()
    assert "本网格为常态网格，本月已巡查/整治 1 次" in gw.text()
    async with services.sessions() as session:
        patrol = await session.scalar(select(GridPatrol))
        assert patrol is not None
        assert (patrol.region_code, patrol.kind, patrol.found) == (GRID, "rectify", "无异常")
    await gw.taps("上报巡查发现的纠纷")
    assert gw.said()[-1] == "report.ask_describe"
    async with services.sessions() as session:
        state = await session.get_one(DialogState, gw.id)
        assert state.dialog == "staff_report" and state.data["region_code"] == GRID
    # Staff without a grid are told so.
    desk = await make_staff(services, "desk", "dispatcher", TOWNSHIP_CENTRE)
    await desk.says("/patrol")
    assert desk.said()[0] == "grid.no_grid"


async def test_grading_proposes_and_the_county_dispatcher_confirms(
    services: Services, person
) -> None:
    staff = await office(services)
    county_desk = await make_staff(services, "cd", "dispatcher", COUNTY_CENTRE)
    for text in ("隔壁装修天天吵，晚上十点还在砸墙", "邻居家的狗天天叫", "楼上漏水不修"):
        await file_report(person("c"), text)
    await enrol_directly(services, staff, tier=1)
    async with services.sessions() as session, session.begin():
        await set_key_places(session, GRID, 3)
    # 3 reported (×1) + 3 open (×2) + a tier-1 key person (×6) + 3 key places (×2) = 21.
    result = await run_job("grading", ctx(services))
    assert "proposed 1" in result
    lists = [r for r in await notices(services, county_desk.id) if r.purpose == "grid"]
    assert keys(lists) == ["grid.proposals"]
    assert "曼听社区第1网格：常态网格 → 重点网格（21.0分）" in rendered(lists[0])
    # The township's dispatcher did not get it and may not decide.
    assert "grid.proposals" not in keys(await notices(services, staff.desk.id))
    confirm = next(
        b["p"]
        for row in lists[0].reply["buttons"]
        for b in row
        if b["t"] == "grid.grade_button_proposed"
    )
    await staff.desk.presses(confirm)
    assert staff.desk.said()[0] == "grid.not_yours"
    # /grids shows the dispatcher the list again, with the buttons.
    await county_desk.says("/grids")
    assert "（建议调为重点）" in county_desk.text()
    assert "✅ 曼听社区第1网格：重点网格" in labels(county_desk)
    await county_desk.taps("✅ 曼听社区第1网格：重点网格")
    assert county_desk.said()[0] == "grid.graded" and "定为重点网格" in county_desk.text()
    await county_desk.presses(confirm)
    assert county_desk.said()[0] == "grid.no_proposal"
    async with services.sessions() as session:
        state = await session.get_one(GridState, GRID)
        assert state.grade == "key" and state.proposed_at is None
        history = list(
            (
                await session.scalars(
                    select(GridGradeChange).where(GridGradeChange.region_code == GRID)
                )
            ).all()
        )
    assert [(h.previous, h.grade, h.decided_by, h.score) for h in history] == [
        ("normal", "key", county_desk.id, 21.0)
    ]
    assert history[0].indicators["key_persons_tier1"] == 1


async def test_a_key_grid_short_of_patrols_reminds_the_worker_then_the_township(
    services: Services, clock: FrozenClock
) -> None:
    gw = await make_staff(services, "gw", "grid_worker", VILLAGE_CENTRE, GRID)
    desk = await make_staff(services, "desk", "dispatcher", TOWNSHIP_CENTRE)
    async with services.sessions() as session, session.begin():
        session.add(
            GridState(
                region_code=GRID,
                grade="key",
                key_places=0,
                proposal={},
                version=1,
                graded_at=clock.now(),  # in November: December is its first whole month
            )
        )
    seen: list[tuple[date, str, str]] = []
    day = date(2026, 12, 1)
    while day <= date(2027, 1, 2):
        clock.set(at_local(day, 9, 30))
        if day == date(2026, 12, 5):  # one patrol of the three a key grid needs
            await gw.says("巡查")
            await gw.taps("巡查")
            await gw.says("夜间巡逻")
            await gw.taps("无异常")
            await gw.taps("完成")
        for _ in range(2):  # a second run the same day adds nothing
            before = {who.user_ref: len(await notices(services, who.id)) for who in (gw, desk)}
            await run_job("quotas", ctx(services))
            for who in (gw, desk):
                for row in (await notices(services, who.id))[before[who.user_ref] :]:
                    seen.append((day, who.user_ref, row.reply["text_key"]))
        day += timedelta(days=1)
    assert seen == [
        (date(2026, 12, 20), "gw", "grid.quota_remind"),
        (date(2027, 1, 1), "desk", "grid.quota_dispatcher"),
    ]
    async with services.sessions() as session:
        last = await session.scalar(
            select(OutboxMessage)
            .where(OutboxMessage.person_id == desk.id)
            .order_by(OutboxMessage.id.desc())
        )
    assert last is not None and "2026-12 巡查/整治 1 次，未达每月 3 次" in rendered(last)
    # The month went into the points ledger of the village centre over the grid, in December.
    async with services.sessions() as session:
        entries = [
            (e.rule, e.points, e.unit_code, e.at.replace(tzinfo=UTC).astimezone(ZONE).month)
            for e in await session.scalars(select(PointsEntry))
        ]
    assert entries == [("patrol_quota_missed", -2, VILLAGE_CENTRE, 12)]


async def test_the_monthly_report_counts_grids_and_key_persons_without_names(
    services: Services, clock: FrozenClock
) -> None:
    staff = await office(services)
    await enrol_directly(services, staff, tier=1)  # 24 November: December is its first month
    async with services.sessions() as session, session.begin():
        session.add(
            GridState(
                region_code=GRID,
                grade="key",
                key_places=0,
                proposal={},
                version=1,
                graded_at=clock.now(),
            )
        )
    clock.set(at_local(date(2026, 12, 31), 18, 0))
    await staff.boss.says("/digest month")
    words = staff.boss.text()
    assert "网格：重点 1 个、关注 0 个，整治达标 0/1" in words, words
    assert "重点人员帮扶中 1 人（一类 1、二类 0、三类 0），走访达标 0/1" in words
    assert "王五" not in words and "王*" not in words


def test_grading_is_half_yearly_and_the_prevention_jobs_daily() -> None:
    from bot.scheduler import next_runs

    december = at_local(date(2026, 12, 1), 10, 0)
    upcoming = next_runs(ZONE, december)
    assert upcoming["grading"] == at_local(date(2027, 1, 1), 8, 0)
    assert next_runs(ZONE, at_local(date(2027, 1, 2)))["grading"] == at_local(
        date(2027, 7, 1), 8, 0
    )
    for name, minute in (("visits", 10), ("reassess", 20), ("quotas", 30)):
        assert upcoming[name] == at_local(date(2026, 12, 2), 9, minute), name


async def test_a_centre_enters_key_places_in_chat(services: Services) -> None:
    desk = await make_staff(services, "desk", "dispatcher", TOWNSHIP_CENTRE)
    far = await make_staff(services, "far", "dispatcher", "U532801101-ZZ")
    gw = await make_staff(services, "gw", "grid_worker", VILLAGE_CENTRE, GRID)
    await desk.says(f"/keyplaces {GRID} 4")
    assert desk.said()[0] == "grid.places_set" and "4 处" in desk.text()
    await far.says(f"/keyplaces {GRID} 9")  # not under 嘎洒镇
    assert far.said()[0] == "grid.places_not_yours"
    await desk.says("/keyplaces 四个")
    assert desk.said()[0] == "grid.places_usage"
    await gw.says(f"/keyplaces {GRID} 9")
    assert gw.said()[0] == "grid.places_centre_only"
    async with services.sessions() as session:
        assert (await session.get_one(GridState, GRID)).key_places == 4
