"""Notices to people: rows written in the same transaction as their cause, drained by senders.

A notice is keyed by a dedupe key, so replaying a cause (a retried message, a sweep run
twice) enqueues it once. Senders claim rows with a compare-and-set on `status`, so two
senders never send one notice twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from dispatch.clock import Clock
from dispatch.messages import Reply
from dispatch.people import reachable_identity
from storage.models import Case, Identity, OutboxMessage, Person
from storage.upserts import insert_ignoring_conflict

MAX_ATTEMPTS = 8
# A row left in "sending" this long belongs to a sender that died mid-call. We cannot know
# whether the platform delivered it, and a duplicate assignment is worse than a late one
# that the sweep will chase, so such rows are failed visibly instead of resent.
SENDING_LEASE = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class Claimed:
    id: int
    person_id: int
    channel: str
    chat_ref: str
    reply: Reply
    locale: str | None
    attempts: int


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
) -> int | None:
    """Queue a notice for a person's most recent reachable channel; None if already queued."""
    identity = await reachable_identity(session, person_id)
    now = clock.now()
    return await insert_ignoring_conflict(
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
            "status": "pending" if identity else "failed",
            "created_at": now,
            "not_before": now,
            "attempts": 0,
            "channel": identity.channel if identity else None,
            "chat_ref": identity.chat_ref if identity else None,
            "last_error": None if identity else "no reachable channel",
        },
        key="dedupe_key",
    )


async def claim(
    session: AsyncSession,
    clock: Clock,
    channel: str,
    *,
    limit: int = 50,
    person_id: int | None = None,
    urgent_only: bool = False,
) -> list[Claimed]:
    """Take due pending notices for `channel` (optionally one person's) for sending.

    `urgent_only` during quiet hours: the rest wait in the table until morning.
    """
    now = clock.now()
    stmt = (
        select(OutboxMessage, Person.locale)
        .join(Person, Person.id == OutboxMessage.person_id)
        .where(
            OutboxMessage.status == "pending",
            OutboxMessage.channel == channel,
            OutboxMessage.not_before <= now,
        )
        .order_by(OutboxMessage.id)
        .limit(limit)
    )
    if person_id is not None:
        stmt = stmt.where(OutboxMessage.person_id == person_id)
    if urgent_only:
        stmt = stmt.where(OutboxMessage.urgent.is_(True))
    claimed: list[Claimed] = []
    for row, locale in (await session.execute(stmt)).all():
        won = await session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == row.id, OutboxMessage.status == "pending")
            .values(status="sending", attempts=OutboxMessage.attempts + 1, not_before=now)
            .execution_options(synchronize_session=False)
        )
        if won.rowcount == 1:  # type: ignore[attr-defined]
            claimed.append(
                Claimed(
                    row.id,
                    row.person_id,
                    channel,
                    row.chat_ref or "",
                    Reply.from_json(row.reply),
                    locale,
                    row.attempts + 1,
                )
            )
    return claimed


async def mark_sent(session: AsyncSession, clock: Clock, notice_id: int, sent_ref: str) -> None:
    await session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == notice_id)
        .values(status="sent", sent_ref=sent_ref, sent_at=clock.now(), last_error=None)
        .execution_options(synchronize_session=False)
    )


async def mark_retry(
    session: AsyncSession, notice: Claimed, not_before: datetime, error: str
) -> None:
    """Put a notice back for later (429 retry_after, network trouble), or fail it for good."""
    status = "pending" if notice.attempts < MAX_ATTEMPTS else "failed"
    await session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == notice.id)
        .values(status=status, not_before=not_before, last_error=error[:300])
        .execution_options(synchronize_session=False)
    )


async def mark_failed(session: AsyncSession, notice_id: int, error: str) -> None:
    await session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == notice_id)
        .values(status="failed", last_error=error[:300])
        .execution_options(synchronize_session=False)
    )


async def mark_unreachable(session: AsyncSession, clock: Clock, notice: Claimed) -> None:
    """The person blocked us on this channel: note it, and move the notice to another channel."""
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
        values = {"status": "failed", "last_error": f"{notice.channel}: blocked by the user"}
    else:
        values = {
            "status": "pending",
            "channel": other.channel,
            "chat_ref": other.chat_ref,
            "last_error": f"{notice.channel}: blocked by the user; moved to {other.channel}",
        }
    await session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == notice.id)
        .values(**values)
        .execution_options(synchronize_session=False)
    )


async def fail_abandoned(session: AsyncSession, clock: Clock) -> int:
    """Fail rows a dead sender left in "sending" (see SENDING_LEASE)."""
    result = await session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.status == "sending",
            OutboxMessage.not_before < clock.now() - SENDING_LEASE,
        )
        .values(status="failed", last_error="sender stopped mid-send; delivery unknown")
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


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


async def park(session: AsyncSession, notice_id: int, reason: str) -> None:
    """Hold a notice until the person writes to us again.

    WeChat only lets us message someone within 48 hours of their last message (and only a
    few times per message of theirs); outside that window the notice waits, untouched by
    claim(), until release_waiting() puts it back in the queue.
    """
    await session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == notice_id)
        .values(status="waiting", last_error=reason[:300])
        .execution_options(synchronize_session=False)
    )


async def release_waiting(session: AsyncSession, clock: Clock, person_id: int) -> int:
    """The person wrote to us: queue their waiting notices now. Returns how many."""
    result = await session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.person_id == person_id, OutboxMessage.status == "waiting")
        .values(status="pending", not_before=clock.now())
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


async def waiting_count(session: AsyncSession, person_id: int) -> int:
    return int(
        await session.scalar(
            select(func.count())
            .select_from(OutboxMessage)
            .where(OutboxMessage.person_id == person_id, OutboxMessage.status == "waiting")
        )
        or 0
    )
