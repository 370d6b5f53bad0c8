"""Every open case has a next step (issue 8): an offer nobody takes is escalated (督办) a level
at a time with both levels' leaders told, and at the top it waits in the centre's queue,
chased every day until someone takes it; a report nobody can take is recorded, kept in a
queue and picked up by whoever binds and could take it; and a person's accept clock counts
from when the offer can reach them (not during quiet hours). Driven by the FrozenClock, the
sweep and the outbox sender, as an operator's week would run."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from dialogs.base import Services
from dispatch.clock import FrozenClock
from dispatch.jobs import run_job
from handlers.sender import OutboxSender, RateLimiter
from locales import text as render
from storage.models import OutboxMessage
from tests.conftest import (
    COUNTY_LABOR,
    TOWNSHIP_CENTRE,
    VILLAGE_CENTRE,
    VILLAGE_MEDIATION,
    ZONE,
    make_staff,
)
from tests.test_report_flow import Inbox
from tests.test_sla import case_of, ctx, events, notices, report

PREFECTURE_CENTRE = "U532800-ZZ"
MENGHAI_MEDIATION = "U532822101-TJ"  # another county's township committee


def said(row: OutboxMessage) -> str:
    return render(row.reply["text_key"], "zh_CN", row.reply["params"])


async def sweep_until(services: Services, clock: FrozenClock, until: datetime) -> None:
    """The scheduler's ticks, one every ten minutes, up to `until`."""
    while clock.now() < until:
        clock.set(min(clock.now() + timedelta(minutes=10), until))
        await run_job("sweep", ctx(services))


async def test_an_offer_nobody_takes_climbs_level_by_level_then_is_chased_daily(
    services: Services, person, clock: FrozenClock
) -> None:
    mediator = await make_staff(services, "m", "mediator", VILLAGE_MEDIATION)
    village_leader = await make_staff(services, "vl", "leader", VILLAGE_CENTRE)
    township_desk = await make_staff(services, "td", "dispatcher", TOWNSHIP_CENTRE)
    township_leader = await make_staff(services, "tl", "leader", TOWNSHIP_CENTRE)
    top_desk = await make_staff(services, "pd", "dispatcher", PREFECTURE_CENTRE)
    top_leader = await make_staff(services, "pl", "leader", PREFECTURE_CENTRE)
    number = await report(person("c"))  # Tuesday 09:30, to the village mediator
    start = clock.now()

    # 13:30: the village mediator let it lapse and the village has nobody else: 督办 to the
    # township, whose centre has a dispatcher.
    await sweep_until(services, clock, start + timedelta(hours=4, minutes=10))
    expired = (await notices(services, mediator.id))[-1]
    assert (
        said(expired) == f"案件 {number} 超时未接单，已督办上交允景洪街道（允景洪街道综治中心）。"
    )
    for leader in (village_leader, township_leader):
        told = (await notices(services, leader.id))[-1]
        assert told.reply["text_key"] == "sla.escalated_unaccepted"
        assert "在曼听社区超时无人接单，已上交允景洪街道" in said(told)
    assert (await notices(services, township_desk.id))[-1].reply["text_key"] == (
        "notice.offer_dispatcher"
    )
    assert await notices(services, top_leader.id) == []

    # 17:30: the township centre let it lapse too; the county has nobody: to the prefecture.
    await sweep_until(services, clock, start + timedelta(hours=8, minutes=20))
    expired = (await notices(services, township_desk.id))[-1]
    assert said(expired) == (
        f"案件 {number} 超时未接单，已督办上交西双版纳傣族自治州（西双版纳州综治中心）。"
    )
    for leader in (township_leader, top_leader):
        told = (await notices(services, leader.id))[-1]
        assert "在允景洪街道超时无人接单，已上交西双版纳傣族自治州" in said(told)
    assert len(await notices(services, village_leader.id)) == 1  # not its level any more

    # 21:30: the top centre let it lapse: nobody is left, it stays in its queue.
    await sweep_until(services, clock, start + timedelta(hours=12, minutes=30))
    expired = (await notices(services, top_desk.id))[-1]
    assert said(expired) == (
        f"案件 {number} 超时未接单，目前已无人可接，案件留在西双版纳州综治中心的待分派队列中，"
        "每天09:00提醒，直到有人接单。"
    )
    assert (await notices(services, top_leader.id))[-1].reply["text_key"] == "sla.queued_leader"
    case = await case_of(services, number)
    assert (case.status, case.sla_stage, case.unit_code) == ("reported", "queue", PREFECTURE_CENTRE)
    assert case.next_action_at is not None
    assert case.next_action_at.astimezone(ZONE).strftime("%d %H:%M") == "25 09:00"

    # Three days on: the top centre's dispatcher is offered it every morning, once a day,
    # and so is its leader told; nothing else happens to it.
    before = {p.id: len(await notices(services, p.id)) for p in (top_desk, top_leader)}
    await sweep_until(services, clock, clock.now() + timedelta(days=3))
    daily = (await notices(services, top_desk.id))[before[top_desk.id] :]
    assert [r.reply["text_key"] for r in daily] == ["sla.queue_daily"] * 3
    assert [r.created_at.astimezone(ZONE).strftime("%d %H:%M") for r in daily] == [
        "25 09:00",
        "26 09:00",
        "27 09:00",
    ]
    assert len({r.offer_id for r in daily}) == 1  # one open offer, chased daily
    assert "已等待3天" in said(daily[-1])
    leader_daily = (await notices(services, top_leader.id))[before[top_leader.id] :]
    assert [r.reply["text_key"] for r in leader_daily] == ["sla.queue_daily_leader"] * 3
    kinds = await events(services, number)
    assert [k for k in kinds if k != "remind"] == [
        "report",
        "offer",
        "offer_timeout",
        "escalate",
        "offer",
        "offer_timeout",
        "escalate",
        "offer",
        "offer_timeout",
        "unroutable",
        "offer",  # the first chase: the queue's centre is offered it
    ]
    # Each of the three offers had its two reminders; then the three daily chases.
    assert kinds.count("remind") == 3 * 2 + 3 and kinds[-4:] == ["offer"] + ["remind"] * 3

    # Someone takes it at last, with the button of the daily notice.
    await top_desk.presses(f"a:{daily[-1].offer_id}")
    assert top_desk.said()[0] == "handling.accepted"
    case = await case_of(services, number)
    assert (case.status, case.sla_stage, case.assignee_id) == (
        "in_progress",
        "resolve",
        top_desk.id,
    )
    after = len(await notices(services, top_desk.id))
    await sweep_until(services, clock, clock.now() + timedelta(days=1))
    # The queue's chase ended with it: the next step is the resolve clock's first reminder.
    assert (await notices(services, top_desk.id))[after:] == []
    case = await case_of(services, number)
    assert case.next_action_at is not None and case.accepted_at is not None
    assert case.next_action_at - case.accepted_at == timedelta(hours=36)


async def test_a_queued_dispatcher_who_declines_is_chased_again_the_next_day(
    services: Services, person, clock: FrozenClock
) -> None:
    """At the top there is nobody to pass it to: a decline puts it back in the queue, and the
    next morning's chase offers it again."""
    top_desk = await make_staff(services, "pd", "dispatcher", PREFECTURE_CENTRE)
    number = await report(person("c"))
    offer = (await notices(services, top_desk.id))[-1]
    assert offer.reply["text_key"] == "notice.offer_dispatcher"  # the nearest centre with one
    await top_desk.presses(f"d:{offer.offer_id}")
    await top_desk.says("本级无法处理")
    case = await case_of(services, number)
    assert (case.status, case.sla_stage) == ("reported", "queue")
    await sweep_until(services, clock, clock.now() + timedelta(days=1))
    again = (await notices(services, top_desk.id))[-1]
    assert again.reply["text_key"] == "sla.queue_daily" and again.offer_id != offer.offer_id
    assert (await case_of(services, number)).status == "assigned"


async def test_a_report_nobody_can_take_is_offered_to_whoever_binds_and_could_take_it(
    services: Services, person
) -> None:
    citizen = person("c")
    number = await report(citizen)
    receipt = citizen.text()
    assert "已进入西双版纳州综治中心的待分派队列" in receipt and "调解员" not in receipt
    assert await events(services, number) == ["report", "unroutable"]

    # Bound, but not for this case: a labour bureau (another category), another county.
    labor = await make_staff(services, "labor", "mediator", COUNTY_LABOR)
    elsewhere = await make_staff(services, "mh", "mediator", MENGHAI_MEDIATION)
    assert await notices(services, labor.id) == await notices(services, elsewhere.id) == []
    assert (await case_of(services, number)).status == "reported"

    # A mediator of the village committee binds: the case is offered to them at once.
    mediator = await make_staff(services, "m", "mediator", VILLAGE_MEDIATION)
    offer = (await notices(services, mediator.id))[-1]
    assert offer.reply["text_key"] == "notice.offer" and number in said(offer)
    case = await case_of(services, number)
    assert (case.status, case.sla_stage, case.unit_code) == (
        "assigned",
        "accept",
        VILLAGE_MEDIATION,
    )
    await mediator.presses(f"a:{offer.offer_id}")
    assert mediator.said()[0] == "handling.accepted"
    assert (await notices(services, citizen.id))[-1].reply["text_key"] == "notice.accepted"


async def test_the_receipt_names_who_the_case_went_to(services: Services, person) -> None:
    desk = await make_staff(services, "td", "dispatcher", TOWNSHIP_CENTRE)
    to_centre = person("c1")
    number = await report(to_centre)
    assert "目前没有可以接单的调解员，案件已交给允景洪街道综治中心安排人员处理" in to_centre.text()
    assert await events(services, number) == ["report", "unroutable", "offer"]
    assert (await notices(services, desk.id))[-1].reply["text_key"] == "notice.offer_dispatcher"

    await make_staff(services, "m", "mediator", VILLAGE_MEDIATION)
    to_mediator = person("c2")
    number = await report(to_mediator)
    assert "案件已交给曼听社区人民调解委员会的调解员" in to_mediator.text()
    assert await events(services, number) == ["report", "offer"]


# Quiet hours: 22:00-07:30 in the shipped policy. A report at 02:37 and the same at 15:00.
NIGHT = datetime(2026, 11, 24, 18, 37, tzinfo=UTC)  # Wednesday 02:37 local
MORNING = datetime(2026, 11, 24, 23, 30, tzinfo=UTC)  # Wednesday 07:30 local
AFTERNOON = datetime(2026, 11, 25, 7, 0, tzinfo=UTC)  # Wednesday 15:00 local


@pytest.mark.parametrize(
    ("filed", "clock_starts"), [(NIGHT, MORNING), (AFTERNOON, AFTERNOON)], ids=["0237", "1500"]
)
async def test_an_accept_clock_counts_from_when_the_offer_can_reach_the_mediator(
    services: Services, person, clock: FrozenClock, filed: datetime, clock_starts: datetime
) -> None:
    first = await make_staff(services, "a", "mediator", VILLAGE_MEDIATION)
    second = await make_staff(services, "b", "mediator", VILLAGE_MEDIATION)
    clock.set(filed)
    number = await report(person("c"))
    case = await case_of(services, number)
    assert case.sla_started_at is not None and case.due_at is not None
    assert case.sla_started_at.astimezone(UTC) == clock_starts
    assert case.due_at.astimezone(UTC) == clock_starts + timedelta(hours=4)

    # The scheduler's ticks and the sender's drains, minute by minute where it matters.
    inbox = Inbox()
    quiet = services.policy.quiet
    assert quiet is not None
    sender = OutboxSender(
        services.sessions,
        clock,
        inbox,
        limiter=RateLimiter(1000, 0),
        quiet=lambda at: quiet.holds(at, ZONE),
    )
    got: list[tuple[str, str, datetime]] = []
    ticks = sorted(
        {filed + timedelta(minutes=10 * n) for n in range(60)}
        | {clock_starts + offset for offset in (timedelta(0), timedelta(hours=2))}
        | {clock_starts + timedelta(hours=3, minutes=36), clock_starts + timedelta(hours=4)}
    )
    for at in ticks:
        clock.set(at)
        await run_job("sweep", ctx(services))
        while await sender.drain_once():
            pass
        for chat, replies in inbox.got.items():
            for _, reply, _ in replies:
                got.append((chat, reply.text_key, at))
            replies.clear()
        if at < MORNING and filed == NIGHT:
            assert await events(services, number) == ["report", "offer"], at

    handed_over = clock_starts + timedelta(hours=4)
    assert [g for g in got if g[2] <= handed_over] == [
        ("a", "notice.offer", clock_starts),  # at night, held by quiet hours until 07:30
        ("a", "sla.remind_accept", clock_starts + timedelta(hours=2)),
        ("a", "sla.remind_accept", clock_starts + timedelta(hours=3, minutes=36)),
        ("a", "sla.offer_expired_passed", handed_over),
        ("b", "notice.offer", handed_over),
    ]
    offers = [r for r in await notices(services) if r.purpose == "offer"]
    assert [r.person_id for r in offers] == [first.id, second.id]
