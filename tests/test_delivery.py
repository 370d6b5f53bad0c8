"""Notices through stops, crashes, 429 bursts, outages and nights, as a person on Telegram
sees them: the real aiogram against the stand-in Bot API, the sender's rounds driven
directly with a frozen clock (no real waiting), `pingan outbox` and `pingan jobs run` through
the command line."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import datetime, timedelta

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import select, update

from bot.cli import main
from dialogs.base import Services
from dispatch import outbox
from dispatch.clock import FrozenClock
from dispatch.messages import Reply
from dispatch.people import create_invite, person_for
from handlers.sender import OutboxSender, RateLimiter
from handlers.telegram import MAX_TEXT, TelegramTransport
from locales import text as render
from storage.models import OutboxMessage
from tests.conftest import (
    TOWNSHIP_CENTRE,
    VILLAGE_CENTRE,
    VILLAGE_MEDIATION,
    ZONE,
    Person,
    assigned_case,
    queued_notice,
)
from tests.fakes.telegram_api import FakeTelegramAPI
from tests.test_report_flow import Inbox

CHAT = 8001
OTHER_CHAT = 8002
RESENT = render("outbox.resent", "zh_CN")


def number(i: int) -> str:
    return f"2026-{i:06d}"


def accepted(i: int) -> Reply:
    return Reply("notice.accepted", {"number": number(i), "unit": "曼听社区人民调解委员会"})


async def on_telegram(services: Services, chat: int = CHAT) -> int:
    async with services.sessions() as session, session.begin():
        person, _ = await person_for(session, services.clock, "telegram", str(chat), str(chat))
        return person.id


async def queue(
    services: Services,
    person_id: int,
    reply: Reply,
    key: str,
    *,
    purpose: str = "accepted",
    urgent: bool = False,
    case_id: int | None = None,
    chat: int | None = None,
) -> int:
    return await queued_notice(
        services,
        person_id,
        reply,
        purpose=purpose,
        dedupe_key=key,
        urgent=urgent,
        case_id=case_id,
        channel="telegram" if chat else None,
        chat_ref=str(chat) if chat else None,
    )


def make_sender(services: Services, bot, **kw) -> OutboxSender:
    kw.setdefault("limiter", RateLimiter(1000, 0))
    return OutboxSender(services.sessions, services.clock, TelegramTransport(bot), **kw)


async def rows(services: Services) -> list[OutboxMessage]:
    async with services.sessions() as session:
        return list((await session.scalars(select(OutboxMessage).order_by(OutboxMessage.id))).all())


async def row(services: Services, notice_id: int) -> OutboxMessage:
    async with services.sessions() as session:
        found = await session.get(OutboxMessage, notice_id)
        assert found is not None
        return found


def numbers_received(fake: FakeTelegramAPI, chat: int = CHAT) -> Counter[str]:
    """How many times each notice (by its case number) reached the chat."""
    got: Counter[str] = Counter()
    for text in fake.texts(chat):
        for word in text.split():
            if word.startswith("2026-"):
                got[word] += 1
    return got


async def until_quiet(sender: OutboxSender, clock: FrozenClock, step: timedelta) -> None:
    """Run rounds, moving the clock on when nothing is due, until nothing is left queued."""
    for _ in range(500):
        if not await sender.drain_once():
            pending = [r for r in await rows_of(sender) if r.status in ("pending", "sending")]
            if not pending:
                return
            clock.advance(step)
    raise AssertionError("the outbox never emptied")


async def rows_of(sender: OutboxSender) -> list[OutboxMessage]:
    async with sender.sessions() as session:
        return list((await session.scalars(select(OutboxMessage))).all())


def cli(services: Services, monkeypatch: pytest.MonkeyPatch, *args: str) -> Result:
    url = services.sessions.engine.url.render_as_string(hide_password=False)
    monkeypatch.setenv("PINGAN_DATABASE_URL", url)
    return CliRunner().invoke(main, list(args))


# -- stops and crashes ------------------------------------------------------------------------


async def test_stopped_midway_then_restarted_every_notice_arrives_exactly_once(
    services: Services,
) -> None:
    """30 notices to one mediator, the sender stopped (SIGTERM cancels it) after a few:
    nothing is left claimed, and after a restart each arrives once (it was 3 of 30 before)."""
    person_id = await on_telegram(services)
    for i in range(30):
        await queue(services, person_id, accepted(i), f"k{i}")
    async with FakeTelegramAPI() as fake, fake.bot() as bot:
        fake.response_delay = 0.02
        # One a second per chat in production; 20 a second here, to stay quick.
        first = make_sender(services, bot, limiter=RateLimiter(1000, 0.05))
        running = asyncio.ensure_future(first.run())
        await fake.wait_for_sent(CHAT, text_contains=number(7), since=0)
        running.cancel()
        await asyncio.wait({running})
        delivered = len(fake.sent(CHAT))
        assert 8 <= delivered < 30
        statuses = Counter(r.status for r in await rows(services))
        assert statuses == {"sent": delivered, "pending": 30 - delivered}
        # The restart: a new sender, at once (no lease to wait for).
        await until_quiet(make_sender(services, bot), services.clock, timedelta(seconds=1))  # type: ignore[arg-type]
        assert numbers_received(fake) == {number(i): 1 for i in range(30)}
        assert not any(RESENT in t for t in fake.texts(CHAT))


async def test_a_call_in_flight_at_a_stop_is_let_finish_and_recorded(services: Services) -> None:
    person_id = await on_telegram(services)
    await queue(services, person_id, accepted(1), "k1")
    async with FakeTelegramAPI() as fake, fake.bot() as bot:
        fake.response_delay = 0.3
        running = asyncio.ensure_future(make_sender(services, bot, stop_grace=5).run())
        await asyncio.sleep(0.1)  # the call is on its way (answered after 0.3 s): stop now
        running.cancel()
        await asyncio.wait({running})
        assert [r.status for r in await rows(services)] == ["sent"]
        await until_quiet(make_sender(services, bot), services.clock, timedelta(seconds=1))  # type: ignore[arg-type]
        assert numbers_received(fake) == {number(1): 1}


async def test_a_call_cut_off_at_a_stop_is_in_doubt_and_resent_once_marked(
    services: Services,
) -> None:
    person_id = await on_telegram(services)
    notice_id = await queue(services, person_id, accepted(1), "k1")
    async with FakeTelegramAPI() as fake, fake.bot() as bot:
        fake.response_delay = 2
        running = asyncio.ensure_future(make_sender(services, bot, stop_grace=0.2).run())
        await asyncio.sleep(0.5)
        running.cancel()
        await asyncio.wait({running})
        fake.response_delay = 0
        notice = await row(services, notice_id)
        assert (notice.status, notice.doubts) == ("pending", 1)
        await until_quiet(make_sender(services, bot), services.clock, timedelta(seconds=1))  # type: ignore[arg-type]
        await asyncio.sleep(2)  # whatever the server did with the call it was cut off in
        texts = fake.texts(CHAT)
        # Delivered: once, or (if the cut-off call had reached Telegram) twice, the
        # second time marked as sent again.
        assert 1 <= numbers_received(fake)[number(1)] <= 2
        assert texts[-1].startswith(RESENT)


async def test_a_sender_killed_mid_call_the_notice_is_resent_once_then_held_in_doubt(
    services: Services, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """kill -9: the row stays claimed; when its lease runs out it is resent once, marked;
    a second crash in flight holds it as in_doubt for an operator; nothing else waits."""
    person_id = await on_telegram(services)
    doomed = await queue(services, person_id, accepted(1), "k1")
    await queue(services, person_id, accepted(2), "k2")
    async with services.sessions() as session, session.begin():  # a sender that then dies
        assert await outbox.claim_one(session, clock, doomed) is not None
    async with FakeTelegramAPI() as fake, fake.bot() as bot:
        sender = make_sender(services, bot)
        assert await sender.drain_once() == 1  # the other notice is not held up
        assert numbers_received(fake) == {number(2): 1}
        clock.advance(outbox.SENDING_LEASE + timedelta(seconds=1))  # reclaimed every round
        assert await sender.drain_once() == 1
        assert fake.texts(CHAT)[-1].startswith(RESENT) and number(1) in fake.texts(CHAT)[-1]
        notice = await row(services, doomed)
        assert (notice.status, notice.doubts) == ("sent", 1)

        # Once more, a crash in flight: now it waits for an operator.
        async with services.sessions() as session, session.begin():
            await session.execute(
                update(OutboxMessage).where(OutboxMessage.id == doomed).values(status="pending")
            )
            assert await outbox.claim_one(session, clock, doomed) is not None
        clock.advance(outbox.SENDING_LEASE + timedelta(seconds=1))
        assert await sender.drain_once() == 0
        assert (await row(services, doomed)).status == "in_doubt"
        listed = await asyncio.to_thread(cli, services, monkeypatch, "outbox", "list")
        assert listed.exit_code == 0, listed.output
        line = next(x for x in listed.output.splitlines() if x.strip().startswith(str(doomed)))
        assert "in_doubt" in line and "may have arrived twice" in line
        assert "2026-" not in listed.output and "曼听" not in listed.output  # no contents
        retried = await asyncio.to_thread(
            cli, services, monkeypatch, "outbox", "retry", str(doomed)
        )
        assert retried.exit_code == 0 and "1 notices queued again" in retried.output
        assert await sender.drain_once() == 1
        assert numbers_received(fake)[number(1)] == 2  # the operator chose to send it again


# -- 429s and outages ----------------------------------------------------------------------


async def test_a_burst_of_429s_is_waited_out_never_failed(
    services: Services, clock: FrozenClock
) -> None:
    person_id = await on_telegram(services)
    notice_id = await queue(services, person_id, accepted(1), "k1")
    await queue(services, person_id, accepted(2), "k2")
    async with FakeTelegramAPI() as fake, fake.bot() as bot:
        fake.fail_next("sendMessage", error_code=429, retry_after=3, times=12)
        sender = make_sender(services, bot)
        assert await sender.drain_once() == 1  # the chat's second notice waits as well
        clock.advance(timedelta(seconds=2))
        assert await sender.drain_once() == 0  # retry_after is honoured
        await until_quiet(sender, clock, timedelta(seconds=3))
        assert numbers_received(fake) == {number(1): 1, number(2): 1}
        notice = await row(services, notice_id)
        assert (notice.status, notice.attempts) == ("sent", 0)
        assert sum(1 for c in fake.calls if c.error_code == 429) == 12


@pytest.mark.parametrize("error_code", [502, None], ids=["5xx", "network"])
async def test_an_outage_of_twenty_minutes_is_outlasted(
    services: Services, clock: FrozenClock, error_code: int | None
) -> None:
    person_id = await on_telegram(services)
    ids = [await queue(services, person_id, accepted(i), f"k{i}") for i in range(3)]
    async with FakeTelegramAPI() as fake, fake.bot() as bot:
        sender = make_sender(services, bot)
        fake.go_down(error_code)
        end = clock.now() + timedelta(minutes=20)
        while clock.now() < end:
            await sender.drain_once()
            clock.advance(timedelta(seconds=15))
        tries = [(await row(services, i)).attempts for i in ids]
        assert tries[0] >= 8  # more than the old budget, and not failed
        assert {(await row(services, i)).status for i in ids} == {"pending"}
        # Backing off: 20 minutes cost a handful of calls, not one a round.
        assert len(fake.calls) < 40
        fake.come_back()
        await until_quiet(sender, clock, timedelta(seconds=30))
        assert numbers_received(fake) == {number(i): 1 for i in range(3)}


async def test_past_the_horizon_a_notice_fails_is_listed_and_can_be_sent_again(
    services: Services, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    person_id = await on_telegram(services)
    notice_id = await queue(services, person_id, accepted(1), "k1")
    async with FakeTelegramAPI() as fake, fake.bot() as bot:
        sender = make_sender(services, bot, retry_horizon=timedelta(hours=1))
        fake.go_down(500)
        for _ in range(30):
            await sender.drain_once()
            clock.advance(timedelta(minutes=5))
        notice = await row(services, notice_id)
        assert notice.status == "failed" and "gave up" in (notice.last_error or "")

        listed = await asyncio.to_thread(cli, services, monkeypatch, "outbox", "list", "--failed")
        assert listed.exit_code == 0 and f"{notice_id:>6}" in listed.output
        assert "failed" in listed.output and "gave up" in listed.output
        as_json = await asyncio.to_thread(
            cli, services, monkeypatch, "outbox", "list", "--failed", "--json"
        )
        assert '"status": "failed"' in as_json.output and '"purpose": "accepted"' in as_json.output
        unknown = await asyncio.to_thread(cli, services, monkeypatch, "outbox", "retry", "999")
        assert unknown.exit_code == 1 and "no such notice" in unknown.output
        assert "Traceback" not in unknown.output
        nothing = await asyncio.to_thread(cli, services, monkeypatch, "outbox", "retry")
        assert nothing.exit_code == 2

        fake.come_back()
        retried = await asyncio.to_thread(cli, services, monkeypatch, "outbox", "retry", "--failed")
        assert retried.exit_code == 0 and "1 notices queued again" in retried.output
        notice = await row(services, notice_id)
        assert (notice.status, notice.attempts, notice.first_failed_at) == ("pending", 0, None)
        assert await sender.drain_once() == 1
        assert numbers_received(fake) == {number(1): 1}
        empty = await asyncio.to_thread(cli, services, monkeypatch, "outbox", "list", "--failed")
        assert "no failed notices" in empty.output


async def test_a_refusal_fails_at_once(services: Services) -> None:
    person_id = await on_telegram(services)
    notice_id = await queue(services, person_id, accepted(1), "k1")
    async with FakeTelegramAPI() as fake, fake.bot() as bot:
        fake.fail_next("sendMessage", error_code=400, description="Bad Request: chat not found")
        await make_sender(services, bot).drain_once()
    notice = await row(services, notice_id)
    assert notice.status == "failed" and "chat not found" in (notice.last_error or "")


# -- parts ----------------------------------------------------------------------------------


@pytest.mark.parametrize("error_code", [502, 429])
async def test_a_long_notice_resumes_at_the_part_that_failed(
    services: Services, clock: FrozenClock, error_code: int
) -> None:
    person_id = await on_telegram(services)
    long_unit = "第一段。" * 1200 + "\n" + "第二段。" * 200  # over 4096 characters
    reply = Reply("notice.accepted", {"number": number(1), "unit": long_unit})
    notice_id = await queue(services, person_id, reply, "k1")
    async with FakeTelegramAPI() as fake, fake.bot() as bot:
        fake.fail_next("sendMessage", error_code=error_code, skip=1)  # the second part
        sender = make_sender(services, bot)
        await sender.drain_once()
        assert len(fake.sent(CHAT)) == 1
        notice = await row(services, notice_id)
        assert (notice.status, notice.parts_sent) == ("pending", 1)
        await until_quiet(sender, clock, timedelta(seconds=5))
        texts = fake.texts(CHAT)
        assert len(texts) == 2 and len(texts[0]) <= MAX_TEXT and texts[0] != texts[1]
        assert "".join(texts).replace("\n", "") == render(
            "notice.accepted", "zh_CN", reply.params
        ).replace("\n", "")
        assert (await row(services, notice_id)).status == "sent"


# -- time ---------------------------------------------------------------------------------


async def test_a_job_replayed_as_of_next_week_delivers_now(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`pingan jobs run digest --at` a week ahead: the digest it writes goes out now."""
    async with services.sessions() as session, session.begin():
        invite = await create_invite(session, services.clock, "leader", TOWNSHIP_CENTRE, "lead")
    leader = Person(services, str(CHAT), channel="telegram")
    assert (await leader.says(f"/bind {invite.code}")).replies[0].text_key == "bind.done"
    ran = await asyncio.to_thread(
        cli, services, monkeypatch, "jobs", "run", "digest", "--at", "2026-12-02T19:00"
    )
    assert ran.exit_code == 0 and "1 reports queued" in ran.output, ran.output
    async with FakeTelegramAPI() as fake, fake.bot() as bot:
        # The sender's clock reads today (2026-11-24), a week before the replayed time.
        assert await make_sender(services, bot).drain_once() == 1
        # The chart, then the text.
        assert [c.method for c in fake.sent(CHAT)] == ["sendPhoto", "sendMessage"]


@pytest.mark.parametrize(
    ("local_hour", "ordinary_goes_at_once"), [(3, False), (15, True)], ids=["03h", "15h"]
)
async def test_a_reply_is_never_held_by_quiet_hours(
    services: Services, clock: FrozenClock, local_hour: int, ordinary_goes_at_once: bool
) -> None:
    clock.set(datetime(2026, 11, 24, local_hour, 0, tzinfo=ZONE))
    person_id = await on_telegram(services)
    reply_id = await queue(services, person_id, accepted(1), "reply:1", purpose="reply", chat=CHAT)
    ordinary_id = await queue(services, person_id, accepted(2), "k2")
    policy = services.policy
    assert policy.quiet is not None
    async with FakeTelegramAPI() as fake, fake.bot() as bot:
        sender = make_sender(
            services,
            bot,
            quiet=lambda at: policy.quiet.holds(at, ZONE),
        )
        while await sender.drain_once():
            pass
        assert (await row(services, reply_id)).status == "sent"
        expected = "sent" if ordinary_goes_at_once else "pending"
        assert (await row(services, ordinary_id)).status == expected
        clock.set(datetime(2026, 11, 24, 7, 31, tzinfo=ZONE) + timedelta(days=1))
        while await sender.drain_once():
            pass
        assert numbers_received(fake) == {number(1): 1, number(2): 1}
        if not ordinary_goes_at_once:
            # The night's reply came first, the ordinary notice only in the morning.
            assert [number(1) in t for t in fake.texts(CHAT)] == [True, False]


# -- an urgent notice that is late ------------------------------------------------------------


@pytest.mark.parametrize("dispatcher_elsewhere", [True, False])
async def test_a_late_urgent_notice_is_told_to_the_centre_on_another_channel(
    services: Services,
    clock: FrozenClock,
    monkeypatch: pytest.MonkeyPatch,
    dispatcher_elsewhere: bool,
) -> None:
    mediator = await on_telegram(services)
    case_id = await assigned_case(
        services,
        mediator,
        number="2026-000777",
        risk="major",
        description="…",
        unit_code=VILLAGE_MEDIATION,
    )
    async with services.sessions() as session, session.begin():
        invite = await create_invite(session, clock, "dispatcher", VILLAGE_CENTRE, "d")
    # The centre's dispatcher uses the console (another channel), or Telegram only.
    dispatcher = (
        Person(services, "dispatcher")
        if dispatcher_elsewhere
        else Person(services, str(OTHER_CHAT), channel="telegram")
    )
    await dispatcher.says(f"/bind {invite.code}")
    alert = Reply("notice.accepted", {"number": "2026-000777", "unit": "…"})
    notice_id = await queue(services, mediator, alert, "alert", urgent=True, case_id=case_id)
    async with FakeTelegramAPI() as fake, fake.bot() as bot:
        sender = make_sender(services, bot)
        fake.go_down(502)
        for _ in range(12):  # 12 simulated minutes of outage
            await sender.drain_once()
            clock.advance(timedelta(minutes=1))
        await sender.drain_once()
    told = [r for r in await rows(services) if r.purpose == "delivery_delayed"]
    assert (await row(services, notice_id)).delay_told == (1 if dispatcher_elsewhere else 0)
    if dispatcher_elsewhere:
        assert [(r.channel, r.chat_ref, r.person_id) for r in told] == [
            ("console", "dispatcher", dispatcher.id)
        ]
        inbox = Inbox()
        await OutboxSender(
            services.sessions, clock, inbox, limiter=RateLimiter(1000, 0)
        ).drain_once()
        [(_, _, shown)] = inbox.got["dispatcher"]
        assert "2026-000777" in shown and "telegram" in shown
    else:
        assert told == []
        listed = await asyncio.to_thread(cli, services, monkeypatch, "outbox", "list")
        assert "no centre dispatcher reachable on another channel" in listed.output


def test_backoff_grows_to_its_cap() -> None:
    assert [outbox.backoff(n).total_seconds() for n in (1, 2, 3, 9, 50)] == [2, 4, 8, 300, 300]


def test_errors_are_kept_without_tokens_or_numbers() -> None:
    scrubbed = outbox.scrub("POST /bot123456:ABC-def_ghi/sendMessage chat 13812345678 failed")
    assert "123456:ABC" not in scrubbed and "13812345678" not in scrubbed


async def test_one_chat_waiting_for_its_next_second_holds_up_no_other_chat(
    services: Services,
) -> None:
    """Telegram allows one message a second per chat: a person's second notice waits for its
    second, and a notice for someone else queued meanwhile goes out at once, not after it."""
    busy, other = await on_telegram(services), await on_telegram(services, CHAT + 1)
    await queue(services, busy, accepted(1), "k1")
    await queue(services, busy, accepted(2), "k2")
    async with FakeTelegramAPI() as fake, fake.bot() as bot:
        sender = make_sender(services, bot, limiter=RateLimiter(30, 1.0))
        services.sessions.on_queued = sender.wake  # as `pingan run` wires it
        running = asyncio.ensure_future(sender.run())
        try:
            first = await fake.wait_for_sent(CHAT, text_contains=number(1), since=0)
            await queue(services, other, accepted(3), "k3", chat=CHAT + 1)
            queued_at = asyncio.get_running_loop().time()
            elsewhere = await fake.wait_for_sent(CHAT + 1, text_contains=number(3), since=0)
            second = await fake.wait_for_sent(CHAT, text_contains=number(2), since=0)
        finally:
            running.cancel()
            await asyncio.wait({running})
    assert elsewhere.at - queued_at < 0.5  # not held behind the busy chat's next second
    assert elsewhere.at < second.at
    assert second.at - first.at >= 0.95  # the busy chat still gets one a second
