"""Notices: queued once, sent once, within Telegram's rules (429 retry_after, 403 blocked)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import func, select

from dialogs.base import Services
from dispatch import outbox
from dispatch.clock import FrozenClock
from dispatch.messages import Reply
from dispatch.people import person_for
from handlers.sender import OutboxSender, RateLimiter, interleaved
from handlers.telegram import TelegramTransport
from storage.models import Identity, OutboxMessage
from tests.fakes.telegram_api import FakeTelegramAPI

CHAT = 8001


async def a_person_on_telegram(services: Services, *, also_console: bool = False) -> int:
    async with services.sessions() as session, session.begin():
        person, _ = await person_for(session, services.clock, "telegram", str(CHAT), str(CHAT))
        if also_console:
            clock = services.clock
            assert isinstance(clock, FrozenClock)
            clock.advance(timedelta(seconds=-60))  # used earlier than Telegram
            session.add(
                Identity(
                    person_id=person.id,
                    channel="console",
                    user_ref="c",
                    chat_ref="c",
                    last_seen_at=services.clock.now(),
                )
            )
            clock.advance(timedelta(seconds=60))
        return person.id


async def queue(services: Services, person_id: int, key: str) -> int | None:
    async with services.sessions() as session, session.begin():
        return await outbox.enqueue(
            session,
            services.clock,
            person_id,
            Reply("notice.accepted", {"number": "2026-000001", "unit": "曼听社区人民调解委员会"}),
            purpose="accepted",
            dedupe_key=key,
        )


def sender(services: Services, bot) -> OutboxSender:
    return OutboxSender(
        services.sessions, services.clock, TelegramTransport(bot), limiter=RateLimiter(1000, 0)
    )


async def statuses(services: Services) -> list[tuple[str, str | None]]:
    async with services.sessions() as session:
        rows = await session.execute(
            select(OutboxMessage.status, OutboxMessage.channel).order_by(OutboxMessage.id)
        )
        return [tuple(r) for r in rows.all()]  # type: ignore[misc]


async def test_the_same_cause_queues_one_notice(services: Services) -> None:
    person_id = await a_person_on_telegram(services)
    assert await queue(services, person_id, "accepted:1") is not None
    assert await queue(services, person_id, "accepted:1") is None
    async with services.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(OutboxMessage)) == 1


async def test_429_is_retried_after_the_time_telegram_asks(
    services: Services, clock: FrozenClock
) -> None:
    person_id = await a_person_on_telegram(services)
    await queue(services, person_id, "k1")
    async with FakeTelegramAPI() as fake, fake.bot() as bot:
        fake.fail_next("sendMessage", error_code=429, retry_after=7)
        drain = sender(services, bot)
        assert await drain.drain_once() == 1
        assert await statuses(services) == [("pending", "telegram")]
        clock.advance(timedelta(seconds=6))
        assert await drain.drain_once() == 0  # not yet
        clock.advance(timedelta(seconds=2))
        assert await drain.drain_once() == 1
        assert await statuses(services) == [("sent", "telegram")]
        assert len(fake.sent(CHAT)) == 1


async def drain_with_telegram_refusing(services: Services) -> None:
    """One pass of the sender while Telegram answers 403 (the person blocked the bot)."""
    async with FakeTelegramAPI() as fake, fake.bot() as bot:
        fake.fail_next("sendMessage", error_code=403)
        await sender(services, bot).drain_once()


async def test_403_marks_the_person_unreachable_and_uses_their_other_channel(
    services: Services,
) -> None:
    person_id = await a_person_on_telegram(services, also_console=True)
    await queue(services, person_id, "k1")
    await drain_with_telegram_refusing(services)
    assert await statuses(services) == [("pending", "console")]
    async with services.sessions() as session:
        identity = await session.scalar(select(Identity).where(Identity.channel == "telegram"))
        assert identity is not None and identity.unreachable_at is not None
    # A later notice goes straight to the channel that works.
    await queue(services, person_id, "k2")
    assert (await statuses(services))[1] == ("pending", "console")


async def test_403_with_no_other_channel_fails_visibly(services: Services) -> None:
    person_id = await a_person_on_telegram(services)
    await queue(services, person_id, "k1")
    await drain_with_telegram_refusing(services)
    async with services.sessions() as session:
        row = await session.scalar(select(OutboxMessage))
        assert row is not None and row.status == "failed" and "blocked" in (row.last_error or "")


async def test_two_senders_never_send_a_notice_twice(services: Services) -> None:
    person_id = await a_person_on_telegram(services)
    for i in range(30):
        await queue(services, person_id, f"k{i}")
    async with FakeTelegramAPI() as fake, fake.bot() as bot:
        one, two = sender(services, bot), sender(services, bot)
        await asyncio.gather(one.drain_once(limit=20), two.drain_once(limit=20))
        await asyncio.gather(one.drain_once(limit=20), two.drain_once(limit=20))
        assert len(fake.sent(CHAT)) == 30
    assert {s for s, _ in await statuses(services)} == {"sent"}


async def test_a_notice_for_someone_unreachable_is_kept_as_failed(services: Services) -> None:
    async with services.sessions() as session, session.begin():
        person, identity = await person_for(session, services.clock, "telegram", "9", "9")
        identity.unreachable_at = services.clock.now()
        person_id = person.id
    await queue(services, person_id, "k")
    async with services.sessions() as session:
        row = await session.scalar(select(OutboxMessage))
        assert (
            row is not None and row.status == "failed" and row.last_error == "no reachable channel"
        )


async def test_rate_limiter_spaces_messages_to_one_chat() -> None:
    now = [0.0]
    slept: list[float] = []
    limiter = RateLimiter(per_second=30, per_chat_interval=1.0, monotonic=lambda: now[0])

    async def fake_sleep(seconds: float) -> None:
        slept.append(seconds)

    original = asyncio.sleep
    asyncio.sleep = fake_sleep  # type: ignore[assignment]
    try:
        await limiter.wait("a")
        await limiter.wait("b")
        await limiter.wait("a")
    finally:
        asyncio.sleep = original
    assert slept[0] == 1 / 30  # another chat only keeps the overall pace (30 a second)
    assert slept[1] == 1.0  # the same chat waits a second


def test_notices_are_interleaved_by_chat() -> None:
    batch = [
        outbox.Claimed(i, 1, "telegram", chat, Reply("k"), None, 1)
        for i, chat in enumerate(["a", "a", "a", "b", "c"])
    ]
    assert [n.chat_ref for n in interleaved(batch)] == ["a", "b", "c", "a", "a"]
