"""Case operations: file a report, offer, accept, decline, progress, close, escalate.

Each operation runs inside the caller's unit of work (a dispatch.context.Ctx), changes
status only through workflow.apply(), and publishes what happened (dispatch.events);
dispatch.notifications queues the notices in the same transaction.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, and_, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from dispatch import points, sla_clocks, workflow
from dispatch.clock import Clock, as_utc
from dispatch.context import Ctx
from dispatch.events import (
    Accepted,
    Closed,
    Escalated,
    MajorRisk,
    Moved,
    Offered,
    Paused,
    Queued,
    Reopened,
)
from dispatch.org import ancestors, may_read
from dispatch.recipients import open_offer_holders
from dispatch.routing import (
    Target,
    centre_target,
    choose_target,
    could_take,
    fallback_centre,
    top_centre,
)
from dispatch.rows import fetch_rows
from dispatch.vocab import LEVELS, RISKS
from dispatch.workflow import TransitionRefused
from storage.models import (
    Case,
    CaseEvent,
    CaseMedia,
    CaseOffer,
    CaseRead,
    Person,
    Region,
    StatusMiss,
    Unit,
)
from storage.upserts import next_in_sequence

OPEN_STATES = ("reported", "assigned", "in_progress", "escalated")
OUTCOMES = ("success", "failed")
AGREEMENTS = ("oral", "written", "judicial", "none")


def max_risk(*risks: str) -> str:
    return max(risks, key=RISKS.index)


@dataclass(slots=True)
class ReportDraft:
    """What a report dialog collected; nothing here is stored that the dialog did not ask."""

    description: str
    category: str
    confidence: float
    risk: str
    cues: list[str]
    source: str  # citizen | grid_worker | dept_staff
    region_code: str | None = None
    address: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    people_involved: str | None = None
    danger: bool = False
    parties: str | None = None
    phone: str | None = None
    photos: list[str] = field(default_factory=list)
    resolved_on_spot: bool = False
    on_spot_summary: str | None = None


async def place_name(session: AsyncSession, region_code: str | None) -> str:
    """The names below the prefecture, broadest first, e.g.

    勐海县 勐海镇 曼贺村 第1网格
    """
    if region_code is None:
        return ""
    region = await session.get(Region, region_code)
    if region is None:
        return ""
    chain = await ancestors(session, region)
    names = [r.name for r in reversed(chain) if r.level != "prefecture"]
    return " ".join(names) or region.name


def local_time(at: datetime, zone: ZoneInfo) -> str:
    return as_utc(at).astimezone(zone).strftime("%Y-%m-%d %H:%M")


async def file_report(
    ctx: Ctx, reporter: Person, draft: ReportDraft, channel: str, *, held: bool = False
) -> Case:
    """Create a case from a finished report dialog and set it on its way.

    Outcomes:
    - resolved on the spot (grid worker / department staff) → status `resolved` at once;
    - otherwise → routed and offered to a mediator (`assigned`); with no mediator to take
      it, an `unroutable` event and an offer to the nearest centre with a dispatcher; with
      nobody at all, `reported` in the top centre's queue, chased daily (offer_next()).
    - `held` (the reporter is past the daily report limit, dispatch.limits) → filed all the
      same, its `report` event marked `over_daily_limit`, and offered to the dispatcher of
      the centre over its place to check (a held offer) instead of to a mediator; with no
      such dispatcher, the top centre's queue.
    placement() tells the receipt which of these happened.
    A major-risk case that is not resolved on the spot is published as MajorRisk first.
    """
    session, clock, zone = ctx.session, ctx.clock, ctx.zone
    now = clock.now()
    year = as_utc(now).astimezone(zone).year
    serial = await next_in_sequence(session, year)
    region = await session.get(Region, draft.region_code) if draft.region_code else None
    case = Case(
        number=f"{year}-{serial:06d}",
        status="reported",
        source=draft.source,
        category=draft.category,
        confidence=draft.confidence,
        risk=draft.risk,
        cues=list(draft.cues),
        description=draft.description,
        region_code=region.code if region else None,
        region_path=region.path if region else "/",
        address=draft.address,
        latitude=draft.latitude,
        longitude=draft.longitude,
        people_involved=draft.people_involved,
        danger=draft.danger,
        parties=draft.parties,
        phone=draft.phone,
        reporter_id=reporter.id,
        created_at=now,
        updated_at=now,
        version=1,
    )
    session.add(case)
    await session.flush()
    if region is None:
        # Without a place the case belongs to the top centre, which triages it by hand.
        root = await session.scalar(select(Region).where(Region.parent_code.is_(None)))
        if root is not None:
            case.region_path = root.path
    await workflow.apply(
        session,
        clock,
        case,
        "report",
        reporter,
        {
            "channel": channel,
            "category": case.category,
            "risk": case.risk,
            "cues": case.cues,
            **({"over_daily_limit": True} if held else {}),
        },
    )
    for file_ref in draft.photos:
        session.add(
            CaseMedia(
                case_id=case.id, channel=channel, file_ref=file_ref, added_by=reporter.id, at=now
            )
        )
    if draft.resolved_on_spot:
        await workflow.apply(
            session,
            clock,
            case,
            "resolve_on_spot",
            reporter,
            {"summary": draft.on_spot_summary or ""},
            outcome="success",
            outcome_summary=draft.on_spot_summary,
            resolved_at=now,
            unit_code=reporter.unit_code,
            assignee_id=reporter.id,
        )
        return case
    if case.risk == "major":
        await ctx.publish(MajorRisk(case))
    if held:
        centre = await centre_target(session, case)
        if centre is None:
            await enter_queue(ctx, case)
        else:
            await offer_next(ctx, case, target=centre, held=True)
        return case
    await offer_next(ctx, case)
    return case


async def offer_next(
    ctx: Ctx,
    case: Case,
    *,
    above_level: str | None = None,
    target: Target | None = None,
    from_region: Region | None = None,
    held: bool = False,
    reopened: bool = False,
) -> CaseOffer | None:
    """Offer the case to `target`, or else to the next person routing names, skipping
    everyone already asked (`held`: a report over the daily limit, for a centre to check;
    `reopened`: the reporter was not satisfied at the follow-up visit).

    Outcomes:
    - someone found → an open offer, an `offer` event (`reoffer` when the case was already
      `assigned`), status `assigned`, the accept clock started (from the end of quiet hours
      when the notice waits for them); Offered is published;
    - a fresh routing (a new report: no `target`, no `above_level`) that finds no mediator
      → an `unroutable` event first, then the offer to the nearest centre with a dispatcher
      at any level (routing.fallback_centre);
    - nobody left → the case waits in the top centre's queue (enter_queue, `from_region`
      being where it was last offered); returns None.
    """
    session, clock = ctx.session, ctx.clock
    tried = set(
        (
            await session.scalars(select(CaseOffer.person_id).where(CaseOffer.case_id == case.id))
        ).all()
    )
    fresh = target is None and above_level is None
    if target is None:
        target = await choose_target(session, case, exclude=tried, above_level=above_level)
    if fresh and target is None:
        target = await fallback_centre(session, case, exclude=tried)
    if target is None:
        await enter_queue(ctx, case, from_region)
        return None
    if fresh and target.as_dispatcher:
        await workflow.apply(
            session, clock, case, "unroutable", None, {"to": target.unit.code, "queue": False}
        )
    now = clock.now()
    offer = CaseOffer(
        case_id=case.id,
        person_id=target.person.id,
        unit_code=target.unit.code,
        state="open",
        offered_at=now,
    )
    session.add(offer)
    await session.flush()
    name = "reoffer" if case.status == "assigned" else "offer"
    await workflow.apply(
        session,
        clock,
        case,
        name,
        None,
        {
            "offer_id": offer.id,
            "person_id": target.person.id,
            "unit": target.unit.code,
            "as_dispatcher": target.as_dispatcher,
        },
        unit_code=target.unit.code,
        **sla_clocks.start(case, sla_clocks.ACCEPT, now, ctx.policy, ctx.zone),
    )
    await ctx.publish(Offered(case, offer, target, held, reopened))
    return offer


async def enter_queue(ctx: Ctx, case: Case, from_region: Region | None = None) -> Unit | None:
    """Nobody is left to take the case: it waits in the top centre's queue.

    An `unroutable` event, status `reported`, the case's unit the queue's centre, any open
    offer withdrawn, and the "queue" clock: no deadline, a chase every day (the sweep offers
    it to that centre's dispatchers and reminds its leaders) until someone takes it.
    Queued is published (the leaders of `from_region` and of the queue's level are told).
    Returns the centre (None when the organisation has no centre: the chase still runs).
    """
    session, clock = ctx.session, ctx.clock
    now = clock.now()
    centre = await top_centre(session, case)
    await workflow.apply(
        session,
        clock,
        case,
        "unroutable",
        None,
        {
            "to": centre.code if centre else None,
            "queue": True,
            "from": from_region.code if from_region else None,
        },
        assignee_id=None,
        unit_code=centre.code if centre else None,
        **sla_clocks.queued(now, ctx.policy, ctx.zone),
    )
    await _decide_offers(session, _open_offers_of(case), "withdrawn", now)
    await ctx.publish(Queued(case, centre, from_region))
    return centre


async def offer_to_queue_centre(ctx: Ctx, case: Case) -> list[tuple[CaseOffer, Person]]:
    """The daily chase of a queued case: every dispatcher of the queue's centre holds an
    open offer for it (new ones where they have none), with no deadline (the case stays in
    the "queue" stage); a `reported` case becomes `assigned` with an `offer` event.
    Returns the holders; none when the centre has no dispatcher."""
    session, clock = ctx.session, ctx.clock
    holders = await open_offer_holders(session, case)
    if case.unit_code is None:
        return holders
    holding = {person.id for _, person in holders}
    dispatchers = await fetch_rows(
        session,
        Person,
        Person.unit_code == case.unit_code,
        Person.role == "dispatcher",
        Person.disabled_at.is_(None),
        order_by=Person.id,
    )
    now = clock.now()
    made: list[tuple[CaseOffer, Person]] = []
    for person in dispatchers:
        if person.id in holding:
            continue
        offer = CaseOffer(
            case_id=case.id,
            person_id=person.id,
            unit_code=case.unit_code,
            state="open",
            offered_at=now,
        )
        session.add(offer)
        made.append((offer, person))
    if made:
        await session.flush()
        if case.status == "reported":
            await workflow.apply(
                session,
                clock,
                case,
                "offer",
                None,
                {"offer_ids": [o.id for o, _ in made], "unit": case.unit_code, "queue": True},
            )
        else:
            workflow.record(
                session,
                clock,
                case,
                "reoffer",
                None,
                {"offer_ids": [o.id for o, _ in made], "unit": case.unit_code, "queue": True},
            )
    return holders + made


async def pick_up_waiting(ctx: Ctx, person: Person, limit: int = 50) -> list[CaseOffer]:
    """Someone who can take cases has just bound: offer them the cases waiting in a queue
    with nobody to offer them to (`reported`, "queue" stage) that routing would give them
    (routing.could_take: their unit's region subtree, the category, the level), oldest
    first, at most `limit`. Each offer is as by offer_next() with them as the target."""
    session = ctx.session
    if (
        person.role not in ("mediator", "dispatcher")
        or person.unit_code is None
        or person.disabled_at is not None
    ):
        return []
    unit = await session.get(Unit, person.unit_code)
    region = await session.get(Region, unit.region_code) if unit else None
    if unit is None or region is None:
        return []
    waiting = (
        await session.scalars(
            select(Case)
            .where(
                Case.status == "reported",
                Case.sla_stage == sla_clocks.QUEUE,
                Case.region_path.startswith(region.path),
            )
            .order_by(Case.created_at, Case.id)
            .limit(limit)
        )
    ).all()
    target = Target(unit, person, as_dispatcher=person.role == "dispatcher")
    offers = []
    for case in waiting:
        if not could_take(person, unit, region, case):
            continue
        # Claimed first (compare-and-set): when the sweep's chase moved it since it was read,
        # it is skipped rather than failing the binding.
        if not await workflow.claim(session, ctx.clock, case):
            continue
        offer = await offer_next(ctx, case, target=target)
        if offer is not None:
            offers.append(offer)
    return offers


@dataclass(frozen=True, slots=True)
class Placement:
    """Where a case is: offered to a mediator ("mediator") or to a centre's dispatcher
    ("centre") of `unit`, or waiting in `unit`'s queue ("queue"; `unit` None when there is
    no centre at all)."""

    kind: str
    unit: Unit | None


async def placement(session: AsyncSession, case: Case) -> Placement:
    """Who the case went to, for the reporter's receipt."""
    unit = await session.get(Unit, case.unit_code) if case.unit_code else None
    if case.sla_stage == sla_clocks.QUEUE or unit is None:
        return Placement("queue", unit)
    holders = await open_offer_holders(session, case)
    if holders and all(person.role == "dispatcher" for _, person in holders):
        return Placement("centre", unit)
    return Placement("mediator", unit)


async def hand_over(
    ctx: Ctx, case: Case, lapsed: CaseOffer | None, from_dispatcher: bool, key: str
) -> Moved:
    """An offer was not accepted in time (its holders' offers already expired): the case
    goes on, and what happened is returned for the holders' notices.

    Outcomes:
    - someone else at the same level → "passed" (a mediator) or "centre" (that level's
      centre dispatcher), as a `reoffer`;
    - the next person is a level up (a centre lets its offer lapse, or its level has
      nobody left) → escalated (督办): an `escalate` event (reason offer_timeout), the
      offer there, Escalated published (reason "unaccepted": both levels' leaders told);
    - nobody left anywhere → "queued": the top centre's queue (enter_queue);
    - no lapsed offer (an accept clock with none open) → routed afresh as a new report.
    """
    session, clock = ctx.session, ctx.clock
    if lapsed is None:
        offer = await offer_next(ctx, case)
        return await _moved(session, case, offer)
    unit = await session.get_one(Unit, lapsed.unit_code)
    region = await session.get_one(Region, unit.region_code)
    if from_dispatcher:
        # A centre letting it lapse means nobody at this level took it: the next level.
        above = region.level
    else:
        # The next person at this level or above (a case escalated to the township does
        # not fall back to the village when a township mediator lets it go).
        above = LEVELS[min(LEVELS.index(region.level) + 1, len(LEVELS) - 1)]
    tried = set(
        (
            await session.scalars(select(CaseOffer.person_id).where(CaseOffer.case_id == case.id))
        ).all()
    )
    target = await choose_target(session, case, exclude=tried, above_level=above)
    if target is None:
        centre = await enter_queue(ctx, case, region)
        queue_region = await session.get(Region, centre.region_code) if centre else None
        return Moved("queued", centre, queue_region)
    to_region = await session.get_one(Region, target.unit.region_code)
    if LEVELS.index(to_region.level) >= LEVELS.index(region.level):
        await offer_next(ctx, case, target=target)
        return Moved("centre" if target.as_dispatcher else "passed", target.unit, to_region)
    await workflow.apply(
        session,
        clock,
        case,
        "escalate",
        None,
        {"reason": "offer_timeout", "from_level": region.level, "to": to_region.code},
        assignee_id=None,
        **sla_clocks.stop(),
    )
    await offer_next(ctx, case, target=target)
    await ctx.publish(Escalated(case, region, to_region, key, reason="unaccepted"))
    return Moved("escalated", target.unit, to_region)


async def _moved(session: AsyncSession, case: Case, offer: CaseOffer | None) -> Moved:
    unit = await session.get(Unit, case.unit_code) if case.unit_code else None
    region = await session.get(Region, unit.region_code) if unit else None
    if offer is None:
        return Moved("queued", unit, region)
    return Moved("centre" if unit is not None and unit.kind == "center" else "passed", unit, region)


async def _open_offer(
    session: AsyncSession, person: Person, offer_id: int
) -> tuple[CaseOffer, Case]:
    offer = await session.get(CaseOffer, offer_id)
    if offer is None or offer.person_id != person.id:
        raise TransitionRefused("offer.not_yours")
    case = await session.get_one(Case, offer.case_id)
    if offer.state != "open":
        raise TransitionRefused(
            "case.taken" if case.assignee_id not in (None, person.id) else "offer.closed"
        )
    return offer, case


def _open_offers_of(case: Case) -> ColumnElement[bool]:
    return and_(CaseOffer.case_id == case.id, CaseOffer.state == "open")


async def _decide_offers(
    session: AsyncSession, which: ColumnElement[bool], state: str, at: datetime
) -> None:
    """Set the state of the offers `which` selects, in one statement, none of them loaded."""
    await session.execute(
        update(CaseOffer)
        .where(which)
        .values(state=state, decided_at=at)
        .execution_options(synchronize_session=False)
    )


async def accept(ctx: Ctx, person: Person, offer_id: int) -> Case:
    """The offered person takes the case.

    Outcomes: the case moves to `in_progress` with them as assignee, their other offers
    for it and everyone else's are withdrawn, points for accepting in time, Accepted is
    published (the reporter is told); or TransitionRefused
    with "offer.not_yours" (a forged or foreign button), "offer.closed" (declined or
    withdrawn earlier), "case.taken" (someone else accepted first, even at the same instant).
    """
    session, clock = ctx.session, ctx.clock
    offer, case = await _open_offer(session, person, offer_id)
    now = clock.now()
    # Taking a case from a queue it waited in is not "accepted in time".
    on_time = case.sla_stage != sla_clocks.QUEUE and (
        case.due_at is None or now <= as_utc(case.due_at)
    )
    await workflow.apply(
        session,
        clock,
        case,
        "accept",
        person,
        {"offer_id": offer.id, "unit": offer.unit_code},
        assignee_id=person.id,
        unit_code=offer.unit_code,
        accepted_at=now,
        **sla_clocks.start(case, "resolve", now, ctx.policy, ctx.zone),
    )
    if on_time:
        await points.award_case(
            ctx,
            case,
            "accepted_on_time",
            f"{case.id}:{offer.id}",
            at=now,
            person_id=person.id,
            unit_code=offer.unit_code,
        )
    await _decide_offers(session, _open_offers_of(case), "withdrawn", now)
    await _decide_offers(session, CaseOffer.id == offer.id, "accepted", now)
    await ctx.publish(Accepted(case, offer))
    return case


async def decline(ctx: Ctx, person: Person, offer_id: int, reason: str) -> CaseOffer | None:
    """The offered person hands the case back with a reason; it goes to the next person.

    Outcomes: the next offer (a mediator, else the centre's dispatcher, else a level up),
    or None when someone else still holds an open offer for it (a queue's other
    dispatchers) or nobody is left (it waits in the top centre's queue); TransitionRefused as in
    accept() when the offer is not theirs or no longer open, ("case.wrong_state") when the
    case is no longer `assigned`.
    """
    session, clock = ctx.session, ctx.clock
    offer, case = await _open_offer(session, person, offer_id)
    if case.status != "assigned":
        raise TransitionRefused("case.wrong_state")
    offer.state = "declined"
    offer.decided_at = clock.now()
    offer.reason = reason[:500]
    workflow.record(
        session, clock, case, "decline", person, {"offer_id": offer.id, "reason": reason[:500]}
    )
    await session.flush()
    if await open_offer_holders(session, case):
        return None
    return await pass_on(ctx, case, offer, person.role == "dispatcher")


async def pass_on(
    ctx: Ctx, case: Case, offer: CaseOffer, from_dispatcher: bool
) -> CaseOffer | None:
    """Offer the case to whoever is next after `offer` (declined, or not accepted in time);
    outcomes as in offer_next()."""
    unit = await ctx.session.get_one(Unit, offer.unit_code)
    region = await ctx.session.get_one(Region, unit.region_code)
    if from_dispatcher:
        # A centre handing a case back means 事权不在本级: the next level decides.
        return await offer_next(ctx, case, above_level=region.level, from_region=region)
    # Otherwise the next person at this level (or above): a case escalated to the township
    # does not fall back to the village when a township mediator lets it go.
    below = LEVELS[min(LEVELS.index(region.level) + 1, len(LEVELS) - 1)]
    return await offer_next(ctx, case, above_level=below, from_region=region)


async def case_for_handler(session: AsyncSession, person: Person, case_id: int) -> Case:
    """The case, if `person` is its assignee. Raises TransitionRefused("case.not_yours")."""
    case = await session.get(Case, case_id)
    if case is None or case.assignee_id != person.id:
        raise TransitionRefused("case.not_yours")
    return case


async def record_progress(
    ctx: Ctx,
    person: Person,
    case: Case,
    note: str,
    photos: list[str],
    channel: str,
) -> None:
    """A progress note (and photos) from the assignee; status stays `in_progress`."""
    session, clock = ctx.session, ctx.clock
    await workflow.apply(
        session, clock, case, "progress", person, {"note": note[:1000], "photos": len(photos)}
    )
    for file_ref in photos:
        session.add(
            CaseMedia(
                case_id=case.id,
                channel=channel,
                file_ref=file_ref,
                added_by=person.id,
                at=clock.now(),
            )
        )


async def close_case(
    ctx: Ctx, person: Person, case: Case, outcome: str, summary: str, agreement: str
) -> None:
    """The assignee records the outcome.

    Outcomes: `resolved` when mediated successfully (points for being on time and for a
    first mediation that never failed or reopened), else `unresolved` (to litigation,
    arbitration or key-person assistance); either way the clock stops, the follow-up is
    scheduled and Closed is published (the reporter is told). TransitionRefused
    ("case.bad_outcome") for an unknown outcome or agreement.
    """
    session, clock = ctx.session, ctx.clock
    if outcome not in OUTCOMES or agreement not in AGREEMENTS:
        raise TransitionRefused("case.bad_outcome")
    now = clock.now()
    on_time = case.due_at is None or now <= as_utc(case.due_at)
    earlier = {e.kind for e in await events_of(session, case)}
    await workflow.apply(
        session,
        clock,
        case,
        "resolve" if outcome == "success" else "fail",
        person,
        {"outcome": outcome, "summary": summary[:500], "agreement": agreement},
        outcome=outcome,
        outcome_summary=summary[:500],
        agreement=agreement,
        resolved_at=now,
        followup_at=now + ctx.policy.followup_after,
        followup_state=None,
        **sla_clocks.stop(),
    )
    if outcome == "success":
        credit = functools.partial(
            points.award_case, ctx, case, at=now, person_id=person.id, unit_code=case.unit_code
        )
        if on_time:
            await credit("resolved_on_time", f"{case.id}:{case.version}")
        if not earlier & {"fail", "reopen"}:
            await credit("first_mediation_success", str(case.id))
    await ctx.publish(Closed(case, outcome, summary))


async def escalate(ctx: Ctx, person: Person | None, case: Case, reason: str) -> CaseOffer | None:
    """Move the case one level up: an `escalate` event, no assignee, the clock stopped, open
    offers withdrawn, then re-routed above the current unit's level with outcomes as in
    offer_next(). `person` is None when the sweep escalates for delay.

    事权不在本级: the matter is not this level's to decide.
    """
    session, clock = ctx.session, ctx.clock
    level = "grid"
    region: Region | None = None
    if case.unit_code is not None:
        unit = await session.get_one(Unit, case.unit_code)
        region = await session.get_one(Region, unit.region_code)
        level = region.level
    await workflow.apply(
        session,
        clock,
        case,
        "escalate",
        person,
        {"reason": reason[:500], "from_level": level},
        assignee_id=None,
        **sla_clocks.stop(),
    )
    await _decide_offers(session, _open_offers_of(case), "withdrawn", clock.now())
    return await offer_next(ctx, case, above_level=level, from_region=region)


async def find_case(session: AsyncSession, number: str) -> Case | None:
    return await session.scalar(select(Case).where(Case.number == number.strip()))


# Look-ups that find nothing the person may read, allowed per person in a sliding window:
# case numbers are sequential, so without a limit anyone could walk them.
MISSES_ALLOWED = 5
MISS_WINDOW = timedelta(minutes=10)


class TooManyLookUps(Exception):
    """The person missed MISSES_ALLOWED look-ups within MISS_WINDOW; nothing was looked up."""

    reason = "status.too_many"


async def readable_case(
    session: AsyncSession, clock: Clock, person: Person, number: str
) -> Case | None:
    """The case if `person` may read it (org.may_read), else None: a case one may not read
    answers exactly like one that does not exist.

    Outcomes: the case (every read by staff of a case they did not report leaves a
    `case_reads` row); None, recorded as a miss; TooManyLookUps, nothing looked up, when
    the person already missed MISSES_ALLOWED times in the last MISS_WINDOW (a sliding
    window in the database, so it holds across workers and restarts; a hit does not count,
    and while throttled even a number that would be found is not looked up).
    """
    now = clock.now()
    since = now - MISS_WINDOW
    misses = await session.scalar(
        select(func.count())
        .select_from(StatusMiss)
        .where(StatusMiss.person_id == person.id, StatusMiss.at > since)
    )
    if (misses or 0) >= MISSES_ALLOWED:
        raise TooManyLookUps
    case = await find_case(session, number)
    if case is None or not await may_read(session, person, case):
        await session.execute(
            delete(StatusMiss).where(StatusMiss.person_id == person.id, StatusMiss.at <= since)
        )
        session.add(StatusMiss(person_id=person.id, at=now))
        return None
    if person.role != "citizen" and case.reporter_id != person.id:
        session.add(CaseRead(case_id=case.id, person_id=person.id, at=now))
    return case


async def reported_by(session: AsyncSession, person: Person, limit: int = 10) -> list[Case]:
    stmt = (
        select(Case)
        .where(Case.reporter_id == person.id)
        .order_by(Case.created_at.desc(), Case.id.desc())
        .limit(limit)
    )
    return list((await session.scalars(stmt)).all())


async def tasks_of(session: AsyncSession, person: Person) -> tuple[list[Case], list[CaseOffer]]:
    """A handler's open cases, and the offers waiting for their answer."""
    cases = await fetch_rows(
        session,
        Case,
        Case.assignee_id == person.id,
        Case.status == "in_progress",
        order_by=Case.accepted_at,
    )
    offers = await fetch_rows(
        session,
        CaseOffer,
        CaseOffer.person_id == person.id,
        CaseOffer.state == "open",
        order_by=CaseOffer.offered_at,
    )
    return cases, offers


async def events_of(session: AsyncSession, case: Case) -> list[CaseEvent]:
    return await fetch_rows(session, CaseEvent, CaseEvent.case_id == case.id, order_by=CaseEvent.id)


# pause, supervision, follow-up ------------------------------------------------------------


async def pause(ctx: Ctx, person: Person, case: Case, reason: str) -> None:
    """Stop the clock while waiting for a party (the reason is required and the centre sees it).

    Outcomes: the clock stopped, a `pause` event, Paused published (the centre's
    dispatchers are told); TransitionRefused("case.not_yours") unless the person holds the
    case, ("pause.not_running") when there is no clock or it is already stopped,
    ("case.taken") when the case changed meanwhile.
    """
    session, clock = ctx.session, ctx.clock
    if case.assignee_id != person.id:
        raise TransitionRefused("case.not_yours")
    if case.sla_stage is None or case.paused_at is not None:
        raise TransitionRefused("pause.not_running")
    now = clock.now()
    if not await workflow.claim(
        session, clock, case, pause_reason=reason[:200], **sla_clocks.paused(case, now)
    ):
        raise TransitionRefused("case.taken")
    workflow.record(session, clock, case, "pause", person, {"reason": reason[:200]})
    await ctx.publish(Paused(case, person, reason))


async def resume(ctx: Ctx, person: Person, case: Case) -> int:
    """Start the clock again, shifted by the time it stood still; returns those seconds.

    TransitionRefused("case.not_yours") unless the person holds the case,
    ("pause.not_paused") when the clock runs, ("case.taken") when the case changed meanwhile.
    """
    session, clock = ctx.session, ctx.clock
    if case.assignee_id != person.id:
        raise TransitionRefused("case.not_yours")
    if case.paused_at is None:
        raise TransitionRefused("pause.not_paused")
    fields, seconds = sla_clocks.resumed(case, clock.now(), ctx.policy, ctx.zone)
    if not await workflow.claim(session, clock, case, **fields):
        raise TransitionRefused("case.taken")
    workflow.record(session, clock, case, "resume", person, {"paused_seconds": seconds})
    return seconds


async def supervise(ctx: Ctx, person: Person, case: Case) -> None:
    """A leader puts a red card on an open case in their jurisdiction; everyone on it is
    reminded daily (by the sweep) until it closes: 挂牌督办.

    TransitionRefused("case.not_allowed") for anyone but a leader who may read the case,
    ("case.wrong_state") for a closed case, ("supervise.already"), ("case.taken").
    """
    session, clock = ctx.session, ctx.clock
    if person.role != "leader" or not await may_read(session, person, case):
        raise TransitionRefused("case.not_allowed")
    if case.status not in OPEN_STATES:
        raise TransitionRefused("case.wrong_state")
    if case.supervised_by is not None:
        raise TransitionRefused("supervise.already")
    if not await workflow.claim(
        session, clock, case, supervised_by=person.id, supervise_next_at=clock.now()
    ):
        raise TransitionRefused("case.taken")
    workflow.record(session, clock, case, "supervise", person, {"by": person.id})


RATINGS = {"s": "satisfied", "b": "basic", "d": "dissatisfied"}
RATING_POINTS = {"satisfied": "satisfied", "basic": "basic_satisfied"}


async def answer_followup(
    ctx: Ctx, person: Person, case_id: int, rating: str, comment: str
) -> Case:
    """The reporter's answer to the follow-up visit,
    回访.

    Outcomes: 满意 / 基本满意 → recorded, points to the unit and mediator, the case archived;
    不满意 → recorded, points taken, the case reopened and offered to the centre's
    dispatcher (Reopened published with the comment when an offer was made);
    TransitionRefused("followup.closed") when the question
    was not asked of this person or was already answered or expired.
    """
    session, clock = ctx.session, ctx.clock
    case = await session.get(Case, case_id)
    if case is None or case.reporter_id != person.id or case.followup_state != "asked":
        raise TransitionRefused("followup.closed")
    if rating not in RATINGS.values():
        raise TransitionRefused("followup.closed")
    now = clock.now()
    if not await workflow.claim(
        session, clock, case, followup_state="answered", followup_at=None, rating=rating
    ):
        raise TransitionRefused("followup.closed")
    workflow.record(
        session, clock, case, "followup", person, {"rating": rating, "comment": comment[:500]}
    )
    rule = RATING_POINTS.get(rating, "reopened_dissatisfied")
    await points.award_case(
        ctx, case, rule, str(case.id), at=now, person_id=case.assignee_id, unit_code=case.unit_code
    )
    if rating != "dissatisfied":
        if case.status in ("resolved", "unresolved"):
            await workflow.apply(session, clock, case, "archive", None, {"followup": rating})
        return case
    await workflow.apply(
        session,
        clock,
        case,
        "reopen",
        None,
        {"comment": comment[:500]},
        assignee_id=None,
        outcome=None,
        resolved_at=None,
    )
    target = await centre_target(session, case)
    offer = await offer_next(ctx, case, target=target, reopened=True)
    if offer is not None:
        await ctx.publish(Reopened(case, offer, comment))
    return case
