"""What breaks the promise "nothing waits silently", found in the database (`pingan doctor`).

Every open case must have a next step: an open offer, a running clock (`next_action_at`), a
place in a centre's queue (which is a clock too), or a pause that its holder chose and
explained. Every key person in assistance must have a lead and a worker still on the staff.
Every notice must be on its way: queued and due soon, or sent. Each check below returns the
ids that break it, so monitoring can alert on a non-empty result and an operator can look
each one up (`pingan cases show`, `pingan outbox list`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from dispatch.cases import OPEN_STATES
from storage.models import (
    Case,
    CaseOffer,
    Identity,
    KeyPerson,
    KeyPersonChain,
    OutboxMessage,
    Person,
)

# A due notice still queued after this long means no sender is draining its channel.
STUCK_AFTER = timedelta(minutes=15)
# A case step overdue by this long means no sweep is running.
SWEEP_LATE_AFTER = timedelta(minutes=30)
# How many ids a finding lists (the count is always whole).
SHOWN = 20


@dataclass(frozen=True, slots=True)
class Finding:
    """One invariant and what breaks it."""

    check: str  # a stable name, for monitoring
    what: str  # one line for the operator
    count: int
    ids: Sequence[str] = field(default_factory=tuple)


async def _ids(
    session: AsyncSession, column: Any, where: ColumnElement[bool]
) -> tuple[int, list[str]]:
    total = await session.scalar(select(func.count()).where(where))
    rows = await session.scalars(select(column).where(where).order_by(column).limit(SHOWN))
    return int(total or 0), [str(value) for value in rows.all()]


async def check(session: AsyncSession, now: datetime) -> list[Finding]:
    """Every check, in the order an operator would look; only the ones that found something."""
    open_offer = exists().where(CaseOffer.case_id == Case.id, CaseOffer.state == "open")
    is_open = Case.status.in_(OPEN_STATES)
    due_now = or_(OutboxMessage.not_before.is_(None), OutboxMessage.not_before <= now)
    reachable = exists().where(
        Identity.person_id == CaseOffer.person_id, Identity.unreachable_at.is_(None)
    )

    def on_chain(role: str) -> ColumnElement[bool]:
        return exists().where(
            KeyPersonChain.key_person_id == KeyPerson.id,
            KeyPersonChain.role == role,
            KeyPersonChain.person_id == Person.id,
            Person.disabled_at.is_(None),
        )

    checks: list[tuple[str, str, Any, ColumnElement[bool]]] = [
        (
            "case_without_next_step",
            "open cases with no open offer, no clock and no pause (nobody will act on them)",
            Case.number,
            and_(
                is_open,
                Case.next_action_at.is_(None),
                Case.paused_at.is_(None),
                ~open_offer,
            ),
        ),
        (
            "sweep_behind",
            f"open cases whose next step is over {_minutes(SWEEP_LATE_AFTER)} overdue "
            "(is the sweep running?)",
            Case.number,
            and_(is_open, Case.next_action_at < now - SWEEP_LATE_AFTER),
        ),
        (
            "offer_to_unreachable",
            "open offers to people with no channel that reaches them (blocked or unbound)",
            CaseOffer.id,
            and_(CaseOffer.state == "open", ~reachable),
        ),
        (
            "notice_failed",
            "notices that failed for good (`pingan outbox list --failed`, then retry)",
            OutboxMessage.id,
            OutboxMessage.status == "failed",
        ),
        (
            "notice_in_doubt",
            "notices left in doubt twice: may or may not have arrived (`pingan outbox retry`)",
            OutboxMessage.id,
            OutboxMessage.status == "in_doubt",
        ),
        (
            "lease_expired",
            "notices claimed by a sender whose lease ran out (a sender died or hangs)",
            OutboxMessage.id,
            and_(OutboxMessage.status == "sending", OutboxMessage.lease_until < now),
        ),
        (
            "notice_stuck",
            f"due notices still queued after {_minutes(STUCK_AFTER)} "
            "(is `pingan run` sending on that channel?)",
            OutboxMessage.id,
            and_(
                OutboxMessage.status == "pending",
                due_now,
                OutboxMessage.created_at < now - STUCK_AFTER,
                # A notice backing off after failed tries is on its way, not stuck.
                OutboxMessage.first_failed_at.is_(None),
            ),
        ),
        (
            "key_person_chain_broken",
            "key persons in assistance whose chain lost its lead or every worker "
            "(staff left: nobody visits, nobody answers the re-assessment)",
            KeyPerson.id,
            and_(
                KeyPerson.status == "active",
                or_(~on_chain("lead"), ~on_chain("worker")),
            ),
        ),
    ]
    found: list[Finding] = []
    for name, what, column, where in checks:
        count, ids = await _ids(session, column, where)
        if count:
            found.append(Finding(name, what, count, ids))
    return found


def _minutes(span: timedelta) -> str:
    return f"{int(span.total_seconds() // 60)} min"
