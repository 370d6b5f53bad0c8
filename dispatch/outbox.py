"""Notices to people: rows written in the same transaction as their cause, drained by senders.

A notice is keyed by a dedupe key, so replaying a cause (a retried message, a sweep run
twice) enqueues it once. A fresh notice is due at once (`not_before` NULL), whatever the
domain clock read when it was written: `pingan jobs run NAME --at ISO` replays a job "as of"
another time, and what it produces still goes out now. Only a sender's own waits (a 429's
`retry_after`, a backoff) put a time in `not_before`, from the sender's clock.

Delivery, as handlers/sender.py drives it:

- **Claimed just in time.** A sender lists due notices, paces them per chat, and claims each
  one (status `sending`, a lease in `lease_until`, with a compare-and-set on the status) only
  right before its send call. So two senders never send one notice, and a sender that dies
  leaves at most the one call it had in flight in doubt; everything it had not reached is
  still `pending`. A graceful stop gives back what it claimed (`release`).
- **Parts.** A notice longer than one message goes in parts; `parts_sent` counts those
  delivered, and a later try resumes at the first part not sent. No part is sent twice
  except the one in flight when a sender died.
- **Leases are reclaimed every round** (`reclaim_expired`). A notice whose lease expired was
  in flight when its sender died (kill -9, power loss) or hung: the platform may or may not
  have shown it. We send it again, once, marked "sent again: if you already have this,
  ignore it" (`doubts` counts such events). A duplicate is the lesser harm here: every
  button on a notice is re-checked by the domain (accepting an offer twice takes it once),
  while a lost offer or receipt leaves a person waiting for a case that nobody follows up
  until the sweep's clock runs out. If the resend is itself left in doubt, the notice stops
  at status `in_doubt` rather than risk a third copy: `pingan outbox list` shows it, with
  every resent one, and `pingan outbox retry ID` sends it again when an operator decides.
- **Failures.** A 429 is a wait, never a failed try (`wait`). Network trouble and 5xx count
  as tries (`attempts`) and back off exponentially up to BACKOFF_CAP, until the retry horizon
  (24 h by default) after the first try that did not deliver (`first_failed_at`); past it the
  notice is `failed`. A permanent refusal (400) fails at once; a 403 (blocked) moves the
  notice to the person's other channel (`mark_unreachable`).
- **Urgent and late.** An urgent notice undelivered longer than a threshold after its first
  failed try is reported to its case's centre dispatchers on another channel
  (`report_urgent_delays`, purpose "delivery_delayed"); `delay_told` records how many were
  told (0: nobody reachable elsewhere, shown by `pingan outbox list`).
- **Replies** (purpose "reply": what answers a person's own message, queued by an adapter
  when its direct send failed) are never held by quiet hours.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, func, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from dispatch.clock import Clock, as_utc
from dispatch.messages import Reply
from dispatch.people import reachable_identity
from storage.database import WAKE
from storage.models import Case, Identity, OutboxMessage, Person
from storage.upserts import insert_ignoring_conflict

# A sender holds a claimed notice this long (renewed after each part it delivers). Its send
# call is cut off well before (handlers/sender.py), so only a dead or frozen sender lets a
# lease run out.
SENDING_LEASE = timedelta(minutes=2)
RETRY_HORIZON = timedelta(hours=24)
BACKOFF_FIRST = timedelta(seconds=2)
BACKOFF_CAP = timedelta(minutes=5)
URGENT_DELAY = timedelta(minutes=10)
# How many sends left in doubt are resent (marked) before the notice waits for an operator.
DOUBT_RESENDS = 1
REPLY = "reply"
DELIVERY_DELAYED = "delivery_delayed"
# Statuses `pingan outbox retry` puts back in the queue.
RETRYABLE = ("failed", "in_doubt")


@dataclass(frozen=True, slots=True)
class Due:
    """A notice that may be sent now (not claimed yet)."""

    id: int
    chat_ref: str


@dataclass(frozen=True, slots=True)
class Claimed:
    id: int
    person_id: int
    channel: str
    chat_ref: str
    reply: Reply
    locale: str | None
    # Tries that failed and counted so far (network trouble, 5xx).
    attempts: int
    parts_sent: int = 0
    # An earlier send was left in doubt: this one is marked as sent again.
    resent: bool = False
    first_failed_at: datetime | None = None
    purpose: str = ""


# PostgreSQL channel on which a unit of work that queued a notice says so (delivered at its
# commit); the active worker listens on it (bot/roles.py), so a notice queued by a web
# process is sent without waiting for the worker's next poll.
NOTIFY_CHANNEL = "pingan_outbox"
_NOTIFIED = "pingan_notified"


async def announce_queued(session: AsyncSession) -> None:
    """Something is due to send once this unit of work commits: wake this process's sender
    after the commit (storage.database.WAKE) and, on PostgreSQL, every listening worker (one
    NOTIFY per transaction; PostgreSQL delivers it at commit and drops it on rollback)."""
    session.info[WAKE] = True
    transaction = session.get_transaction()
    bind = session.bind
    if (
        bind is not None
        and bind.dialect.name == "postgresql"
        and session.info.get(_NOTIFIED) is not transaction
    ):
        await session.execute(text(f"NOTIFY {NOTIFY_CHANNEL}"))
        session.info[_NOTIFIED] = transaction


def _due_now(now: datetime) -> ColumnElement[bool]:
    return or_(OutboxMessage.not_before.is_(None), OutboxMessage.not_before <= now)


async def enqueue(
    session: AsyncSession,
    clock: Clock,
    person_id: int,
    reply: Reply,
    *,
    purpose: str,
    dedupe_key: str,
    case_id: int | None = None,
    offer_id: int | None = None,
    urgent: bool = False,
    channel: str | None = None,
    chat_ref: str | None = None,
) -> int | None:
    """Queue a notice; None if its dedupe key was queued before.

    It goes to the person's most recent reachable channel, or to `channel` (their identity
    there) and `chat_ref` when given: a reply goes to the chat that wrote. It is due at
    once; `clock` only dates it.
    """
    if channel is not None and chat_ref is not None:
        target: tuple[str, str] | None = (channel, chat_ref)
    else:
        identity = await _identity(session, person_id, channel)
        target = (identity.channel, identity.chat_ref) if identity is not None else None
    new_id = await insert_ignoring_conflict(
        session,
        OutboxMessage.__table__,  # type: ignore[arg-type]
        {
            "dedupe_key": dedupe_key[:128],
            "person_id": person_id,
            "case_id": case_id,
            "offer_id": offer_id,
            "purpose": purpose,
            "urgent": urgent,
            "reply": reply.to_json(),
            "status": "pending" if target else "failed",
            "created_at": clock.now(),
            "not_before": None,
            "attempts": 0,
            "parts_sent": 0,
            "doubts": 0,
            "channel": target[0] if target else None,
            "chat_ref": target[1] if target else None,
            "last_error": None if target else "no reachable channel",
        },
        key="dedupe_key",
    )
    if new_id is not None and target is not None:
        await announce_queued(session)
    return new_id


async def _identity(session: AsyncSession, person_id: int, channel: str | None) -> Identity | None:
    if channel is None:
        return await reachable_identity(session, person_id)
    return await session.scalar(
        select(Identity)
        .where(
            Identity.person_id == person_id,
            Identity.channel == channel,
            Identity.unreachable_at.is_(None),
        )
        .order_by(Identity.last_seen_at.desc(), Identity.id.desc())
        .limit(1)
    )


async def due(
    session: AsyncSession,
    clock: Clock,
    channel: str,
    *,
    limit: int = 50,
    person_id: int | None = None,
    quiet: bool = False,
) -> list[Due]:
    """Pending notices for `channel` (optionally one person's) that may go now, oldest first.

    `quiet` (quiet hours): only urgent notices and replies; the rest wait until morning.
    """
    stmt = (
        select(OutboxMessage.id, OutboxMessage.chat_ref)
        .where(
            OutboxMessage.status == "pending",
            OutboxMessage.channel == channel,
            _due_now(clock.now()),
        )
        .order_by(OutboxMessage.id)
        .limit(limit)
    )
    if person_id is not None:
        stmt = stmt.where(OutboxMessage.person_id == person_id)
    if quiet:
        stmt = stmt.where(or_(OutboxMessage.urgent.is_(True), OutboxMessage.purpose == REPLY))
    return [Due(row.id, row.chat_ref or "") for row in (await session.execute(stmt)).all()]


async def claim_one(
    session: AsyncSession, clock: Clock, notice_id: int, lease: timedelta = SENDING_LEASE
) -> Claimed | None:
    """Take one notice for sending now, if it is still pending and due; None if another
    sender took it first (or it was deferred meanwhile)."""
    now = clock.now()
    won = await session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == notice_id, OutboxMessage.status == "pending", _due_now(now))
        .values(status="sending", lease_until=now + lease)
        .execution_options(synchronize_session=False)
    )
    if won.rowcount != 1:  # type: ignore[attr-defined]
        return None
    row, locale = (
        await session.execute(
            select(OutboxMessage, Person.locale)
            .join(Person, Person.id == OutboxMessage.person_id)
            .where(OutboxMessage.id == notice_id)
        )
    ).one()
    return Claimed(
        row.id,
        row.person_id,
        row.channel or "",
        row.chat_ref or "",
        Reply.from_json(row.reply),
        locale,
        row.attempts,
        row.parts_sent,
        row.doubts > 0,
        as_utc(row.first_failed_at) if row.first_failed_at is not None else None,
        row.purpose,
    )


async def claim(
    session: AsyncSession, clock: Clock, channel: str, *, lease: timedelta = SENDING_LEASE
) -> list[Claimed]:
    """Claim the first due notices at once (tests; the sender picks with `due()` and claims
    one at a time)."""
    found = await due(session, clock, channel)
    claimed = [await claim_one(session, clock, d.id, lease) for d in found]
    return [c for c in claimed if c is not None]


async def record_parts(
    session: AsyncSession,
    clock: Clock,
    notice_id: int,
    parts_sent: int,
    lease: timedelta,
    sent_ref: str = "",
) -> None:
    """`parts_sent` parts are delivered (the last of them as `sent_ref`); the lease runs
    again from now."""
    values: dict[str, object] = {"parts_sent": parts_sent, "lease_until": clock.now() + lease}
    if sent_ref:
        values["sent_ref"] = sent_ref
    await session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == notice_id, OutboxMessage.status == "sending")
        .values(**values)
        .execution_options(synchronize_session=False)
    )


async def mark_sent(session: AsyncSession, clock: Clock, notice_id: int, sent_ref: str) -> None:
    """Delivered; `sent_ref` is the platform's id of the last part ("" when every part had
    been delivered by an earlier try, whose last id is kept)."""
    values: dict[str, object] = {"sent_ref": sent_ref} if sent_ref else {}
    await session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == notice_id)
        .values(status="sent", sent_at=clock.now(), lease_until=None, last_error=None, **values)
        .execution_options(synchronize_session=False)
    )


async def release(session: AsyncSession, notice_ids: Iterable[int]) -> int:
    """A sender stopping gives back notices it claimed and did not send. Returns how many."""
    ids = list(notice_ids)
    if not ids:
        return 0
    result = await session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id.in_(ids), OutboxMessage.status == "sending")
        .values(status="pending", lease_until=None)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


async def wait(
    session: AsyncSession, clock: Clock, notice: Claimed, until: datetime, error: str
) -> None:
    """The platform asked us to wait (429 retry_after): not a failed try. The person's other
    pending notices on that chat wait as long, so that we do not knock again at once."""
    await session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == notice.id)
        .values(
            status="pending",
            not_before=until,
            lease_until=None,
            first_failed_at=func.coalesce(OutboxMessage.first_failed_at, clock.now()),
            last_error=scrub(error),
        )
        .execution_options(synchronize_session=False)
    )
    await session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.status == "pending",
            OutboxMessage.channel == notice.channel,
            OutboxMessage.chat_ref == notice.chat_ref,
            or_(OutboxMessage.not_before.is_(None), OutboxMessage.not_before < until),
        )
        .values(not_before=until)
        .execution_options(synchronize_session=False)
    )


def backoff(failures: int, cap: timedelta = BACKOFF_CAP) -> timedelta:
    """2 s, 4 s, 8 s, … up to `cap`, after the `failures`-th failed try."""
    delay: timedelta = BACKOFF_FIRST * 2 ** min(max(failures - 1, 0), 30)
    return min(delay, cap)


async def mark_retry(
    session: AsyncSession,
    clock: Clock,
    notice: Claimed,
    error: str,
    *,
    horizon: timedelta = RETRY_HORIZON,
    cap: timedelta = BACKOFF_CAP,
) -> bool:
    """A failed try that counts (network, 5xx): back off and keep the notice, or fail it once
    `horizon` has passed since its first failed try. Returns True if it stays queued."""
    now = clock.now()
    failures = notice.attempts + 1
    first = notice.first_failed_at or now
    keep = now - first < horizon
    values: dict[str, object] = {
        "attempts": failures,
        "lease_until": None,
        "first_failed_at": first,
    }
    if keep:
        values |= {
            "status": "pending",
            "not_before": now + backoff(failures, cap),
            "last_error": scrub(error),
        }
    else:
        hours = round(horizon.total_seconds() / 3600, 1)
        values |= {
            "status": "failed",
            "last_error": scrub(f"gave up after {failures} tries in {hours:g} h: {error}"),
        }
    await session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == notice.id)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return keep


async def mark_failed(session: AsyncSession, clock: Clock, notice_id: int, error: str) -> None:
    """The platform refused the notice for good (400): failed at once, and listed."""
    await session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == notice_id)
        .values(
            status="failed",
            lease_until=None,
            first_failed_at=func.coalesce(OutboxMessage.first_failed_at, clock.now()),
            last_error=scrub(error),
        )
        .execution_options(synchronize_session=False)
    )


async def mark_unreachable(session: AsyncSession, clock: Clock, notice: Claimed) -> None:
    """The person blocked us on this channel: note it, and move the notice to another channel
    (from its first part: the other channel has seen none of it)."""
    await session.execute(
        update(Identity)
        .where(
            Identity.person_id == notice.person_id,
            Identity.channel == notice.channel,
        )
        .values(unreachable_at=clock.now())
        .execution_options(synchronize_session=False)
    )
    other = await reachable_identity(session, notice.person_id)
    values: dict[str, object]
    if other is None:
        values = {
            "status": "failed",
            "first_failed_at": func.coalesce(OutboxMessage.first_failed_at, clock.now()),
            "last_error": f"{notice.channel}: blocked by the user",
        }
    else:
        values = {
            "status": "pending",
            "channel": other.channel,
            "chat_ref": other.chat_ref,
            "parts_sent": 0,
            "not_before": None,
            "last_error": f"{notice.channel}: blocked by the user; moved to {other.channel}",
        }
    await session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == notice.id)
        .values(lease_until=None, **values)
        .execution_options(synchronize_session=False)
    )


async def mark_in_doubt(session: AsyncSession, notice_ids: Sequence[int], reason: str) -> int:
    """Sends that may or may not have reached the person (see the module's docstring): the
    first time, queued again to be resent with a marker; after that, held as `in_doubt` for
    an operator. Returns how many are queued again."""
    if not notice_ids:
        return 0
    ids = list(notice_ids)
    resend = await session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.id.in_(ids),
            OutboxMessage.status == "sending",
            OutboxMessage.doubts < DOUBT_RESENDS,
        )
        .values(
            status="pending",
            lease_until=None,
            doubts=OutboxMessage.doubts + 1,
            last_error=f"in doubt ({reason}); resent marked",
        )
        .execution_options(synchronize_session=False)
    )
    await session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id.in_(ids), OutboxMessage.status == "sending")
        .values(
            status="in_doubt",
            lease_until=None,
            doubts=OutboxMessage.doubts + 1,
            last_error=f"in doubt again ({reason}); held for `pingan outbox retry`",
        )
        .execution_options(synchronize_session=False)
    )
    return int(resend.rowcount)  # type: ignore[attr-defined]


async def reclaim_expired(session: AsyncSession, clock: Clock, channel: str) -> list[int]:
    """Notices of `channel` whose lease ran out (their sender died mid-call): in doubt.
    Returns their ids (usually none: one cheap indexed read)."""
    ids = list(
        (
            await session.scalars(
                select(OutboxMessage.id).where(
                    OutboxMessage.status == "sending",
                    OutboxMessage.channel == channel,
                    # NULL: claimed by a version that kept no lease.
                    or_(
                        OutboxMessage.lease_until.is_(None),
                        OutboxMessage.lease_until < clock.now(),
                    ),
                )
            )
        ).all()
    )
    await mark_in_doubt(session, ids, "sender stopped mid-send")
    return ids


@dataclass(frozen=True, slots=True)
class DelayReport:
    notice_id: int
    case_number: str | None
    told: int


async def report_urgent_delays(
    session: AsyncSession, clock: Clock, channel: str, threshold: timedelta = URGENT_DELAY
) -> list[DelayReport]:
    """Urgent notices on `channel` still undelivered `threshold` after their first failed
    try: each case's centre dispatchers are told on a channel other than this one."""
    from dispatch.recipients import centre_dispatchers  # recipients is above the outbox

    now = clock.now()
    rows = (
        await session.execute(
            select(OutboxMessage, Case)
            .outerjoin(Case, Case.id == OutboxMessage.case_id)
            .where(
                OutboxMessage.urgent.is_(True),
                OutboxMessage.channel == channel,
                OutboxMessage.status.in_(("pending", "sending", "waiting", "failed")),
                OutboxMessage.sent_at.is_(None),
                OutboxMessage.delay_told.is_(None),
                OutboxMessage.purpose != DELIVERY_DELAYED,
                OutboxMessage.first_failed_at <= now - threshold,
            )
            .order_by(OutboxMessage.id)
        )
    ).all()
    reports: list[DelayReport] = []
    for notice, case in rows:
        told = 0
        dispatchers = await centre_dispatchers(session, case.unit_code) if case else []
        minutes = int((now - as_utc(notice.first_failed_at or now)).total_seconds() // 60)
        for dispatcher in dispatchers:
            other = await session.scalar(
                select(Identity)
                .where(
                    Identity.person_id == dispatcher.id,
                    Identity.channel != channel,
                    Identity.unreachable_at.is_(None),
                )
                .order_by(Identity.last_seen_at.desc(), Identity.id.desc())
                .limit(1)
            )
            if other is None:
                continue
            await enqueue(
                session,
                clock,
                dispatcher.id,
                Reply(
                    "notice.delivery_delayed",
                    {
                        "number": case.number if case else "-",
                        "minutes": minutes,
                        "channel": channel,
                    },
                ),
                purpose=DELIVERY_DELAYED,
                dedupe_key=f"{DELIVERY_DELAYED}:{notice.id}:{dispatcher.id}",
                case_id=notice.case_id,
                urgent=True,
                channel=other.channel,
                chat_ref=other.chat_ref,
            )
            told += 1
        await session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == notice.id)
            .values(delay_told=told)
            .execution_options(synchronize_session=False)
        )
        reports.append(DelayReport(notice.id, case.number if case else None, told))
    return reports


async def notice_for_reply(
    session: AsyncSession, channel: str, chat_ref: str, sent_ref: str
) -> OutboxMessage | None:
    """The notice a person is replying to (e.g. "接单" in reply to an assignment)."""
    return await session.scalar(
        select(OutboxMessage)
        .where(
            OutboxMessage.channel == channel,
            OutboxMessage.chat_ref == chat_ref,
            OutboxMessage.sent_ref == sent_ref,
        )
        .order_by(OutboxMessage.id.desc())
        .limit(1)
    )


@dataclass(frozen=True, slots=True)
class NoticeInfo:
    """What a channel adapter may need beyond the Reply (e.g. to pick a WeChat template)."""

    purpose: str
    case_number: str | None


async def notice_info(session: AsyncSession, notice_id: int) -> NoticeInfo | None:
    """A notice's purpose and its case's number; None for an unknown id."""
    row = (
        await session.execute(
            select(OutboxMessage.purpose, Case.number)
            .outerjoin(Case, Case.id == OutboxMessage.case_id)
            .where(OutboxMessage.id == notice_id)
        )
    ).first()
    return NoticeInfo(row.purpose, row.number) if row is not None else None


# The channels whose transport parks notices (DeliveryWaiting: WeChat's 48-hour window) until
# the person writes there again.
PARKING_CHANNELS = frozenset({"wechat"})


async def park(
    session: AsyncSession, notice_id: int, reason: str, at: datetime | None = None
) -> None:
    """Hold a notice until the person writes to us again (`at`: now, by the sender's clock).

    WeChat only lets us message someone within 48 hours of their last message (and only a
    few times per message of theirs); outside that window the notice waits, untouched by
    claim(), until release_waiting() puts it back in the queue.
    """
    values: dict[str, object] = {"status": "waiting", "lease_until": None}
    if at is not None:
        values["first_failed_at"] = func.coalesce(OutboxMessage.first_failed_at, at)
    await session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == notice_id)
        .values(last_error=scrub(reason), **values)
        .execution_options(synchronize_session=False)
    )


async def release_waiting(session: AsyncSession, clock: Clock, person_id: int) -> int:
    """The person wrote to us: queue their waiting notices now. Returns how many."""
    result = await session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.person_id == person_id, OutboxMessage.status == "waiting")
        .values(status="pending", not_before=None)
        .execution_options(synchronize_session=False)
    )
    released = int(result.rowcount)  # type: ignore[attr-defined]
    if released:
        await announce_queued(session)
    return released


async def waiting_count(session: AsyncSession, person_id: int) -> int:
    return int(
        await session.scalar(
            select(func.count())
            .select_from(OutboxMessage)
            .where(OutboxMessage.person_id == person_id, OutboxMessage.status == "waiting")
        )
        or 0
    )


# -- for operators: `pingan outbox list` and `pingan outbox retry` --------------------------

# What may identify someone in a platform's error text: a bot token in a URL, a phone
# number, a long run of digits (a chat id). Errors are kept for operators without them.
_PERSONAL = re.compile(r"bot\d+:[\w-]+|\+?\d[\d -]{7,}\d")


def scrub(error: str) -> str:
    return _PERSONAL.sub("…", error)[:300]


@dataclass(frozen=True, slots=True)
class Listed:
    id: int
    person_id: int
    channel: str | None
    purpose: str
    case_number: str | None
    status: str
    attempts: int
    parts_sent: int
    doubts: int
    urgent: bool
    delay_told: int | None
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None


async def listing(
    session: AsyncSession, *, failed_only: bool = False, limit: int = 200
) -> list[Listed]:
    """Notices that need an operator's eye, newest first: failed, in doubt, resent after a
    doubt, waiting, or not sent yet (all statuses but a clean "sent"); with `failed_only`,
    failed and in doubt only."""
    stmt = (
        select(OutboxMessage, Case.number)
        .outerjoin(Case, Case.id == OutboxMessage.case_id)
        .order_by(OutboxMessage.id.desc())
        .limit(limit)
    )
    if failed_only:
        stmt = stmt.where(OutboxMessage.status.in_(RETRYABLE))
    else:
        stmt = stmt.where(
            or_(
                OutboxMessage.status != "sent",
                OutboxMessage.doubts > 0,
                and_(OutboxMessage.delay_told.is_not(None), OutboxMessage.urgent.is_(True)),
            )
        )
    return [
        Listed(
            row.id,
            row.person_id,
            row.channel,
            row.purpose,
            number,
            row.status,
            row.attempts,
            row.parts_sent,
            row.doubts,
            row.urgent,
            row.delay_told,
            scrub(row.last_error) if row.last_error else None,
            as_utc(row.created_at),
            as_utc(row.sent_at) if row.sent_at is not None else None,
        )
        for row, number in (await session.execute(stmt)).all()
    ]


@dataclass(frozen=True, slots=True)
class RetryResult:
    queued: list[int]
    # id → why it was not queued again ("unknown", "sent", "pending", "no reachable channel")
    refused: dict[int, str]


async def retry(
    session: AsyncSession, *, ids: Iterable[int] = (), all_failed: bool = False
) -> RetryResult:
    """Put failed and in-doubt notices back in the queue, due now, with a fresh retry horizon
    (parts already delivered stay delivered). A notice with no reachable channel is given
    the person's current one, if they have one now."""
    wanted = list(ids)
    stmt = select(OutboxMessage)
    if all_failed:
        stmt = stmt.where(OutboxMessage.status.in_(RETRYABLE))
    else:
        stmt = stmt.where(OutboxMessage.id.in_(wanted))
    rows = {row.id: row for row in (await session.scalars(stmt)).all()}
    refused = {i: "unknown" for i in wanted if i not in rows}
    queued: list[int] = []
    for row in rows.values():
        if row.status not in RETRYABLE:
            refused[row.id] = row.status
            continue
        values: dict[str, object] = {}
        if row.channel is None or (await _identity(session, row.person_id, row.channel)) is None:
            identity = await reachable_identity(session, row.person_id)
            if identity is None:
                refused[row.id] = "no reachable channel"
                continue
            if identity.channel != row.channel:
                values["parts_sent"] = 0
            values |= {"channel": identity.channel, "chat_ref": identity.chat_ref}
        await session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == row.id, OutboxMessage.status.in_(RETRYABLE))
            .values(
                status="pending",
                not_before=None,
                lease_until=None,
                attempts=0,
                first_failed_at=None,
                delay_told=None,
                **values,
            )
            .execution_options(synchronize_session=False)
        )
        queued.append(row.id)
    if queued:
        await announce_queued(session)
    return RetryResult(sorted(queued), dict(sorted(refused.items())))
