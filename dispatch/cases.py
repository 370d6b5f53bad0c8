"""Case operations: file a report, offer, accept, decline, progress, close, escalate.

Each operation runs inside the caller's unit of work, changes status only through
workflow.apply(), and queues its notices in the same transaction.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from dispatch import outbox, points, sla_clocks, workflow
from dispatch.clock import Clock, as_utc
from dispatch.masking import mask_phone, mask_text
from dispatch.messages import Button, Reply
from dispatch.org import ancestors, may_read
from dispatch.policy import Policy, default_policy
from dispatch.recipients import centre_dispatchers, people_at, township_and_county
from dispatch.routing import Target, centre_target, choose_target
from dispatch.vocab import LEVELS, RISKS
from dispatch.workflow import TransitionRefused
from storage.models import Case, CaseEvent, CaseMedia, CaseOffer, CaseRead, Person, Region, Unit
from storage.upserts import next_in_sequence

OPEN_STATES = ("reported", "assigned", "in_progress", "escalated")
OUTCOMES = ("success", "failed")
AGREEMENTS = ("oral", "written", "judicial", "none")


def handler_buttons(case_id: int) -> tuple[tuple[Button, ...], ...]:
    """What the assignee can do next with a case (on the accept reply, tasks, reminders)."""
    return (
        (Button("button.progress", f"p:{case_id}"), Button("button.close_case", f"c:{case_id}")),
        (Button("button.pause", f"z:{case_id}"), Button("button.escalate", f"e:{case_id}")),
    )


def t(key: str) -> dict[str, str]:
    """A parameter that the adapter renders as message `key` in the reader's locale."""
    return {"$t": key}


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
    """ "勐海县 勐海镇 曼贺村 第1网格": the names below the prefecture, broadest first."""
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


async def case_card(
    session: AsyncSession, zone: ZoneInfo, case: Case, *, reveal: bool
) -> dict[str, Any]:
    """The parameters every case message shows. `reveal`: the reader is on the case itself."""
    place = await place_name(session, case.region_code)
    if case.address:
        place = f"{place} {case.address}".strip()
    description = case.description if reveal else mask_text(case.description)
    if case.phone:
        phone: Any = case.phone if reveal else mask_phone(case.phone)
    else:
        phone = t("phone.anonymous")
    return {
        "number": case.number,
        "category": t(f"cat.{case.category}"),
        "risk": t(f"risk.{case.risk}"),
        "status": t(f"status.{case.status}"),
        "description": description[:600],
        "place": place or t("place.unknown"),
        "people": t(f"people.{case.people_involved}") if case.people_involved else "-",
        "danger": t("word.yes" if case.danger else "word.no"),
        "phone": phone,
        "reported_at": local_time(case.created_at, zone),
    }


async def file_report(
    session: AsyncSession,
    clock: Clock,
    zone: ZoneInfo,
    reporter: Person,
    draft: ReportDraft,
    channel: str,
    policy: Policy | None = None,
) -> Case:
    """Create a case from a finished report dialog and set it on its way.

    Outcomes:
    - resolved on the spot (grid worker / department staff) → status `resolved` at once;
    - otherwise → routed and offered to a mediator (`assigned`), or to a centre dispatcher,
      or left `reported` when the organisation has nobody to take it.
    """
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
        {"channel": channel, "category": case.category, "risk": case.risk, "cues": case.cues},
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
        await alert_major(session, clock, zone, case)
    await offer_next(session, clock, zone, case, policy=policy)
    return case


async def alert_major(session: AsyncSession, clock: Clock, zone: ZoneInfo, case: Case) -> None:
    """A major-risk case reaches the leaders and dispatchers of its township and county at
    once, with the cues that made it major; urgent, so quiet hours do not hold it."""
    card = await case_card(session, zone, case, reveal=False)
    card["cues"] = "、".join(str(c) for c in case.cues) or "-"
    regions = await township_and_county(session, case)
    await outbox.enqueue_each(
        session,
        clock,
        [p.id for p in await people_at(session, regions, ["leader", "dispatcher"])],
        Reply("notice.major_alert", card),
        purpose="alert",
        dedupe_prefix=f"alert:{case.id}",
        case_id=case.id,
        urgent=True,
    )


async def offer_next(
    session: AsyncSession,
    clock: Clock,
    zone: ZoneInfo,
    case: Case,
    *,
    above_level: str | None = None,
    policy: Policy | None = None,
    target: Target | None = None,
) -> CaseOffer | None:
    """Offer the case to the next person routing names, skipping everyone already asked.

    Outcomes: an open offer and an assignment notice (status `assigned`); or, when nobody is
    left anywhere, status `reported` with an `unroutable` event for the centre to see.
    """
    tried = set(
        (
            await session.scalars(select(CaseOffer.person_id).where(CaseOffer.case_id == case.id))
        ).all()
    )
    if target is None:
        target = await choose_target(session, case, exclude=tried, above_level=above_level)
    if target is None:
        if case.status != "reported":
            await workflow.apply(session, clock, case, "unroutable", None, {}, **sla_clocks.stop())
        return None
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
        **sla_clocks.start(case, "accept", now, policy or default_policy(), zone),
    )
    card = await case_card(session, zone, case, reveal=False)
    card["unit"] = target.unit.name
    await outbox.enqueue(
        session,
        clock,
        target.person.id,
        Reply(
            "notice.offer_dispatcher" if target.as_dispatcher else "notice.offer",
            card,
            buttons=(
                (
                    Button("button.accept", f"a:{offer.id}"),
                    Button("button.decline", f"d:{offer.id}"),
                ),
            ),
        ),
        purpose="offer",
        dedupe_key=f"offer:{offer.id}",
        case_id=case.id,
        offer_id=offer.id,
    )
    return offer


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


async def accept(
    session: AsyncSession,
    clock: Clock,
    zone: ZoneInfo,
    person: Person,
    offer_id: int,
    policy: Policy | None = None,
) -> Case:
    """The offered person takes the case.

    Outcomes: the case moves to `in_progress` with them as assignee, their other offers
    for it and everyone else's are withdrawn, the reporter is told; or TransitionRefused
    with "offer.not_yours" (a forged or foreign button), "offer.closed" (declined or
    withdrawn earlier), "case.taken" (someone else accepted first, even at the same instant).
    """
    offer, case = await _open_offer(session, person, offer_id)
    now = clock.now()
    on_time = case.due_at is None or now <= as_utc(case.due_at)
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
        **sla_clocks.start(case, "resolve", now, policy or default_policy(), zone),
    )
    if on_time:
        await points.award(
            session,
            points.default_rules(),
            rule="accepted_on_time",
            at=now,
            case_id=case.id,
            person_id=person.id,
            unit_code=offer.unit_code,
            key=f"{case.id}:{offer.id}",
        )
    await session.execute(
        update(CaseOffer)
        .where(CaseOffer.case_id == case.id, CaseOffer.state == "open")
        .values(state="withdrawn", decided_at=now)
        .execution_options(synchronize_session=False)
    )
    await session.execute(
        update(CaseOffer)
        .where(CaseOffer.id == offer.id)
        .values(state="accepted", decided_at=now)
        .execution_options(synchronize_session=False)
    )
    unit = await session.get_one(Unit, offer.unit_code)
    card = await case_card(session, zone, case, reveal=False)
    card["unit"] = unit.name
    await outbox.enqueue(
        session,
        clock,
        case.reporter_id,
        Reply("notice.accepted", card),
        purpose="accepted",
        dedupe_key=f"accepted:{case.id}:{offer.id}",
        case_id=case.id,
    )
    return case


async def decline(
    session: AsyncSession,
    clock: Clock,
    zone: ZoneInfo,
    person: Person,
    offer_id: int,
    reason: str,
    policy: Policy | None = None,
) -> CaseOffer | None:
    """The offered person hands the case back with a reason; it goes to the next person.

    Outcomes: the next offer (a mediator, else the centre's dispatcher, else a level up),
    or None when nobody is left (the case waits as `reported`); TransitionRefused as in
    accept() when the offer is not theirs or no longer open.
    """
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
    return await pass_on(session, clock, zone, case, offer, person.role == "dispatcher", policy)


async def pass_on(
    session: AsyncSession,
    clock: Clock,
    zone: ZoneInfo,
    case: Case,
    offer: CaseOffer,
    from_dispatcher: bool,
    policy: Policy | None = None,
) -> CaseOffer | None:
    """Offer the case to whoever is next after `offer` (declined, or not accepted in time)."""
    unit = await session.get_one(Unit, offer.unit_code)
    region = await session.get_one(Region, unit.region_code)
    if from_dispatcher:
        # A centre handing a case back means 事权不在本级: the next level decides.
        return await offer_next(session, clock, zone, case, above_level=region.level, policy=policy)
    # Otherwise the next person at this level (or above): a case escalated to the township
    # does not fall back to the village when a township mediator lets it go.
    below = LEVELS[min(LEVELS.index(region.level) + 1, len(LEVELS) - 1)]
    return await offer_next(session, clock, zone, case, above_level=below, policy=policy)


async def case_for_handler(session: AsyncSession, person: Person, case_id: int) -> Case:
    """The case, if `person` is its assignee. Raises TransitionRefused("case.not_yours")."""
    case = await session.get(Case, case_id)
    if case is None or case.assignee_id != person.id:
        raise TransitionRefused("case.not_yours")
    return case


async def record_progress(
    session: AsyncSession,
    clock: Clock,
    person: Person,
    case: Case,
    note: str,
    photos: list[str],
    channel: str,
) -> None:
    """A progress note (and photos) from the assignee; status stays `in_progress`."""
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
    session: AsyncSession,
    clock: Clock,
    zone: ZoneInfo,
    person: Person,
    case: Case,
    outcome: str,
    summary: str,
    agreement: str,
    policy: Policy | None = None,
) -> None:
    """The assignee records the outcome: `resolved` when mediated successfully, else
    `unresolved` (to litigation, arbitration or key-person assistance). The reporter is told.
    """
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
        followup_at=now + (policy or default_policy()).followup_after,
        followup_state=None,
        **sla_clocks.stop(),
    )
    if outcome == "success":
        rules = points.default_rules()
        award = {"at": now, "case_id": case.id, "person_id": person.id, "unit_code": case.unit_code}
        if on_time:
            await points.award(
                session, rules, rule="resolved_on_time", key=f"{case.id}:{case.version}", **award
            )
        if not earlier & {"fail", "reopen"}:
            await points.award(
                session, rules, rule="first_mediation_success", key=str(case.id), **award
            )
    card = await case_card(session, zone, case, reveal=False)
    card["outcome"] = t(f"outcome.{outcome}")
    card["summary"] = mask_text(summary[:500])
    await outbox.enqueue(
        session,
        clock,
        case.reporter_id,
        Reply("notice.closed", card),
        purpose="closed",
        dedupe_key=f"closed:{case.id}:{case.version}",
        case_id=case.id,
    )


async def escalate(
    session: AsyncSession,
    clock: Clock,
    zone: ZoneInfo,
    person: Person | None,
    case: Case,
    reason: str,
    policy: Policy | None = None,
) -> CaseOffer | None:
    """Move the case one level up (事权不在本级): re-routed above the current unit's level."""
    level = "grid"
    if case.unit_code is not None:
        unit = await session.get_one(Unit, case.unit_code)
        level = (await session.get_one(Region, unit.region_code)).level
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
    await session.execute(
        update(CaseOffer)
        .where(CaseOffer.case_id == case.id, CaseOffer.state == "open")
        .values(state="withdrawn", decided_at=clock.now())
        .execution_options(synchronize_session=False)
    )
    return await offer_next(session, clock, zone, case, above_level=level, policy=policy)


async def find_case(session: AsyncSession, number: str) -> Case | None:
    return await session.scalar(select(Case).where(Case.number == number.strip()))


async def readable_case(
    session: AsyncSession, clock: Clock, person: Person, number: str
) -> Case | None:
    """The case if `person` may read it (else None, so existence is not revealed).

    Every read by staff leaves a `case_reads` row.
    """
    case = await find_case(session, number)
    if case is None or not await may_read(session, person, case):
        return None
    if person.role != "citizen" and case.reporter_id != person.id:
        session.add(CaseRead(case_id=case.id, person_id=person.id, at=clock.now()))
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
    cases = (
        await session.scalars(
            select(Case)
            .where(Case.assignee_id == person.id, Case.status == "in_progress")
            .order_by(Case.accepted_at)
        )
    ).all()
    offers = (
        await session.scalars(
            select(CaseOffer)
            .where(CaseOffer.person_id == person.id, CaseOffer.state == "open")
            .order_by(CaseOffer.offered_at)
        )
    ).all()
    return list(cases), list(offers)


async def events_of(session: AsyncSession, case: Case) -> list[CaseEvent]:
    return list(
        (
            await session.scalars(
                select(CaseEvent).where(CaseEvent.case_id == case.id).order_by(CaseEvent.id)
            )
        ).all()
    )


# pause, supervision, follow-up ------------------------------------------------------------


async def pause(
    session: AsyncSession,
    clock: Clock,
    zone: ZoneInfo,
    person: Person,
    case: Case,
    reason: str,
) -> None:
    """Stop the clock while waiting for a party (the reason is required and the centre sees it).

    Outcomes: TransitionRefused("case.not_yours") unless the person holds the case,
    ("pause.not_running") when there is no clock or it is already stopped.
    """
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
    card = await case_card(session, zone, case, reveal=False)
    card["reason"] = mask_text(reason[:200])
    card["who"] = person.display_name or "-"
    await outbox.enqueue_each(
        session,
        clock,
        [d.id for d in await centre_dispatchers(session, case.unit_code)],
        Reply("notice.paused", card),
        purpose="paused",
        dedupe_prefix=f"paused:{case.id}:{case.version}",
        case_id=case.id,
    )


async def resume(
    session: AsyncSession,
    clock: Clock,
    zone: ZoneInfo,
    person: Person,
    case: Case,
    policy: Policy | None = None,
) -> int:
    """Start the clock again, shifted by the time it stood still; returns those seconds."""
    if case.assignee_id != person.id:
        raise TransitionRefused("case.not_yours")
    if case.paused_at is None:
        raise TransitionRefused("pause.not_paused")
    fields, seconds = sla_clocks.resumed(case, clock.now(), policy or default_policy(), zone)
    if not await workflow.claim(session, clock, case, **fields):
        raise TransitionRefused("case.taken")
    workflow.record(session, clock, case, "resume", person, {"paused_seconds": seconds})
    return seconds


async def supervise(session: AsyncSession, clock: Clock, person: Person, case: Case) -> None:
    """挂牌督办: a leader puts a red card on an open case in their jurisdiction; everyone on it
    is reminded daily until it closes."""
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
    session: AsyncSession,
    clock: Clock,
    zone: ZoneInfo,
    person: Person,
    case_id: int,
    rating: str,
    comment: str,
    policy: Policy | None = None,
) -> Case:
    """The reporter's answer to 回访.

    Outcomes: 满意 / 基本满意 → recorded, points to the unit and mediator, the case archived;
    不满意 → recorded, points taken, the case reopened and offered to the centre's
    dispatcher with the comment; TransitionRefused("followup.closed") when the question
    was not asked of this person or was already answered or expired.
    """
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
    await points.award(
        session,
        points.default_rules(),
        rule=rule,
        at=now,
        case_id=case.id,
        person_id=case.assignee_id,
        unit_code=case.unit_code,
        key=str(case.id),
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
    offer = await offer_next(session, clock, zone, case, policy=policy, target=target)
    if offer is not None:
        await outbox.enqueue(
            session,
            clock,
            offer.person_id,
            Reply("notice.reopened", {"number": case.number, "comment": mask_text(comment) or "-"}),
            purpose="reopened",
            dedupe_key=f"reopened:{case.id}:{case.version}",
            case_id=case.id,
        )
    return case
