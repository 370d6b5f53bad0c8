"""The sweep: every tick, take the SLA steps, supervision notices and follow-ups that are due.

Each due case is found through an indexed time column and handled in its own unit of work,
claimed with a compare-and-set on its version: two sweepers (two processes on one
database) never take the same step, and every notice carries a dedupe key as well.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from dispatch import cases, outbox, points, sla_clocks, workflow
from dispatch.cases import OPEN_STATES, case_card, handler_buttons, t
from dispatch.clock import Clock, as_utc
from dispatch.messages import Button, Reply
from dispatch.policy import Policy
from dispatch.recipients import (
    centre_dispatchers,
    leaders_of,
    open_offer_holders,
    unique,
    unit_region,
)
from storage.database import Sessions
from storage.models import Case, CaseEvent, CaseOffer, Person

BATCH = 200
FOLLOWUP_RATINGS = ("satisfied", "basic", "dissatisfied")


@dataclass(slots=True)
class Tally:
    done: Counter[str] = field(default_factory=Counter)

    def summary(self) -> str:
        return ", ".join(f"{k} {v}" for k, v in sorted(self.done.items())) or "nothing due"


def progress_buttons(case_id: int) -> tuple[tuple[Button, ...], ...]:
    """Reminders offer the first row of what the assignee can do: progress, close."""
    return handler_buttons(case_id)[:1]


async def _due_ids(
    sessions: Sessions, column: object, now: datetime, limit: int
) -> list[tuple[int, datetime]]:
    async with sessions.read() as session:
        rows = await session.execute(
            select(Case.id, column)  # type: ignore[call-overload]
            .where(column <= now)  # type: ignore[operator]
            .order_by(column)
            .limit(limit)
        )
        return [(row[0], as_utc(row[1])) for row in rows.all()]


async def sweep(
    sessions: Sessions, clock: Clock, zone: ZoneInfo, policy: Policy, *, limit: int = BATCH
) -> Tally:
    """One tick: SLA ladders, then 挂牌督办 notices. Cost: one indexed query per column plus
    the due cases; nothing is read for a case that is not due."""
    tally = Tally()
    now = clock.now()
    for case_id, expected in await _due_ids(sessions, Case.next_action_at, now, limit):
        async with sessions() as session, session.begin():
            case = await session.get(Case, case_id)
            if case is None or case.next_action_at is None:
                continue
            if as_utc(case.next_action_at) != expected:
                continue  # another sweeper, or a person, moved it on since the query
            action = await _take_step(session, clock, zone, policy, case, now)
            if action:
                tally.done[action] += 1
    for case_id, expected in await _due_ids(sessions, Case.supervise_next_at, now, limit):
        async with sessions() as session, session.begin():
            case = await session.get(Case, case_id)
            if case is None or case.supervise_next_at is None:
                continue
            if as_utc(case.supervise_next_at) != expected:
                continue
            if await _supervision_notice(session, clock, zone, policy, case, now):
                tally.done["supervision"] += 1
    return tally


async def _take_step(
    session: AsyncSession, clock: Clock, zone: ZoneInfo, policy: Policy, case: Case, now: datetime
) -> str | None:
    found = sla_clocks.due_step(case, policy, zone, now)
    if found is None:
        # Nothing due after all (the policy changed): reschedule.
        ladder = sla_clocks.steps(case, policy, zone)
        nxt = next((s.at for s in ladder[case.ladder :] if s.at > now), None)
        await workflow.claim(session, clock, case, next_action_at=nxt)
        return None
    step, skipped = found
    index = case.ladder + skipped
    stage = case.sla_stage
    if not await workflow.claim(
        session, clock, case, **sla_clocks.advance(case, policy, zone, index)
    ):
        return None
    key = f"{case.id}:{stage}:{as_utc(case.sla_started_at or now).isoformat()}:{index}"
    data = {"stage": stage, "step": index, "skipped": skipped}
    card = await case_card(session, zone, case, reveal=False)
    if step.action == sla_clocks.REMIND:
        workflow.record(session, clock, case, "remind", None, {**data, "fraction": step.fraction})
        card["percent"] = int(step.fraction * 100)
        card["due"] = cases.local_time(case.due_at or now, zone)
        if stage == "accept":
            for offer, person in await open_offer_holders(session, case):
                await outbox.enqueue(
                    session,
                    clock,
                    person.id,
                    Reply(
                        "sla.remind_accept",
                        card,
                        buttons=(
                            (
                                Button("button.accept", f"a:{offer.id}"),
                                Button("button.decline", f"d:{offer.id}"),
                            ),
                        ),
                    ),
                    purpose="remind",
                    dedupe_key=f"remind:{key}:{person.id}",
                    case_id=case.id,
                    offer_id=offer.id,
                    urgent=case.risk == "major",
                )
        elif case.assignee_id is not None:
            await outbox.enqueue(
                session,
                clock,
                case.assignee_id,
                Reply("sla.remind_resolve", card, buttons=progress_buttons(case.id)),
                purpose="remind",
                dedupe_key=f"remind:{key}",
                case_id=case.id,
                urgent=case.risk == "major",
            )
        return "remind"
    if step.action == sla_clocks.HAND_OVER:
        return await _hand_over(session, clock, zone, policy, case, data, now)
    if step.action == sla_clocks.OVERDUE:
        return await _overdue(session, clock, zone, case, card, data, key, now)
    if step.action == sla_clocks.ESCALATE:
        return await _escalate(session, clock, zone, policy, case, data, key, now)
    if step.action == sla_clocks.PROGRESS_CHECK:
        since = now - timedelta(days=1)
        noted = await session.scalar(
            select(CaseEvent.id).where(
                CaseEvent.case_id == case.id, CaseEvent.kind == "progress", CaseEvent.at > since
            )
        )
        if noted is None and case.assignee_id is not None:
            workflow.record(session, clock, case, "remind", None, {**data, "progress": True})
            await outbox.enqueue(
                session,
                clock,
                case.assignee_id,
                Reply("sla.progress_required", card, buttons=progress_buttons(case.id)),
                purpose="remind",
                dedupe_key=f"progress:{key}",
                case_id=case.id,
                urgent=True,
            )
            return "progress_required"
        return "progress_ok"
    return None


async def _hand_over(
    session: AsyncSession,
    clock: Clock,
    zone: ZoneInfo,
    policy: Policy,
    case: Case,
    data: dict[str, object],
    now: datetime,
) -> str:
    """An offer not accepted in time goes to the next mediator, then the dispatcher."""
    holders = await open_offer_holders(session, case)
    from_dispatcher = any(person.role == "dispatcher" for _, person in holders)
    for offer, person in holders:
        offer.state = "expired"
        offer.decided_at = now
        await outbox.enqueue(
            session,
            clock,
            person.id,
            Reply("sla.offer_expired", {"number": case.number}),
            purpose="expired",
            dedupe_key=f"expired:{offer.id}",
            case_id=case.id,
        )
    workflow.record(
        session, clock, case, "offer_timeout", None, {**data, "offers": [o.id for o, _ in holders]}
    )
    await session.flush()
    last: CaseOffer | None = holders[-1][0] if holders else None
    if last is None:
        await cases.offer_next(session, clock, zone, case, policy=policy)
    else:
        await cases.pass_on(session, clock, zone, case, last, from_dispatcher, policy)
    return "hand_over"


async def _overdue(
    session: AsyncSession,
    clock: Clock,
    zone: ZoneInfo,
    case: Case,
    card: dict[str, object],
    data: dict[str, object],
    key: str,
    now: datetime,
) -> str:
    """催办: the assignee and their centre's dispatchers are told; the assignee loses points."""
    workflow.record(session, clock, case, "overdue", None, data)
    assignee = await session.get(Person, case.assignee_id) if case.assignee_id else None
    card["due"] = cases.local_time(case.due_at or now, zone)
    card["assignee"] = assignee.display_name if assignee else "-"
    targets = [(assignee, "sla.overdue")] + [
        (p, "sla.overdue_dispatcher") for p in await centre_dispatchers(session, case.unit_code)
    ]
    for person, text_key in targets:
        if person is None:
            continue
        await outbox.enqueue(
            session,
            clock,
            person.id,
            Reply(text_key, card, buttons=progress_buttons(case.id) if person is assignee else ()),
            purpose="overdue",
            dedupe_key=f"overdue:{key}:{person.id}",
            case_id=case.id,
            urgent=case.risk == "major",
        )
    await points.award(
        session,
        points.default_rules(),
        rule="overdue",
        at=now,
        case_id=case.id,
        person_id=case.assignee_id,
        unit_code=case.unit_code,
        key=key,
    )
    return "overdue"


async def _escalate(
    session: AsyncSession,
    clock: Clock,
    zone: ZoneInfo,
    policy: Policy,
    case: Case,
    data: dict[str, object],
    key: str,
    now: datetime,
) -> str:
    """督办: the case moves to the centre one level up; the leaders of both levels are told."""
    from_region = await unit_region(session, case.unit_code)
    unit_code, assignee_id = case.unit_code, case.assignee_id
    offer = await cases.escalate(session, clock, zone, None, case, "overdue", policy)
    to_region = await unit_region(session, case.unit_code) if offer else None
    await points.award(
        session,
        points.default_rules(),
        rule="escalated_for_delay",
        at=now,
        case_id=case.id,
        person_id=assignee_id,
        unit_code=unit_code,
        key=key,
    )
    card = await case_card(session, zone, case, reveal=False)
    card["from"] = from_region.name if from_region else "-"
    card["to"] = to_region.name if to_region else "-"
    leaders = unique(
        [*await leaders_of(session, from_region), *await leaders_of(session, to_region)]
    )
    await outbox.enqueue_each(
        session,
        clock,
        [leader.id for leader in leaders],
        Reply("sla.escalated_leader", card),
        purpose="escalated",
        dedupe_prefix=f"escalated:{key}",
        case_id=case.id,
        urgent=case.risk == "major",
    )
    return "escalate"


def next_local_time(after: datetime, at_time: object, zone: ZoneInfo) -> datetime:
    """The next instant after `after` whose local wall-clock time is `at_time`."""
    local = after.astimezone(zone)
    candidate = local.replace(
        hour=at_time.hour,  # type: ignore[attr-defined]
        minute=at_time.minute,  # type: ignore[attr-defined]
        second=0,
        microsecond=0,
    )
    if candidate <= local:
        candidate += timedelta(days=1)
    return candidate.astimezone(as_utc(after).tzinfo)


async def _supervision_notice(
    session: AsyncSession, clock: Clock, zone: ZoneInfo, policy: Policy, case: Case, now: datetime
) -> bool:
    """挂牌督办: everyone on the case hears about it every day until it is closed."""
    if case.status not in OPEN_STATES:
        await workflow.claim(session, clock, case, supervise_next_at=None)
        return False
    nxt = next_local_time(now, policy.supervision_time, zone)
    if not await workflow.claim(session, clock, case, supervise_next_at=nxt):
        return False
    day = now.astimezone(zone).date().isoformat()
    card = await case_card(session, zone, case, reveal=False)
    card["days"] = max(1, (now - as_utc(case.created_at)).days)
    people = [
        await session.get(Person, case.assignee_id) if case.assignee_id else None,
        await session.get(Person, case.supervised_by) if case.supervised_by else None,
        *await centre_dispatchers(session, case.unit_code),
        *(person for _, person in await open_offer_holders(session, case)),
    ]
    await outbox.enqueue_each(
        session,
        clock,
        [person.id for person in unique(people)],
        Reply("sla.supervision_daily", card),
        purpose="supervision",
        dedupe_prefix=f"supervise:{case.id}:{day}",
        case_id=case.id,
    )
    return True


async def followups(
    sessions: Sessions, clock: Clock, zone: ZoneInfo, policy: Policy, *, limit: int = BATCH
) -> Tally:
    """回访: ask reporters how it went; close follow-ups nobody answered in time."""
    tally = Tally()
    now = clock.now()
    for case_id, expected in await _due_ids(sessions, Case.followup_at, now, limit):
        async with sessions() as session, session.begin():
            case = await session.get(Case, case_id)
            if case is None or case.followup_at is None or as_utc(case.followup_at) != expected:
                continue
            if case.followup_state is None:
                if await _ask_followup(session, clock, zone, policy, case, now):
                    tally.done["asked"] += 1
            elif case.followup_state == "asked":
                if not await workflow.claim(
                    session, clock, case, followup_state="unanswered", followup_at=None
                ):
                    continue
                workflow.record(session, clock, case, "followup_unanswered", None, {})
                if case.status in ("resolved", "unresolved"):
                    await workflow.apply(
                        session, clock, case, "archive", None, {"followup": "unanswered"}
                    )
                tally.done["unanswered"] += 1
            else:
                await workflow.claim(session, clock, case, followup_at=None)
    return tally


async def _ask_followup(
    session: AsyncSession, clock: Clock, zone: ZoneInfo, policy: Policy, case: Case, now: datetime
) -> bool:
    expires = now + policy.followup_expires
    if not await workflow.claim(session, clock, case, followup_state="asked", followup_at=expires):
        return False
    workflow.record(session, clock, case, "followup_ask", None, {})
    card = await case_card(session, zone, case, reveal=False)
    card["outcome"] = t(f"outcome.{case.outcome or 'success'}")
    buttons = (tuple(Button(f"rating.{r}", f"f:{case.id}:{r[0]}") for r in FOLLOWUP_RATINGS),)
    await outbox.enqueue(
        session,
        clock,
        case.reporter_id,
        Reply("followup.ask", card, buttons=buttons),
        purpose="followup",
        dedupe_key=f"followup:{case.id}:{case.version}",
        case_id=case.id,
    )
    return True
