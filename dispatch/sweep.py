"""The sweep: every tick, take the SLA steps, supervision notices and follow-ups that are due.

Each due case is found through an indexed time column and handled in its own unit of work,
claimed with a compare-and-set on its version: two sweepers (two processes on one
database) never take the same step, and every notice carries a dedupe key as well.
What a step did is published (dispatch.events); dispatch.notifications tells the people.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select

from dispatch import cases, points, sla_clocks, workflow
from dispatch.cases import OPEN_STATES
from dispatch.clock import as_utc
from dispatch.context import Ctx, Domain
from dispatch.events import (
    Escalated,
    FollowUpAsked,
    OfferExpired,
    Overdue,
    ProgressRequired,
    QueueChased,
    Reminded,
    SupervisionDue,
)
from dispatch.recipients import open_offer_holders, unit_region
from storage.database import Sessions
from storage.models import Case, CaseEvent, CaseOffer, Unit

BATCH = 200


@dataclass(slots=True)
class Tally:
    done: Counter[str] = field(default_factory=Counter)

    def summary(self) -> str:
        return ", ".join(f"{k} {v}" for k, v in sorted(self.done.items())) or "nothing due"


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


async def sweep(sessions: Sessions, domain: Domain, *, limit: int = BATCH) -> Tally:
    """One tick: SLA ladders, then the red-card supervision notices. Cost: one indexed
    query per column plus the due cases; nothing is read for a case that is not due."""
    tally = Tally()
    now = domain.clock.now()
    for case_id, expected in await _due_ids(sessions, Case.next_action_at, now, limit):
        async with sessions() as session, session.begin():
            case = await session.get(Case, case_id)
            if case is None or case.next_action_at is None:
                continue
            if as_utc(case.next_action_at) != expected:
                continue  # another sweeper, or a person, moved it on since the query
            action = await _take_step(domain.within(session), case, now)
            if action:
                tally.done[action] += 1
    for case_id, expected in await _due_ids(sessions, Case.supervise_next_at, now, limit):
        async with sessions() as session, session.begin():
            case = await session.get(Case, case_id)
            if case is None or case.supervise_next_at is None:
                continue
            if as_utc(case.supervise_next_at) != expected:
                continue
            if await _supervision_notice(domain.within(session), case, now):
                tally.done["supervision"] += 1
    return tally


async def _take_step(ctx: Ctx, case: Case, now: datetime) -> str | None:
    """The SLA step that is due: remind, hand over, overdue, escalate or check progress, or
    the daily chase of a queued case; returns its name for the tally, or None when nothing
    was due or another took it."""
    session, clock, zone, policy = ctx.session, ctx.clock, ctx.zone, ctx.policy
    if case.sla_stage == sla_clocks.QUEUE:
        return await _chase_queue(ctx, case, now)
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
    data: dict[str, object] = {"stage": stage, "step": index, "skipped": skipped}
    if step.action == sla_clocks.REMIND:
        workflow.record(session, clock, case, "remind", None, {**data, "fraction": step.fraction})
        await ctx.publish(Reminded(case, stage, step.fraction, key, now))
        return "remind"
    if step.action == sla_clocks.HAND_OVER:
        return await _hand_over(ctx, case, data, key, now)
    if step.action == sla_clocks.OVERDUE:
        return await _overdue(ctx, case, data, key, now)
    if step.action == sla_clocks.ESCALATE:
        return await _escalate(ctx, case, data, key, now)
    if step.action == sla_clocks.PROGRESS_CHECK:
        since = now - timedelta(days=1)
        noted = await session.scalar(
            select(CaseEvent.id).where(
                CaseEvent.case_id == case.id, CaseEvent.kind == "progress", CaseEvent.at > since
            )
        )
        if noted is None and case.assignee_id is not None:
            workflow.record(session, clock, case, "remind", None, {**data, "progress": True})
            await ctx.publish(ProgressRequired(case, key))
            return "progress_required"
        return "progress_ok"
    return None


async def _hand_over(ctx: Ctx, case: Case, data: dict[str, object], key: str, now: datetime) -> str:
    """An offer not accepted in time: every open offer expires, an `offer_timeout` event,
    then the case goes on as cases.hand_over() decides (the next mediator, the centre, a
    level up, or the top centre's queue), and each holder is told which (OfferExpired)."""
    session, clock = ctx.session, ctx.clock
    holders = await open_offer_holders(session, case)
    from_dispatcher = any(person.role == "dispatcher" for _, person in holders)
    for offer, _ in holders:
        offer.state = "expired"
        offer.decided_at = now
    workflow.record(
        session, clock, case, "offer_timeout", None, {**data, "offers": [o.id for o, _ in holders]}
    )
    await session.flush()
    last: CaseOffer | None = holders[-1][0] if holders else None
    moved = await cases.hand_over(ctx, case, last, from_dispatcher, key)
    for offer, person in holders:
        await ctx.publish(OfferExpired(case, offer, person, moved))
    return f"hand_over_{moved.outcome}"


async def _chase_queue(ctx: Ctx, case: Case, now: datetime) -> str | None:
    """The daily chase of a case in a centre's queue: the next chase scheduled, the queue
    centre's dispatchers hold an open offer each (cases.offer_to_queue_centre), a `remind`
    event, and QueueChased published (the holders and the centre's leaders are told).
    None when another sweeper took it."""
    session, clock = ctx.session, ctx.clock
    if not await workflow.claim(
        session, clock, case, next_action_at=sla_clocks.next_chase(now, ctx.policy, ctx.zone)
    ):
        return None
    holders = await cases.offer_to_queue_centre(ctx, case)
    # Days in the queue as people count them: calendar days since the day it entered.
    since = as_utc(case.sla_started_at or now).astimezone(ctx.zone).date()
    days = max(1, (now.astimezone(ctx.zone).date() - since).days)
    workflow.record(session, clock, case, "remind", None, {"stage": sla_clocks.QUEUE, "days": days})
    centre = await session.get(Unit, case.unit_code) if case.unit_code else None
    await ctx.publish(QueueChased(case, centre, holders, days, now))
    return "queue_chase"


async def _overdue(ctx: Ctx, case: Case, data: dict[str, object], key: str, now: datetime) -> str:
    """An `overdue` event, Overdue published (the assignee and their centre's dispatchers
    are told), and the assignee loses points: 催办."""
    workflow.record(ctx.session, ctx.clock, case, "overdue", None, data)
    await ctx.publish(Overdue(case, key, now))
    await points.award_case(
        ctx, case, "overdue", key, at=now, person_id=case.assignee_id, unit_code=case.unit_code
    )
    return "overdue"


async def _escalate(ctx: Ctx, case: Case, data: dict[str, object], key: str, now: datetime) -> str:
    """The case moves to the centre one level up (cases.escalate), the unit and assignee it
    left lose points, and Escalated is published (the leaders of both levels are told):
    督办."""
    session = ctx.session
    from_region = await unit_region(session, case.unit_code)
    unit_code, assignee_id = case.unit_code, case.assignee_id
    await cases.escalate(ctx, None, case, "overdue")
    # Where it went: the unit offered it, or the queue's centre when nobody was left.
    to_region = await unit_region(session, case.unit_code)
    await points.award_case(
        ctx, case, "escalated_for_delay", key, at=now, person_id=assignee_id, unit_code=unit_code
    )
    await ctx.publish(Escalated(case, from_region, to_region, key))
    return "escalate"


async def _supervision_notice(ctx: Ctx, case: Case, now: datetime) -> bool:
    """Everyone on a supervised case hears about it every day until it is closed:
    挂牌督办.

    Outcomes: a closed case leaves supervision (False); otherwise the next notice is
    scheduled and SupervisionDue published (True), unless another sweeper took it (False).
    """
    session, clock, zone = ctx.session, ctx.clock, ctx.zone
    if case.status not in OPEN_STATES:
        await workflow.claim(session, clock, case, supervise_next_at=None)
        return False
    nxt = sla_clocks.next_local_time(now, ctx.policy.supervision_time, zone)
    if not await workflow.claim(session, clock, case, supervise_next_at=nxt):
        return False
    await ctx.publish(SupervisionDue(case, now))
    return True


async def followups(sessions: Sessions, domain: Domain, *, limit: int = BATCH) -> Tally:
    """Ask reporters how it went; close follow-ups nobody answered in time (then the case
    is archived if it is still resolved or unresolved): 回访."""
    tally = Tally()
    clock = domain.clock
    now = clock.now()
    for case_id, expected in await _due_ids(sessions, Case.followup_at, now, limit):
        async with sessions() as session, session.begin():
            case = await session.get(Case, case_id)
            if case is None or case.followup_at is None or as_utc(case.followup_at) != expected:
                continue
            if case.followup_state is None:
                if await _ask_followup(domain.within(session), case, now):
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


async def _ask_followup(ctx: Ctx, case: Case, now: datetime) -> bool:
    """A `followup_ask` event and FollowUpAsked published (the reporter is asked), with an
    answer expected by now + policy.followup_expires; False if another sweeper took it."""
    expires = now + ctx.policy.followup_expires
    if not await workflow.claim(
        ctx.session, ctx.clock, case, followup_state="asked", followup_at=expires
    ):
        return False
    workflow.record(ctx.session, ctx.clock, case, "followup_ask", None, {})
    await ctx.publish(FollowUpAsked(case))
    return True
