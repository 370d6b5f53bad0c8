"""Drains the outbox for one channel, within the platform's limits.

Telegram allows about 30 messages a second overall and one a second per chat; a 429
answer carries `retry_after`, which we honour; a 403 means the person blocked the bot.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Protocol

from dispatch import outbox
from dispatch.clock import Clock
from dispatch.messages import Reply
from storage.database import Sessions

log = logging.getLogger(__name__)


class DeliveryRetry(Exception):
    """Try again later (rate limited, network trouble)."""

    def __init__(self, seconds: float, reason: str) -> None:
        super().__init__(reason)
        self.seconds = seconds


class DeliveryWaiting(DeliveryRetry):
    """The platform will take no message now (WeChat's 48-hour window) and there is no
    fallback: keep the notice until the person writes again, then deliver it."""


class DeliveryBlocked(Exception):
    """The person blocked us on this channel."""


class DeliveryFailed(Exception):
    """The platform refused this message for good (bad request)."""


class Transport(Protocol):
    channel: str

    async def deliver(self, chat_ref: str, reply: Reply, locale: str, notice_id: int = 0) -> str:
        """Send one notice; return the platform's message id (for replies to it)."""
        ...


class RateLimiter:
    """Spacing between sends: overall and per chat."""

    def __init__(
        self,
        per_second: float,
        per_chat_interval: float,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.interval = 1.0 / per_second
        self.per_chat = per_chat_interval
        self._monotonic = monotonic
        self._next_any = 0.0
        self._next_chat: dict[str, float] = {}

    async def wait(self, chat_ref: str) -> None:
        now = self._monotonic()
        at = max(now, self._next_any, self._next_chat.get(chat_ref, 0.0))
        self._next_any = at + self.interval
        self._next_chat[chat_ref] = at + self.per_chat
        if len(self._next_chat) > 10_000:  # forget chats whose spacing has long passed
            self._next_chat = {c: t for c, t in self._next_chat.items() if t > now}
        if at > now:
            await asyncio.sleep(at - now)


def interleaved(batch: list[outbox.Claimed]) -> list[outbox.Claimed]:
    """Round-robin by chat, so that one busy chat's one-a-second pace does not hold up others."""
    queues: dict[str, deque[outbox.Claimed]] = {}
    for notice in batch:
        queues.setdefault(notice.chat_ref, deque()).append(notice)
    ordered: list[outbox.Claimed] = []
    while queues:
        for chat in list(queues):
            ordered.append(queues[chat].popleft())
            if not queues[chat]:
                del queues[chat]
    return ordered


class OutboxSender:
    def __init__(
        self,
        sessions: Sessions,
        clock: Clock,
        transport: Transport,
        *,
        limiter: RateLimiter | None = None,
        default_locale: str = "zh_CN",
        person_id: int | None = None,
        poll_seconds: float = 1.0,
        quiet: Callable[[datetime], bool] | None = None,
    ) -> None:
        self.sessions = sessions
        self.clock = clock
        self.transport = transport
        self.limiter = limiter or RateLimiter(per_second=30, per_chat_interval=1.0)
        self.default_locale = default_locale
        self.person_id = person_id
        self.poll_seconds = poll_seconds
        # Quiet hours (22:00-07:30 by default): only urgent notices go out.
        self.quiet = quiet
        self.wakeup = asyncio.Event()

    def wake(self) -> None:
        self.wakeup.set()

    async def run(self) -> None:
        """Send until cancelled. A failure in one round is logged; the loop goes on."""
        async with self.sessions() as session, session.begin():
            abandoned = await outbox.fail_abandoned(session, self.clock)
        if abandoned:
            log.warning(
                "%d notices were left mid-send by a stopped sender; marked failed", abandoned
            )
        while True:
            try:
                sent = await self.drain_once()
            except Exception:
                log.exception("outbox round failed; retrying")
                sent = 0
            if sent == 0:
                # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation
                # that arrives as the event fires, and then the sender never stops.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.poll_seconds):
                        await self.wakeup.wait()
                self.wakeup.clear()

    async def drain_once(self, limit: int = 50) -> int:
        """Claim and send one batch; returns how many were attempted."""
        async with self.sessions() as session, session.begin():
            quiet = self.quiet is not None and self.quiet(self.clock.now())
            batch = await outbox.claim(
                session,
                self.clock,
                self.transport.channel,
                limit=limit,
                person_id=self.person_id,
                urgent_only=quiet,
            )
        for notice in interleaved(batch):
            await self.limiter.wait(notice.chat_ref)
            await self._send(notice)
        return len(batch)

    async def _send(self, notice: outbox.Claimed) -> None:
        locale = notice.locale or self.default_locale
        try:
            sent_ref = await self.transport.deliver(
                notice.chat_ref, notice.reply, locale, notice.id
            )
        except DeliveryWaiting as waiting:
            async with self.sessions() as session, session.begin():
                await outbox.park(session, notice.id, str(waiting))
            return
        except DeliveryRetry as retry:
            async with self.sessions() as session, session.begin():
                # Back off exponentially when the platform gave no hint.
                seconds = retry.seconds or min(2**notice.attempts, 300)
                await outbox.mark_retry(
                    session, notice, self.clock.now() + timedelta(seconds=seconds), str(retry)
                )
            return
        except DeliveryBlocked as blocked:
            async with self.sessions() as session, session.begin():
                await outbox.mark_unreachable(session, self.clock, notice)
            log.info("person %s blocked us on %s: %s", notice.person_id, notice.channel, blocked)
            return
        except DeliveryFailed as failed:
            async with self.sessions() as session, session.begin():
                await outbox.mark_failed(session, notice.id, str(failed))
            log.warning("notice %s refused: %s", notice.id, failed)
            return
        except Exception as exc:  # network down, platform 5xx: keep it and try again
            log.warning("notice %s not sent: %r", notice.id, exc)
            async with self.sessions() as session, session.begin():
                seconds = min(2**notice.attempts, 300)
                await outbox.mark_retry(
                    session, notice, self.clock.now() + timedelta(seconds=seconds), repr(exc)
                )
            return
        async with self.sessions() as session, session.begin():
            await outbox.mark_sent(session, self.clock, notice.id, sent_ref)
