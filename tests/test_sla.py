"""Deadlines that push back, driven by the injected clock: the ladder over a simulated week,
hand-over of unaccepted offers, pauses, quiet hours, two sweepers, a restart mid-ladder,
red-card supervision, major-risk alerts and follow-up visits."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from dialogs.base import Services
from dispatch.clock import FrozenClock
from dispatch.jobs import JobContext, run_job
from dispatch.policy import Policy
from handlers.sender import OutboxSender, RateLimiter
from locales import text as render
from storage.database import session_factory
from storage.models import OutboxMessage, PointsEntry
from tests.conftest import (
    TOWNSHIP_CENTRE,
    TOWNSHIP_MEDIATION,
    VILLAGE_CENTRE,
    VILLAGE_MEDIATION,
    ZONE,
    Person,
    case_of,
    close_as_mediated,
    event_kinds,
    file_report,
    make_staff,
)
from tests.test_report_flow import Inbox

TUESDAY_0930 = datetime(2026, 11, 24, 1, 30, tzinfo=UTC)


def ctx(services: Services) -> JobContext:
    return JobContext(services.sessions, services.domain)


async def report(
    citizen, text: str = "隔壁装修天天吵，晚上十点还在砸墙", people: str = "2人"
) -> str:
    return await file_report(citizen, text, people=people)


async def notices(services: Services, person_id: int | None = None) -> list[OutboxMessage]:
    async with services.sessions() as session:
        stmt = select(OutboxMessage).order_by(OutboxMessage.id)
        if person_id is not None:
            stmt = stmt.where(OutboxMessage.person_id == person_id)
        return list((await session.scalars(stmt)).all())


async def accept_latest_offer(services: Services, handler: Person) -> OutboxMessage:
    """The handler takes the case their latest notice offers; that notice is returned."""
    offer = (await notices(services, handler.id))[-1]
    await handler.presses(f"a:{offer.offer_id}")
    return offer


async def accepted_report(services: Services, person) -> str:
    """A citizen's report the village mediator "m" has taken; returns its number."""
    mediator = await make_staff(services, "m", "mediator", VILLAGE_MEDIATION)
    number = await report(person("c"))
    await accept_latest_offer(services, mediator)
    return number


def keys(rows: list[OutboxMessage]) -> list[str]:
    return [r.reply["text_key"] for r in rows]


async def events(services: Services, number: str) -> list[str]:
    case = await case_of(services, number)
    async with services.sessions() as session:
        return await event_kinds(session, case.id)


async def test_the_whole_ladder_across_a_week(
    services: Services, person, clock: FrozenClock
) -> None:
    mediator = await make_staff(services, "m", "mediator", VILLAGE_MEDIATION)
    desk = await make_staff(services, "desk", "dispatcher", VILLAGE_CENTRE)
    township_leader = await make_staff(services, "tl", "leader", TOWNSHIP_CENTRE)
    township_mediator = await make_staff(services, "tm", "mediator", TOWNSHIP_MEDIATION)
    number = await report(person("c"))
    case = await case_of(services, number)
    assert case.sla_stage == "accept"
    # general risk: accept within 4 h, reminders at 50% and 90% of the window
    assert case.due_at is not None and case.due_at.replace(tzinfo=UTC) == TUESDAY_0930 + timedelta(
        hours=4
    )

    await accept_latest_offer(services, mediator)  # accepted at once: +2 points, on time
    case = await case_of(services, number)
    assert case.sla_stage == "resolve"
    due = TUESDAY_0930 + timedelta(days=3)
    assert case.due_at is not None and case.due_at.replace(tzinfo=UTC) == due

    # Monday-to-Sunday simulation: tick every hour, as the scheduler would every 30 s.
    seen: list[tuple[str, str]] = []
    at = TUESDAY_0930
    while at < TUESDAY_0930 + timedelta(days=7):
        at += timedelta(hours=1)
        clock.set(at)
        before = len(await notices(services))
        await run_job("sweep", ctx(services))
        for row in (await notices(services))[before:]:
            seen.append((row.reply["text_key"], str(row.person_id)))
    mid, tl, tm, d = (
        str(mediator.id),
        str(township_leader.id),
        str(township_mediator.id),
        str(desk.id),
    )
    assert seen == [
        ("sla.remind_resolve", mid),  # 50% of 3 days: Wednesday 21:30
        # 90% falls on Friday 02:18, inside quiet hours: moved to 07:30, when it can reach them
        ("sla.remind_resolve", mid),
        ("sla.overdue", mid),  # 催办 at the deadline, Friday 09:30, to the assignee...
        ("sla.overdue_dispatcher", d),  # ...and to the village centre's dispatcher
        ("notice.offer", tm),  # 督办 a day later: re-routed to the township committee
        ("sla.escalated_leader", tl),  # and the township's leader told
        ("sla.remind_accept", tm),  # the new offer's own 4-hour clock: 50%
        # 90% and the deadline fall within one hourly tick: only the hand-over is taken.
        # Nobody else at the township or above is bound: the case waits in the top centre's
        # queue, the township's leader is told so, and so is the mediator who let it lapse
        # (not "reassigned to someone else", which was untrue).
        ("sla.queued_leader", tl),
        ("sla.offer_expired_queued", tm),
        # The prefecture centre whose queue it is has nobody bound: its daily chases (09:00
        # on Sunday, Monday and Tuesday) have nobody to tell, but they run (events below).
    ]
    kinds = await events(services, number)
    assert kinds == [
        "report",
        "offer",
        "accept",
        "remind",
        "remind",
        "overdue",
        "escalate",
        "offer",
        "remind",
        "offer_timeout",
        "unroutable",  # into the queue...
        "remind",  # ...chased on Sunday,
        "remind",  # Monday
        "remind",  # and Tuesday
    ]
    case = await case_of(services, number)
    assert (case.status, case.sla_stage, case.unit_code) == ("reported", "queue", "U532800-ZZ")
    assert case.next_action_at is not None  # the next chase: it never falls silent
    async with services.sessions() as session:
        ledger = (
            await session.execute(
                select(PointsEntry.rule, PointsEntry.points).order_by(PointsEntry.id)
            )
        ).all()
    assert [tuple(r) for r in ledger][:3] == [
        ("accepted_on_time", 2),
        ("overdue", -3),
        ("escalated_for_delay", -5),
    ]


async def test_each_step_once_with_two_sweepers(
    services: Services, person, clock: FrozenClock
) -> None:
    await make_staff(services, "m", "mediator", VILLAGE_MEDIATION)
    for i in range(5):
        await report(person(f"c{i}"))
    clock.advance(timedelta(hours=2, minutes=1))  # every offer at its 50% reminder
    # A second process: its own session factory (and SQLite connection pool) on the same file.
    other = JobContext(session_factory(services.sessions.engine), services.domain)
    await asyncio.gather(run_job("sweep", ctx(services)), run_job("sweep", other))
    await asyncio.gather(run_job("sweep", ctx(services)), run_job("sweep", other))
    reminders = [r for r in await notices(services) if r.purpose == "remind"]
    assert len(reminders) == 5


async def test_a_missed_sweep_catches_up_once(
    services: Services, person, clock: FrozenClock
) -> None:
    number = await accepted_report(services, person)
    # The process was down for five days: one sweep takes the latest due step only.
    clock.advance(timedelta(days=5))
    await run_job("sweep", ctx(services))
    await run_job("sweep", ctx(services))
    kinds = await events(services, number)
    assert kinds.count("remind") == 0 and kinds.count("escalate") == 1
    assert kinds.count("overdue") == 0  # superseded by the escalation it led to


async def test_a_restart_in_the_middle_of_a_ladder(
    services: Services, person, clock: FrozenClock
) -> None:
    number = await accepted_report(services, person)
    clock.advance(timedelta(days=1, hours=13))
    await run_job("sweep", ctx(services))  # the 50% reminder
    # The process stops; a new one starts with fresh resources on the same database.
    restarted = JobContext(session_factory(services.sessions.engine), services.domain)
    await run_job("sweep", restarted)  # nothing new
    # The 90% reminder falls on Friday 02:18, in quiet hours: it is due at 07:30 instead.
    clock.advance(timedelta(days=1, hours=6))
    await run_job("sweep", restarted)  # Friday 04:30: nothing yet
    assert (await events(services, number)).count("remind") == 1
    clock.advance(timedelta(hours=3))
    await run_job("sweep", restarted)  # Friday 07:30: the 90% reminder, once
    kinds = await events(services, number)
    assert kinds.count("remind") == 2


async def test_an_offer_not_accepted_in_time_goes_to_the_next_mediator(
    services: Services, person, clock: FrozenClock
) -> None:
    first = await make_staff(services, "a", "mediator", VILLAGE_MEDIATION)
    second = await make_staff(services, "b", "mediator", VILLAGE_MEDIATION)
    number = await report(person("c"))
    clock.advance(timedelta(hours=4, minutes=1))
    await run_job("sweep", ctx(services))
    # Told what happened: passed to another mediator of the same committee.
    expired = (await notices(services, first.id))[-1]
    assert expired.reply["text_key"] == "sla.offer_expired_passed"
    assert render("sla.offer_expired_passed", "zh_CN", expired.reply["params"]) == (
        f"案件 {number} 超时未接单，已转交曼听社区人民调解委员会的其他调解员。"
    )
    assert keys(await notices(services, second.id))[-1] == "notice.offer"


async def test_pause_stops_the_clock_and_the_centre_sees_it(
    services: Services, person, clock: FrozenClock
) -> None:
    mediator = await make_staff(services, "m", "mediator", VILLAGE_MEDIATION)
    desk = await make_staff(services, "desk", "dispatcher", VILLAGE_CENTRE)
    number = await report(person("c"))
    await accept_latest_offer(services, mediator)
    due = (await case_of(services, number)).due_at
    await mediator.says(f"/pause {number} 当事人外出务工，下周回来")
    assert mediator.said()[0] == "pause.done"
    assert keys(await notices(services, desk.id))[-1] == "notice.paused"
    clock.advance(timedelta(days=10))
    await run_job("sweep", ctx(services))
    assert "overdue" not in await events(services, number)  # the clock stood still
    await mediator.says(f"/resume {number}")
    assert mediator.said()[0] == "pause.resumed"
    moved = (await case_of(services, number)).due_at
    assert due is not None and moved is not None and moved - due == timedelta(days=10)


async def test_quiet_hours_hold_back_all_but_major_risk(
    services: Services, person, clock: FrozenClock
) -> None:
    await make_staff(services, "m", "mediator", VILLAGE_MEDIATION)
    leader = await make_staff(services, "lead", "leader", TOWNSHIP_CENTRE)
    clock.set(datetime(2026, 11, 24, 15, 0, tzinfo=UTC))  # 23:00 local
    await report(person("quiet"))  # general: the offer waits for morning
    await report(
        person("loud"),
        "他们几十个人拿着刀说要去堵政府大门，还说要同归于尽",
        people="30人以上",
    )
    inbox = Inbox()
    policy = services.policy
    assert policy.quiet is not None
    sender = OutboxSender(
        services.sessions,
        clock,
        inbox,
        limiter=RateLimiter(1000, 0),
        quiet=lambda at: policy.quiet.holds(at, ZONE),  # type: ignore[union-attr]
    )
    while await sender.drain_once():
        pass
    delivered = [reply.text_key for got in inbox.got.values() for _, reply, _ in got]
    assert delivered == ["notice.major_alert"]  # to the township leader, at 23:00
    assert str(leader.id) in {r.person_id.__str__() for r in await notices(services) if r.urgent}
    clock.set(datetime(2026, 11, 24, 23, 31, tzinfo=UTC))  # 07:31 local
    while await sender.drain_once():
        pass
    delivered = [reply.text_key for got in inbox.got.values() for _, reply, _ in got]
    assert "notice.offer" in delivered


async def test_major_risk_alert_names_the_cues(services: Services, person) -> None:
    leader = await make_staff(services, "lead", "leader", "U532801-ZZ")  # the county
    await report(person("c"), "工地老板欠薪跑路了，几十个工人说要去堵政府大门", people="30人以上")
    alert = (await notices(services, leader.id))[-1]
    assert alert.reply["text_key"] == "notice.major_alert" and alert.urgent
    assert "堵政府" in alert.reply["params"]["cues"] or "政府大门" in alert.reply["params"]["cues"]


async def test_red_card_supervision_notifies_daily_until_closed(
    services: Services, person, clock: FrozenClock
) -> None:
    mediator = await make_staff(services, "m", "mediator", VILLAGE_MEDIATION)
    leader = await make_staff(services, "lead", "leader", TOWNSHIP_CENTRE)
    number = await report(person("c"))
    offer = await accept_latest_offer(services, mediator)
    await leader.says(f"/status {number}")
    await leader.taps("挂牌督办")
    assert leader.said()[0] == "supervise.done"
    for _ in range(3):
        await run_job("sweep", ctx(services))
        clock.advance(timedelta(days=1))
    await run_job("sweep", ctx(services))
    daily = [r for r in await notices(services, mediator.id) if r.purpose == "supervision"]
    assert len(daily) == 4  # days 0, 1, 2 and 3, one each
    assert len({r.dedupe_key for r in daily}) == 4
    assert offer.case_id is not None
    await close_as_mediated(mediator, offer.case_id)
    clock.advance(timedelta(days=1))
    await run_job("sweep", ctx(services))
    after = [r for r in await notices(services, mediator.id) if r.purpose == "supervision"]
    assert len(after) == 4  # closed: no more


async def test_follow_up_visit_satisfied_and_dissatisfied(
    services: Services, person, clock: FrozenClock
) -> None:
    mediator = await make_staff(services, "m", "mediator", VILLAGE_MEDIATION)
    desk = await make_staff(services, "desk", "dispatcher", VILLAGE_CENTRE)
    happy, unhappy = person("happy"), person("unhappy")
    numbers = [await report(happy), await report(unhappy)]
    for number in numbers:
        case = await case_of(services, number)
        offers = [r for r in await notices(services, mediator.id) if r.case_id == case.id]
        await mediator.presses(f"a:{offers[-1].offer_id}")
        await close_as_mediated(mediator, case.id)
    clock.advance(timedelta(days=3, minutes=1))
    await run_job("followup", ctx(services))
    for citizen, number in ((happy, numbers[0]), (unhappy, numbers[1])):
        ask = [
            r
            for r in await notices(services)
            if r.purpose == "followup" and r.case_id == (await case_of(services, number)).id
        ]
        assert len(ask) == 1 and ask[0].person_id == citizen.id
    case_a = await case_of(services, numbers[0])
    await happy.presses(f"f:{case_a.id}:s")
    await happy.taps("不用了")
    assert happy.said()[0] == "followup.thanks"
    assert (await case_of(services, numbers[0])).status == "closed"

    case_b = await case_of(services, numbers[1])
    await unhappy.presses(f"f:{case_b.id}:d")
    await unhappy.says("噪音还是没停，晚上照样施工")
    assert unhappy.said()[0] == "followup.reopened"
    reopened = await case_of(services, numbers[1])
    assert reopened.status == "assigned"
    told = (await notices(services, desk.id))[-2:]
    # The centre is told why it is back: not "no mediator was available".
    assert {r.reply["text_key"] for r in told} == {"notice.offer_reopened", "notice.reopened"}
    assert "晚上照样施工" in str(told[-1].reply["params"])
    async with services.sessions() as session:
        rules = (await session.scalars(select(PointsEntry.rule).order_by(PointsEntry.id))).all()
    assert "satisfied" in rules and "reopened_dissatisfied" in rules
    # Asking again is refused politely.
    await unhappy.presses(f"f:{case_b.id}:s")
    assert unhappy.said()[0] == "followup.closed"


async def test_unanswered_follow_up_closes_after_seven_days(
    services: Services, person, clock: FrozenClock
) -> None:
    mediator = await make_staff(services, "m", "mediator", VILLAGE_MEDIATION)
    number = await report(person("c"))
    case = await case_of(services, number)
    await accept_latest_offer(services, mediator)
    await mediator.presses(f"c:{case.id}")
    await mediator.taps("调解不成功")
    await mediator.says("当事人要求走诉讼程序")
    await mediator.taps("确认结案")
    clock.advance(timedelta(days=3, minutes=1))
    await run_job("followup", ctx(services))
    clock.advance(timedelta(days=7, minutes=1))
    await run_job("followup", ctx(services))
    assert (await events(services, number))[-3:] == [
        "followup_ask",
        "followup_unanswered",
        "archive",
    ]
    assert (await case_of(services, number)).status == "closed"


def test_working_time_clock_skips_holidays_and_weekends() -> None:
    policy = Policy.load()
    rule = policy.rule("general", "medical")
    assert rule.working_time
    # Thursday 2026-10-01 is National Day: a 3-day window from Wednesday 30 September 16:00
    # counts 2 h that evening, then nothing until Friday 9 October (holiday to the 7th, the
    # 8th is Thursday... but see the calendar) — the clock only runs on working days.
    start = datetime(2026, 9, 30, 8, 0, tzinfo=UTC)  # 16:00 local
    due = policy.deadline(start, rule.resolve, rule, ZONE)
    local = due.astimezone(ZONE)
    assert local.date() > datetime(2026, 10, 7).date()  # never inside the Golden Week
    assert local.weekday() < 5 or local.date().isoformat() == "2026-10-10"  # 10-10 is worked


async def test_jobs_run_at_a_given_time_is_recorded(services: Services) -> None:
    result = await run_job("rankings", ctx(services))
    assert result.startswith("2026-10")
    async with services.sessions() as session:
        from storage.models import JobRun

        runs = await session.scalar(select(func.count()).select_from(JobRun))
        assert runs == 1
