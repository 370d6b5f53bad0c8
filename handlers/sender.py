"""Drains the outbox for one channel, within the platform's limits.

Telegram allows about 30 messages a second overall and one a second per chat; a 429
answer carries `retry_after`, which we honour (a wait, not a failed try); a 403 means the
person blocked the bot. The delivery rules (claims, leases, parts, retries, doubt) are
described in dispatch/outbox.py; this module drives them:

- Each round reclaims expired leases, reports urgent notices that are late, then lists due
  notices, interleaves them by chat and, for each, waits for the rate limiter, claims it
  and sends it. Nothing is claimed that is not about to be sent.
- A failed try that counts (network, 5xx) ends the round and pauses the channel briefly
  (the platform is probably down: the other notices would fail the same way). 429 holds
  that chat for the rest of the round.
- Stopping (the task cancelled on SIGTERM/SIGINT): the call in flight is allowed to finish
  for up to `stop_grace` seconds and its outcome is recorded; if it does not finish, it is
  in doubt (resent once, marked). Anything else claimed is given back as pending.

Log lines (logger "handlers.sender", for operators and the fault benchmark): "sender
started", "sent notice N", "notice N: 429", "notice N: try K failed", "notice N: gave up",
"in doubt", "stopping", "sender stopped".
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol, TypeVar

from dispatch import outbox
from dispatch.clock import Clock
from dispatch.messages import Reply
from storage.database import Sessions

log = logging.getLogger(__name__)

T = TypeVar("T")


class DeliveryRetry(Exception):
    """Try again later: network trouble, the platform busy or down (a failed try that
    counts towards the retry horizon)."""

    def __init__(self, seconds: float, reason: str) -> None:
        super().__init__(reason)
        self.seconds = seconds


class DeliveryRateLimited(DeliveryRetry):
    """The platform asked us to wait `seconds` (Telegram's 429 retry_after): a wait, never
    a failed try."""


class DeliveryWaiting(DeliveryRetry):
    """The platform will take no message now (WeChat's 48-hour window) and there is no
    fallback: keep the notice until the person writes again, then deliver it."""


class DeliveryBlocked(Exception):
    """The person blocked us on this channel."""


class DeliveryFailed(Exception):
    """The platform refused this message for good (bad request)."""


class DeliveryTimedOut(Exception):
    """Our own limit on one send call ran out: it may or may not have reached the person."""


@dataclass
class Progress:
    """How far a notice's delivery has got, for a transport that sends it in parts.

    Parts are numbered from 0 in the order the transport sends them (its images, then the
    pieces of its text), and must come out the same on every try. The transport skips the
    parts below `start`, and after delivering part i awaits `sent(i, ref, last=...)`. When
    `resent` is set, an earlier send was left in doubt: the transport puts the "sent again"
    marker (locale key "outbox.resent") on the first text part it sends.
    """

    start: int = 0
    resent: bool = False
    on_part: Callable[[int, str, bool], Awaitable[None]] | None = None
    done: int = 0

    def __post_init__(self) -> None:
        self.done = max(self.done, self.start)

    async def sent(self, index: int, ref: str, *, last: bool = False) -> None:
        self.done = index + 1
        if self.on_part is not None:
            await self.on_part(self.done, ref, last)


@dataclass(frozen=True)
class Outgoing:
    """One notice for a transport: whom, what, in which language, and how far it got."""

    chat_ref: str
    reply: Reply
    locale: str
    notice_id: int = 0  # 0: not from the outbox
    progress: Progress = field(default_factory=Progress)


class Transport(Protocol):
    channel: str

    async def deliver(self, out: Outgoing) -> str:
        """Send one notice (from `out.progress.start` on); return the platform's id of its last
        part (for replies to it), or "" when every part had been sent before."""
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

    def chat_delay(self, chat_ref: str) -> float:
        """Seconds until `chat_ref` may be sent to again (0: now)."""
        return max(0.0, self._next_chat.get(chat_ref, 0.0) - self._monotonic())

    async def wait(self, chat_ref: str) -> None:
        now = self._monotonic()
        at = max(now, self._next_any, self._next_chat.get(chat_ref, 0.0))
        self._next_any = at + self.interval
        self._next_chat[chat_ref] = at + self.per_chat
        if len(self._next_chat) > 10_000:  # forget chats whose spacing has long passed
            self._next_chat = {c: t for c, t in self._next_chat.items() if t > now}
        if at > now:
            await asyncio.sleep(at - now)


class _HasChat(Protocol):
    @property
    def chat_ref(self) -> str: ...


C = TypeVar("C", bound=_HasChat)


def interleaved(batch: Iterable[C]) -> list[C]:
    """Round-robin by chat, so that one busy chat's one-a-second pace does not hold up others."""
    queues: dict[str, deque[C]] = {}
    for notice in batch:
        queues.setdefault(notice.chat_ref, deque()).append(notice)
    ordered: list[C] = []
    while queues:
        for chat in list(queues):
            ordered.append(queues[chat].popleft())
            if not queues[chat]:
                del queues[chat]
    return ordered


async def _finish(work: Awaitable[T], *, then_cancel: bool) -> T:
    """Await `work` to its end even if this task is cancelled meanwhile: the bookkeeping of
    a send must not be cut in half. With `then_cancel`, a cancellation that arrived
    meanwhile is raised afterwards; without, the caller is already on its way out."""
    task = asyncio.ensure_future(work)  # kept and awaited here, never left behind
    cancelled = False
    while not task.done():
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            cancelled = True
        except Exception:
            break
    if cancelled and then_cancel:
        raise asyncio.CancelledError
    return task.result()


# Outcomes of one send, for the round.
SENT, WAIT, RETRY, OTHER = "sent", "wait", "retry", "other"
# A channel that failed keeps quiet at most this long before the next round tries again.
CHANNEL_PAUSE_CAP = timedelta(seconds=60)


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
        lease: timedelta = outbox.SENDING_LEASE,
        retry_horizon: timedelta = outbox.RETRY_HORIZON,
        backoff_cap: timedelta = outbox.BACKOFF_CAP,
        urgent_delay: timedelta = outbox.URGENT_DELAY,
        stop_grace: float = 4.0,
    ) -> None:
        self.sessions = sessions
        self.clock = clock
        self.transport = transport
        self.channel = transport.channel
        self.limiter = limiter or RateLimiter(per_second=30, per_chat_interval=1.0)
        self.default_locale = default_locale
        self.person_id = person_id
        self.poll_seconds = poll_seconds
        # Quiet hours (22:00-07:30 by default): only urgent notices and replies go out.
        self.quiet = quiet
        self.lease = lease
        # One send call may take this long (its lease is renewed after each part): well
        # inside the lease, so that no other sender reclaims a notice still in flight.
        self.call_budget = lease.total_seconds() * 0.75
        self.retry_horizon = retry_horizon
        self.backoff_cap = backoff_cap
        self.urgent_delay = urgent_delay
        self.stop_grace = stop_grace
        self.wakeup = asyncio.Event()
        self._claimed: set[int] = set()
        self._failures_in_a_row = 0
        self._paused_until: datetime | None = None
        # Seconds until the nearest chat left for a later round (drain_once) may be sent to.
        self._next_slot: float | None = None

    def wake(self) -> None:
        self.wakeup.set()

    async def run(self) -> None:
        """Send until cancelled. A failure in one round is logged; the loop goes on."""
        log.info("%s sender started (lease %ss)", self.channel, self.lease.total_seconds())
        try:
            while True:
                try:
                    sent = await self.drain_once()
                except Exception:
                    log.exception("%s outbox round failed; retrying", self.channel)
                    sent = 0
                if sent == 0:
                    # A chat left for its next slot is due again then; otherwise the poll.
                    idle = self.poll_seconds
                    if self._next_slot is not None:
                        idle = min(idle, self._next_slot)
                    # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a
                    # cancellation that arrives as the event fires, and then the sender
                    # never stops.
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(idle):
                            await self.wakeup.wait()
                    self.wakeup.clear()
        finally:
            given_back = await _finish(self._give_back(), then_cancel=False)
            log.info("%s sender stopped; %d claimed notices given back", self.channel, given_back)

    async def _give_back(self) -> int:
        if not self._claimed:
            return 0
        async with self.sessions() as session, session.begin():
            count = await outbox.release(session, self._claimed)
        self._claimed.clear()
        return count

    async def drain_once(self, limit: int = 50) -> int:
        """One round: reclaim expired leases, report late urgent notices, then send up to
        `limit` due notices, each claimed just before its send. Returns how many were tried.
        """
        now = self.clock.now()
        async with self.sessions() as session, session.begin():
            expired = await outbox.reclaim_expired(session, self.clock, self.channel)
        if expired:
            log.warning(
                "%s notices %s were in flight when their sender stopped: in doubt, resent"
                " once marked (held as in_doubt if it happens again)",
                self.channel,
                expired,
            )
        await self._report_delays()
        if self._paused_until is not None and now < self._paused_until:
            return 0
        async with self.sessions() as session, session.begin():
            quiet = self.quiet is not None and self.quiet(now)
            batch = await outbox.due(
                session,
                self.clock,
                self.channel,
                limit=limit,
                person_id=self.person_id,
                quiet=quiet,
            )
        tried = 0
        held: set[str] = set()
        self._next_slot = None
        for item in interleaved(batch):
            if item.chat_ref in held:
                continue
            # A chat whose one-a-second slot has not come yet is left for a later round
            # rather than waited for here: waiting would hold up every other chat behind it
            # (a receipt and its menu, then the next person's receipt a second late).
            delay = self.limiter.chat_delay(item.chat_ref)
            if delay > 0:
                held.add(item.chat_ref)
                self._next_slot = min(self._next_slot or delay, delay)
                continue
            await self.limiter.wait(item.chat_ref)
            async with self.sessions() as session, session.begin():
                notice = await outbox.claim_one(session, self.clock, item.id, self.lease)
                if notice is not None:
                    self._claimed.add(notice.id)
            if notice is None:
                continue  # another sender took it, or it was deferred meanwhile
            tried += 1
            outcome = await self._send(notice)
            self._claimed.discard(notice.id)
            if outcome == WAIT:
                held.add(notice.chat_ref)
            elif outcome == RETRY:
                break
        return tried

    async def _report_delays(self) -> None:
        try:
            async with self.sessions() as session, session.begin():
                reports = await outbox.report_urgent_delays(
                    session, self.clock, self.channel, self.urgent_delay
                )
        except Exception:  # telling the centre must not stop delivery
            log.exception("%s: reporting late urgent notices failed", self.channel)
            return
        for report in reports:
            if report.told:
                log.warning(
                    "urgent notice %s (case %s) late on %s: %d centre dispatchers told on"
                    " another channel",
                    report.notice_id,
                    report.case_number,
                    self.channel,
                    report.told,
                )
            else:
                log.warning(
                    "urgent notice %s (case %s) late on %s and no centre dispatcher is"
                    " reachable on another channel (see `pingan outbox list`)",
                    report.notice_id,
                    report.case_number,
                    self.channel,
                )

    async def _send(self, notice: outbox.Claimed) -> str:
        """Send one claimed notice and record what happened. If the sender is cancelled
        meanwhile, the call is given `stop_grace` seconds to finish, its outcome recorded,
        and the cancellation goes on."""
        progress = Progress(
            start=notice.parts_sent,
            resent=notice.resent,
            on_part=lambda done, ref, last: self._record_part(notice.id, done, ref, last),
        )
        call = asyncio.ensure_future(self._call(notice, progress))  # awaited below
        try:
            await asyncio.wait({call})
        except asyncio.CancelledError:
            await _finish(self._stopping_during(notice, call), then_cancel=False)
            raise
        return await _finish(self._settle(notice, call), then_cancel=True)

    async def _stopping_during(self, notice: outbox.Claimed, call: asyncio.Future[str]) -> None:
        """Stopping with a call in flight: give it `stop_grace` seconds, then record its
        outcome; a call still running then is cut off and in doubt."""
        log.info(
            "stopping: letting the send of notice %s finish (%ss at most)",
            notice.id,
            self.stop_grace,
        )
        await asyncio.wait({call}, timeout=self.stop_grace)
        if call.done():
            await self._settle(notice, call)
        else:
            call.cancel()
            await asyncio.wait({call})
            await self._in_doubt(notice, "sender stopped mid-send")
        self._claimed.discard(notice.id)

    async def _call(self, notice: outbox.Claimed, progress: Progress) -> str:
        locale = notice.locale or self.default_locale
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self.call_budget) as budget:
                on_part = progress.on_part

                async def renewed(done: int, ref: str, last: bool) -> None:
                    budget.reschedule(loop.time() + self.call_budget)
                    if on_part is not None:
                        await on_part(done, ref, last)

                progress.on_part = renewed
                return await self.transport.deliver(
                    Outgoing(notice.chat_ref, notice.reply, locale, notice.id, progress)
                )
        except TimeoutError as exc:
            raise DeliveryTimedOut(f"no answer in {self.call_budget:g}s") from exc

    async def _record_part(self, notice_id: int, done: int, ref: str, last: bool) -> None:
        if last:
            return  # mark_sent follows at once
        async with self.sessions() as session, session.begin():
            await outbox.record_parts(session, self.clock, notice_id, done, self.lease, ref)

    async def _in_doubt(self, notice: outbox.Claimed, reason: str) -> None:
        async with self.sessions() as session, session.begin():
            resent = await outbox.mark_in_doubt(session, [notice.id], reason)
        log.warning(
            "notice %s in doubt (%s): %s",
            notice.id,
            reason,
            "will be resent once, marked" if resent else "held as in_doubt",
        )

    async def _settle(self, notice: outbox.Claimed, call: asyncio.Future[str]) -> str:
        """Record the outcome of a finished send call; returns SENT, WAIT, RETRY or OTHER."""
        now = self.clock.now()
        error = call.exception()
        if error is None:
            async with self.sessions() as session, session.begin():
                await outbox.mark_sent(session, self.clock, notice.id, call.result())
            self._failures_in_a_row = 0
            self._paused_until = None
            log.info("sent notice %s on %s", notice.id, self.channel)
            return SENT
        if isinstance(error, DeliveryWaiting):
            async with self.sessions() as session, session.begin():
                await outbox.park(session, notice.id, str(error), now)
            log.info("notice %s waits for the person to write: %s", notice.id, error)
            return OTHER
        if isinstance(error, DeliveryRateLimited):
            until = now + timedelta(seconds=max(error.seconds, 1))
            async with self.sessions() as session, session.begin():
                await outbox.wait(session, self.clock, notice, until, str(error))
            log.info("notice %s: 429, waiting %ss (not a failed try)", notice.id, error.seconds)
            return WAIT
        if isinstance(error, DeliveryBlocked):
            async with self.sessions() as session, session.begin():
                await outbox.mark_unreachable(session, self.clock, notice)
            log.info("person %s blocked us on %s: %s", notice.person_id, notice.channel, error)
            return OTHER
        if isinstance(error, DeliveryFailed):
            async with self.sessions() as session, session.begin():
                await outbox.mark_failed(session, self.clock, notice.id, str(error))
            log.warning("notice %s refused for good: %s", notice.id, outbox.scrub(str(error)))
            return OTHER
        if isinstance(error, DeliveryTimedOut):
            await self._in_doubt(notice, str(error))
            return RETRY
        # DeliveryRetry, or anything a transport did not classify (network down, 5xx).
        reason = str(error) if isinstance(error, DeliveryRetry) else type(error).__name__
        async with self.sessions() as session, session.begin():
            kept = await outbox.mark_retry(
                session,
                self.clock,
                notice,
                reason,
                horizon=self.retry_horizon,
                cap=self.backoff_cap,
            )
        if kept:
            log.warning(
                "notice %s: try %d failed, next in %ss: %s",
                notice.id,
                notice.attempts + 1,
                outbox.backoff(notice.attempts + 1, self.backoff_cap).total_seconds(),
                outbox.scrub(reason),
            )
        else:
            log.error(
                "notice %s: gave up after %d tries (horizon %s): %s",
                notice.id,
                notice.attempts + 1,
                self.retry_horizon,
                outbox.scrub(reason),
            )
        self._failures_in_a_row += 1
        pause = min(outbox.backoff(self._failures_in_a_row), CHANNEL_PAUSE_CAP)
        self._paused_until = now + pause
        return RETRY
