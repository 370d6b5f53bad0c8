"""The case life cycle (docs/architecture.md, "The case life cycle"), declared once as data.

Every change of a case's status goes through `apply()`: it checks the transition table
(from which states, by which roles), updates the row with a compare-and-set on `version`,
and appends a `case_events` row. The README's diagram is generated from TRANSITIONS.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from dispatch.clock import Clock
from locales import text
from storage.models import Case, CaseEvent, Person

NEW = "new"  # the pseudo-state before a report exists
STATES = (
    "reported",
    "assigned",
    "in_progress",
    "resolved",
    "closed",
    "escalated",
    "unresolved",
    "cancelled",
)
SYSTEM = "system"  # the router and the scheduler act as this role
STAFF_HANDLERS = frozenset({"mediator", "dispatcher", "admin"})
REPORTERS = frozenset({"citizen", "grid_worker", "dept_staff", "mediator", "dispatcher", "leader"})


@dataclass(frozen=True, slots=True)
class Transition:
    name: str
    sources: frozenset[str]
    target: str
    roles: frozenset[str]


def _t(name: str, sources: set[str], target: str, roles: set[str] | frozenset[str]) -> Transition:
    return Transition(name, frozenset(sources), target, frozenset(roles))


TRANSITIONS: tuple[Transition, ...] = (
    _t("report", {NEW}, "reported", REPORTERS),
    _t("resolve_on_spot", {"reported"}, "resolved", {"grid_worker", "dept_staff"}),
    _t("offer", {"reported", "escalated"}, "assigned", {SYSTEM}),
    _t("reoffer", {"assigned"}, "assigned", {SYSTEM}),
    # No mediator could take it: the centre's dispatcher gets it, or its queue keeps it.
    _t("unroutable", {"reported", "assigned", "escalated"}, "reported", {SYSTEM}),
    _t("accept", {"assigned"}, "in_progress", STAFF_HANDLERS),
    # The handler left (`pingan staff disable`): the case goes back to the centre.
    _t("hand_back", {"in_progress"}, "reported", {SYSTEM}),
    _t("progress", {"in_progress"}, "in_progress", STAFF_HANDLERS),
    _t("resolve", {"in_progress"}, "resolved", STAFF_HANDLERS),
    _t("fail", {"in_progress"}, "unresolved", STAFF_HANDLERS),
    _t(
        "escalate",
        {"reported", "assigned", "in_progress"},
        "escalated",
        STAFF_HANDLERS | {SYSTEM, "leader"},
    ),
    _t("archive", {"resolved", "unresolved"}, "closed", {SYSTEM, "dispatcher", "admin"}),
    _t("reopen", {"resolved", "unresolved", "closed"}, "reported", {SYSTEM}),
    _t(
        "cancel",
        {"reported", "assigned"},
        "cancelled",
        {"citizen", "grid_worker", "dept_staff", "dispatcher", "admin"},
    ),
)
BY_NAME = {t.name: t for t in TRANSITIONS}


class TransitionRefused(Exception):
    """The transition is not allowed; `reason` is a message key for the person who asked."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


async def apply(
    session: AsyncSession,
    clock: Clock,
    case: Case,
    name: str,
    actor: Person | None,
    data: dict[str, Any] | None = None,
    **changes: Any,
) -> CaseEvent:
    """Move `case` along transition `name`, by `actor` (None: the system).

    Outcomes:
    - the case is in a source state and the actor's role may do it → the row is updated
      (status, `changes`, version+1) and an event appended; returns the event;
    - the case is in another state → TransitionRefused("case.wrong_state");
    - the actor's role may not do it → TransitionRefused("case.not_allowed");
    - someone changed the case since it was read (a concurrent accept) →
      TransitionRefused("case.taken"); nothing is written.
    """
    transition = BY_NAME[name]
    role = actor.role if actor is not None else SYSTEM
    if role not in transition.roles:
        raise TransitionRefused("case.not_allowed")
    source = NEW if name == "report" else case.status
    if source not in transition.sources:
        raise TransitionRefused("case.wrong_state")
    now = clock.now()
    if name != "report":
        result = await session.execute(
            update(Case)
            .where(Case.id == case.id, Case.version == case.version)
            .values(status=transition.target, version=Case.version + 1, updated_at=now, **changes)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            raise TransitionRefused("case.taken")
        # The row is already written; bring the object in line without marking it dirty
        # (a plain setattr would make the next flush UPDATE the same row a second time).
        committed = {"version": case.version + 1, "status": transition.target, "updated_at": now}
        for key, value in {**committed, **changes}.items():
            set_committed_value(case, key, value)
    event = CaseEvent(
        case_id=case.id,
        kind=name,
        from_status=None if source == NEW else source,
        to_status=transition.target,
        actor_id=actor.id if actor is not None else None,
        at=now,
        data=data or {},
    )
    session.add(event)
    return event


async def claim(session: AsyncSession, clock: Clock, case: Case, **values: Any) -> bool:
    """Compare-and-set fields of a case that are not a change of status (the sweep's claim).

    Returns False, writing nothing, when someone changed the case since it was read — then
    another sweeper took this step, or a person acted on the case first.
    """
    result = await session.execute(
        update(Case)
        .where(Case.id == case.id, Case.version == case.version)
        .values(version=Case.version + 1, **values)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return False
    for key, value in {"version": case.version + 1, **values}.items():
        set_committed_value(case, key, value)
    return True


def record(
    session: AsyncSession,
    clock: Clock,
    case: Case,
    kind: str,
    actor: Person | None,
    data: dict[str, Any] | None = None,
) -> CaseEvent:
    """An event that is not a change of status (a reminder, a pause, a follow-up answer)."""
    event = CaseEvent(
        case_id=case.id,
        kind=kind,
        from_status=case.status,
        to_status=case.status,
        actor_id=actor.id if actor is not None else None,
        at=clock.now(),
        data=data or {},
    )
    session.add(event)
    return event


def mermaid() -> str:
    """The state diagram, from TRANSITIONS, for the README (labels as the event names read)."""
    label = {t.name: text(f"event.{t.name}", "zh_CN") for t in TRANSITIONS}
    lines = ["stateDiagram-v2", f"    [*] --> reported: report {label['report']}"]
    for t in TRANSITIONS:
        if t.name == "report":
            continue
        for source in sorted(t.sources):
            lines.append(f"    {source} --> {t.target}: {t.name} {label[t.name]}")
    lines.append("    closed --> [*]")
    lines.append("    cancelled --> [*]")
    return "\n".join(lines)
