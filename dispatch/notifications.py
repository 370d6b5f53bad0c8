"""Who hears of what happened, and in which words: the domain publishes events
(dispatch.events), this module turns each into notices and queues them in the outbox in
the same unit of work.

A notice is a `Reply` (message key, parameters, buttons); the adapter renders it in the
reader's locale. Each notice has a dedupe key naming its cause, so a replayed cause (a
retried message, a sweep run twice) is told once.
"""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from dispatch import outbox
from dispatch.cases import local_time, place_name
from dispatch.clock import as_utc
from dispatch.context import Ctx
from dispatch.events import (
    Accepted,
    Closed,
    Escalated,
    Event,
    FollowUpAsked,
    MajorRisk,
    Offered,
    OfferExpired,
    Overdue,
    Paused,
    ProgressRequired,
    Reminded,
    Reopened,
    SupervisionDue,
)
from dispatch.masking import mask_phone, mask_text
from dispatch.messages import Button, Reply, t
from dispatch.payloads import Accept, Close, Decline, Escalate, FollowUp, Pause, Progress
from dispatch.recipients import (
    centre_dispatchers,
    leaders_of,
    open_offer_holders,
    people_at,
    township_and_county,
    unique,
)
from storage.models import Case, Person, Unit

Rows = tuple[tuple[Button, ...], ...]

FOLLOWUP_RATINGS = ("satisfied", "basic", "dissatisfied")


def offer_buttons(offer_id: int) -> Rows:
    """接单 / 退回, on an offer and on its reminders."""
    return (
        (
            Button("button.accept", Accept(offer_id).pack()),
            Button("button.decline", Decline(offer_id).pack()),
        ),
    )


def handler_buttons(case_id: int) -> Rows:
    """What the assignee can do next with a case (on the accept reply, tasks, reminders)."""
    return (
        (
            Button("button.progress", Progress(case_id).pack()),
            Button("button.close_case", Close(case_id).pack()),
        ),
        (
            Button("button.pause", Pause(case_id).pack()),
            Button("button.escalate", Escalate(case_id).pack()),
        ),
    )


def progress_buttons(case_id: int) -> Rows:
    """Reminders offer the first row of what the assignee can do: progress, close."""
    return handler_buttons(case_id)[:1]


def rating_buttons(case_id: int) -> Rows:
    return (tuple(Button(f"rating.{r}", FollowUp.of(case_id, r).pack()) for r in FOLLOWUP_RATINGS),)


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


async def handle(ctx: Ctx, event: Event) -> None:
    """Queue the notices `event` calls for (dispatch.context.Notify)."""
    match event:
        case MajorRisk():
            await _major_risk(ctx, event)
        case Offered():
            await _offered(ctx, event)
        case Accepted():
            await _accepted(ctx, event)
        case Closed():
            await _closed(ctx, event)
        case Paused():
            await _paused(ctx, event)
        case Reopened():
            await _reopened(ctx, event)
        case Reminded():
            await _reminded(ctx, event)
        case ProgressRequired():
            await _progress_required(ctx, event)
        case OfferExpired():
            await _offer_expired(ctx, event)
        case Overdue():
            await _overdue(ctx, event)
        case Escalated():
            await _escalated(ctx, event)
        case SupervisionDue():
            await _supervision_due(ctx, event)
        case FollowUpAsked():
            await _followup_asked(ctx, event)


async def _card(ctx: Ctx, case: Case) -> dict[str, Any]:
    return await case_card(ctx.session, ctx.zone, case, reveal=False)


async def _major_risk(ctx: Ctx, event: MajorRisk) -> None:
    """The leaders and dispatchers of the township and county hear at once, with the cues
    that made it major; urgent, so quiet hours do not hold it."""
    case = event.case
    card = await _card(ctx, case)
    card["cues"] = "、".join(str(c) for c in case.cues) or "-"
    regions = await township_and_county(ctx.session, case)
    await outbox.enqueue_each(
        ctx.session,
        ctx.clock,
        [p.id for p in await people_at(ctx.session, regions, ["leader", "dispatcher"])],
        Reply("notice.major_alert", card),
        purpose="alert",
        dedupe_prefix=f"alert:{case.id}",
        case_id=case.id,
        urgent=True,
    )


async def _offered(ctx: Ctx, event: Offered) -> None:
    case, offer, target = event.case, event.offer, event.target
    card = await _card(ctx, case)
    card["unit"] = target.unit.name
    await outbox.enqueue(
        ctx.session,
        ctx.clock,
        target.person.id,
        Reply(
            "notice.offer_dispatcher" if target.as_dispatcher else "notice.offer",
            card,
            buttons=offer_buttons(offer.id),
        ),
        purpose="offer",
        dedupe_key=f"offer:{offer.id}",
        case_id=case.id,
        offer_id=offer.id,
    )


async def _accepted(ctx: Ctx, event: Accepted) -> None:
    """The reporter hears which unit took the case."""
    case, offer = event.case, event.offer
    unit = await ctx.session.get_one(Unit, offer.unit_code)
    card = await _card(ctx, case)
    card["unit"] = unit.name
    await outbox.enqueue(
        ctx.session,
        ctx.clock,
        case.reporter_id,
        Reply("notice.accepted", card),
        purpose="accepted",
        dedupe_key=f"accepted:{case.id}:{offer.id}",
        case_id=case.id,
    )


async def _closed(ctx: Ctx, event: Closed) -> None:
    """The reporter hears the outcome."""
    case = event.case
    card = await _card(ctx, case)
    card["outcome"] = t(f"outcome.{event.outcome}")
    card["summary"] = mask_text(event.summary[:500])
    await outbox.enqueue(
        ctx.session,
        ctx.clock,
        case.reporter_id,
        Reply("notice.closed", card),
        purpose="closed",
        dedupe_key=f"closed:{case.id}:{case.version}",
        case_id=case.id,
    )


async def _paused(ctx: Ctx, event: Paused) -> None:
    """The centre's dispatchers see why the clock stands still."""
    case = event.case
    card = await _card(ctx, case)
    card["reason"] = mask_text(event.reason[:200])
    card["who"] = event.by.display_name or "-"
    await outbox.enqueue_each(
        ctx.session,
        ctx.clock,
        [d.id for d in await centre_dispatchers(ctx.session, case.unit_code)],
        Reply("notice.paused", card),
        purpose="paused",
        dedupe_prefix=f"paused:{case.id}:{case.version}",
        case_id=case.id,
    )


async def _reopened(ctx: Ctx, event: Reopened) -> None:
    """Whoever the reopened case was offered to reads the reporter's comment."""
    case = event.case
    await outbox.enqueue(
        ctx.session,
        ctx.clock,
        event.offer.person_id,
        Reply(
            "notice.reopened", {"number": case.number, "comment": mask_text(event.comment) or "-"}
        ),
        purpose="reopened",
        dedupe_key=f"reopened:{case.id}:{case.version}",
        case_id=case.id,
    )


async def _reminded(ctx: Ctx, event: Reminded) -> None:
    """Waiting for an answer: every open offer's holder; otherwise the assignee."""
    case = event.case
    card = await _card(ctx, case)
    card["percent"] = int(event.fraction * 100)
    card["due"] = local_time(case.due_at or event.at, ctx.zone)
    if event.stage == "accept":
        for offer, person in await open_offer_holders(ctx.session, case):
            await outbox.enqueue(
                ctx.session,
                ctx.clock,
                person.id,
                Reply("sla.remind_accept", card, buttons=offer_buttons(offer.id)),
                purpose="remind",
                dedupe_key=f"remind:{event.key}:{person.id}",
                case_id=case.id,
                offer_id=offer.id,
                urgent=case.risk == "major",
            )
    elif case.assignee_id is not None:
        await outbox.enqueue(
            ctx.session,
            ctx.clock,
            case.assignee_id,
            Reply("sla.remind_resolve", card, buttons=progress_buttons(case.id)),
            purpose="remind",
            dedupe_key=f"remind:{event.key}",
            case_id=case.id,
            urgent=case.risk == "major",
        )


async def _progress_required(ctx: Ctx, event: ProgressRequired) -> None:
    case = event.case
    if case.assignee_id is None:
        return
    card = await _card(ctx, case)
    await outbox.enqueue(
        ctx.session,
        ctx.clock,
        case.assignee_id,
        Reply("sla.progress_required", card, buttons=progress_buttons(case.id)),
        purpose="remind",
        dedupe_key=f"progress:{event.key}",
        case_id=case.id,
        urgent=True,
    )


async def _offer_expired(ctx: Ctx, event: OfferExpired) -> None:
    await outbox.enqueue(
        ctx.session,
        ctx.clock,
        event.holder.id,
        Reply("sla.offer_expired", {"number": event.case.number}),
        purpose="expired",
        dedupe_key=f"expired:{event.offer.id}",
        case_id=event.case.id,
    )


async def _overdue(ctx: Ctx, event: Overdue) -> None:
    """催办: the assignee (with their buttons) and their centre's dispatchers."""
    case = event.case
    assignee = await ctx.session.get(Person, case.assignee_id) if case.assignee_id else None
    card = await _card(ctx, case)
    card["due"] = local_time(case.due_at or event.at, ctx.zone)
    card["assignee"] = assignee.display_name if assignee else "-"
    targets = [(assignee, "sla.overdue")] + [
        (p, "sla.overdue_dispatcher") for p in await centre_dispatchers(ctx.session, case.unit_code)
    ]
    for person, text_key in targets:
        if person is None:
            continue
        await outbox.enqueue(
            ctx.session,
            ctx.clock,
            person.id,
            Reply(text_key, card, buttons=progress_buttons(case.id) if person is assignee else ()),
            purpose="overdue",
            dedupe_key=f"overdue:{event.key}:{person.id}",
            case_id=case.id,
            urgent=case.risk == "major",
        )


async def _escalated(ctx: Ctx, event: Escalated) -> None:
    """督办: the leaders of the level it left and of the level it reached."""
    case = event.case
    card = await _card(ctx, case)
    card["from"] = event.from_region.name if event.from_region else "-"
    card["to"] = event.to_region.name if event.to_region else "-"
    leaders = unique(
        [
            *await leaders_of(ctx.session, event.from_region),
            *await leaders_of(ctx.session, event.to_region),
        ]
    )
    await outbox.enqueue_each(
        ctx.session,
        ctx.clock,
        [leader.id for leader in leaders],
        Reply("sla.escalated_leader", card),
        purpose="escalated",
        dedupe_prefix=f"escalated:{event.key}",
        case_id=case.id,
        urgent=case.risk == "major",
    )


async def _supervision_due(ctx: Ctx, event: SupervisionDue) -> None:
    """挂牌督办: the assignee, the supervising leader, the centre's dispatchers and anyone
    holding an open offer."""
    case, session = event.case, ctx.session
    card = await _card(ctx, case)
    card["days"] = max(1, (event.at - as_utc(case.created_at)).days)
    people = [
        await session.get(Person, case.assignee_id) if case.assignee_id else None,
        await session.get(Person, case.supervised_by) if case.supervised_by else None,
        *await centre_dispatchers(session, case.unit_code),
        *(person for _, person in await open_offer_holders(session, case)),
    ]
    await outbox.enqueue_each(
        session,
        ctx.clock,
        [person.id for person in unique(people)],
        Reply("sla.supervision_daily", card),
        purpose="supervision",
        dedupe_prefix=f"supervise:{case.id}:{event.at.astimezone(ctx.zone).date().isoformat()}",
        case_id=case.id,
    )


async def _followup_asked(ctx: Ctx, event: FollowUpAsked) -> None:
    case = event.case
    card = await _card(ctx, case)
    card["outcome"] = t(f"outcome.{case.outcome or 'success'}")
    await outbox.enqueue(
        ctx.session,
        ctx.clock,
        case.reporter_id,
        Reply("followup.ask", card, buttons=rating_buttons(case.id)),
        purpose="followup",
        dedupe_key=f"followup:{case.id}:{case.version}",
        case_id=case.id,
    )
