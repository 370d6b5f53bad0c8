"""Who hears of what happened, and in which words: the domain publishes events
(dispatch.events), this module turns each into notices and queues them in the outbox in
the same unit of work.

A notice is a `Reply` (message key, parameters, buttons); the adapter renders it in the
reader's locale. Each notice has a dedupe key naming its cause, so a replayed cause (a
retried message, a sweep run twice) is told once.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from dispatch import keyperson_notices, outbox
from dispatch.cases import local_time, place_name
from dispatch.clock import as_utc
from dispatch.context import Ctx
from dispatch.events import (
    Accepted,
    Closed,
    Escalated,
    Event,
    FollowUpAsked,
    KeyPersonClosed,
    KeyPersonEnrolled,
    KeyPersonReassessed,
    MajorRisk,
    Offered,
    OfferExpired,
    Overdue,
    Paused,
    ProgressRequired,
    QueueChased,
    Queued,
    ReassessAsked,
    Reminded,
    Reopened,
    SupervisionDue,
    VisitRisk,
    VisitsShort,
)
from dispatch.masking import mask_phone, mask_text
from dispatch.messages import Button, Reply, t
from dispatch.payloads import Accept, Close, Decline, Escalate, FollowUp, Pause, Progress
from dispatch.policy import urgent
from dispatch.recipients import (
    centre_dispatchers,
    leaders_of,
    open_offer_holders,
    people_at,
    township_and_county,
    unique,
)
from storage.models import Case, Person, Region, Unit

Rows = tuple[tuple[Button, ...], ...]

FOLLOWUP_RATINGS = ("satisfied", "basic", "dissatisfied")

# Events about a key person rather than a case: dispatch/keyperson_notices.py tells them.
KEY_PERSON_EVENTS = (
    KeyPersonEnrolled,
    VisitRisk,
    VisitsShort,
    ReassessAsked,
    KeyPersonReassessed,
    KeyPersonClosed,
)


def offer_buttons(offer_id: int) -> Rows:
    """Accept and decline, on an offer and on its reminders:
    接单 / 退回."""
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
        # A typed address is free text: it may hold a phone number too.
        address = case.address if reveal else mask_text(case.address)
        place = f"{place} {address}".strip()
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
    if isinstance(event, KEY_PERSON_EVENTS):
        await keyperson_notices.handle(ctx, event)
        return
    notices = _Notices(ctx, event.case)
    match event:
        case MajorRisk():
            await _major_risk(notices, event)
        case Offered():
            await _offered(notices, event)
        case Accepted():
            await _accepted(notices, event)
        case Closed():
            await _closed(notices, event)
        case Paused():
            await _paused(notices, event)
        case Reopened():
            await _reopened(notices, event)
        case Reminded():
            await _reminded(notices, event)
        case ProgressRequired():
            await _progress_required(notices, event)
        case OfferExpired():
            await _offer_expired(notices, event)
        case Overdue():
            await _overdue(notices, event)
        case Escalated():
            await _escalated(notices, event)
        case Queued():
            await _queued(notices, event)
        case QueueChased():
            await _queue_chased(notices, event)
        case SupervisionDue():
            await _supervision_due(notices, event)
        case FollowUpAsked():
            await _followup_asked(notices, event)


@dataclass(frozen=True, slots=True)
class _Notices:
    """The notices one event causes, all about `case`, queued in `ctx`'s unit of work."""

    ctx: Ctx
    case: Case

    async def card(self, extra: dict[str, Any] | None = None) -> dict[str, Any]:
        """The masked case card, with the parameters this notice adds."""
        card = await case_card(self.ctx.session, self.ctx.zone, self.case, reveal=False)
        return {**card, **(extra or {})}

    async def tell(
        self,
        person_id: int,
        reply: Reply,
        *,
        purpose: str,
        dedupe: str,
        offer_id: int | None = None,
        urgent: bool = False,
    ) -> None:
        """Queue one notice for one person; `dedupe` names its cause."""
        await outbox.enqueue(
            self.ctx.session,
            self.ctx.clock,
            person_id,
            reply,
            purpose=purpose,
            dedupe_key=dedupe,
            case_id=self.case.id,
            offer_id=offer_id,
            urgent=urgent,
        )

    async def tell_each(
        self,
        person_ids: Iterable[int],
        reply: Reply,
        *,
        purpose: str,
        dedupe_prefix: str,
        urgent: bool = False,
    ) -> None:
        """The same notice to several people, each once (dedupe key: prefix and person)."""
        for person_id in person_ids:
            dedupe = f"{dedupe_prefix}:{person_id}"
            await self.tell(person_id, reply, purpose=purpose, dedupe=dedupe, urgent=urgent)


async def _major_risk(notices: _Notices, event: MajorRisk) -> None:
    """The leaders and dispatchers of the township and county hear at once, with the cues
    that made it major; urgent, so quiet hours do not hold it."""
    case, session = event.case, notices.ctx.session
    card = await notices.card({"cues": "、".join(str(c) for c in case.cues) or "-"})
    regions = await township_and_county(session, case)
    people = await people_at(session, regions, ["leader", "dispatcher"])
    await notices.tell_each(
        [p.id for p in people],
        Reply("notice.major_alert", card),
        purpose="alert",
        dedupe_prefix=f"alert:{case.id}",
        urgent=True,
    )


async def _offered(notices: _Notices, event: Offered) -> None:
    """The person offered the case; urgent for a major case, whose accept clock runs at
    night too (sla_clocks.start)."""
    offer, target = event.offer, event.target
    key = "notice.offer_dispatcher" if target.as_dispatcher else "notice.offer"
    if event.held:
        key = "notice.offer_held"
    elif event.reopened:
        # Not "no mediator was available": the reporter was not satisfied.
        key = "notice.offer_reopened"
    card = await notices.card({"unit": target.unit.name})
    reply = Reply(key, card, buttons=offer_buttons(offer.id))
    await notices.tell(
        target.person.id,
        reply,
        purpose="offer",
        dedupe=f"offer:{offer.id}",
        offer_id=offer.id,
        urgent=urgent(event.case.risk),
    )


async def _accepted(notices: _Notices, event: Accepted) -> None:
    """The reporter hears which unit took the case."""
    case, offer = event.case, event.offer
    unit = await notices.ctx.session.get_one(Unit, offer.unit_code)
    reply = Reply("notice.accepted", await notices.card({"unit": unit.name}))
    dedupe = f"accepted:{case.id}:{offer.id}"
    await notices.tell(case.reporter_id, reply, purpose="accepted", dedupe=dedupe)


async def _closed(notices: _Notices, event: Closed) -> None:
    """The reporter hears the outcome."""
    case = event.case
    outcome = {"outcome": t(f"outcome.{event.outcome}"), "summary": mask_text(event.summary)[:500]}
    reply = Reply("notice.closed", await notices.card(outcome))
    dedupe = f"closed:{case.id}:{case.version}"
    await notices.tell(case.reporter_id, reply, purpose="closed", dedupe=dedupe)


async def _paused(notices: _Notices, event: Paused) -> None:
    """The centre's dispatchers see why the clock stands still."""
    case = event.case
    why = {"reason": mask_text(event.reason)[:200], "who": event.by.display_name or "-"}
    dispatchers = await centre_dispatchers(notices.ctx.session, case.unit_code)
    await notices.tell_each(
        [d.id for d in dispatchers],
        Reply("notice.paused", await notices.card(why)),
        purpose="paused",
        dedupe_prefix=f"paused:{case.id}:{case.version}",
    )


async def _reopened(notices: _Notices, event: Reopened) -> None:
    """Whoever the reopened case was offered to reads the reporter's comment."""
    case = event.case
    params = {"number": case.number, "comment": mask_text(event.comment) or "-"}
    dedupe = f"reopened:{case.id}:{case.version}"
    reply = Reply("notice.reopened", params)
    await notices.tell(event.offer.person_id, reply, purpose="reopened", dedupe=dedupe)


async def _reminded(notices: _Notices, event: Reminded) -> None:
    """Waiting for an answer: every open offer's holder; otherwise the assignee."""
    case, ctx = event.case, notices.ctx
    due = local_time(case.due_at or event.at, ctx.zone)
    card = await notices.card({"percent": int(event.fraction * 100), "due": due})
    now = urgent(case.risk)
    if event.stage == "accept":
        for offer, person in await open_offer_holders(ctx.session, case):
            reply = Reply("sla.remind_accept", card, buttons=offer_buttons(offer.id))
            dedupe = f"remind:{event.key}:{person.id}"
            await notices.tell(
                person.id, reply, purpose="remind", dedupe=dedupe, offer_id=offer.id, urgent=now
            )
    elif case.assignee_id is not None:
        reply = Reply("sla.remind_resolve", card, buttons=progress_buttons(case.id))
        dedupe = f"remind:{event.key}"
        await notices.tell(case.assignee_id, reply, purpose="remind", dedupe=dedupe, urgent=now)


async def _progress_required(notices: _Notices, event: ProgressRequired) -> None:
    case = event.case
    if case.assignee_id is None:
        return
    buttons = progress_buttons(case.id)
    reply = Reply("sla.progress_required", await notices.card(), buttons=buttons)
    dedupe = f"progress:{event.key}"
    await notices.tell(case.assignee_id, reply, purpose="remind", dedupe=dedupe, urgent=True)


_EXPIRED = {
    "passed": "sla.offer_expired_passed",
    "centre": "sla.offer_expired_centre",
    "escalated": "sla.offer_expired_escalated",
    "queued": "sla.offer_expired_queued",
}


async def _offer_expired(notices: _Notices, event: OfferExpired) -> None:
    """The holder of a lapsed offer hears where the case went: another mediator, the
    centre, a level up, or the top centre's queue."""
    moved, policy = event.moved, notices.ctx.policy
    params = {
        "number": event.case.number,
        "unit": moved.unit.name if moved.unit else t("sla.no_centre"),
        "level": moved.region.name if moved.region else "-",
        "time": policy.supervision_time.strftime("%H:%M"),
    }
    reply = Reply(_EXPIRED[moved.outcome], params)
    dedupe = f"expired:{event.offer.id}"
    await notices.tell(
        event.holder.id, reply, purpose="expired", dedupe=dedupe, urgent=urgent(event.case.risk)
    )


async def _overdue(notices: _Notices, event: Overdue) -> None:
    """The assignee (with their buttons) and their centre's dispatchers.

    催办
    """
    case, session = event.case, notices.ctx.session
    assignee = await session.get(Person, case.assignee_id) if case.assignee_id else None
    due = local_time(case.due_at or event.at, notices.ctx.zone)
    card = await notices.card({"due": due, "assignee": assignee.display_name if assignee else "-"})
    targets = [(assignee, "sla.overdue")] + [
        (p, "sla.overdue_dispatcher") for p in await centre_dispatchers(session, case.unit_code)
    ]
    for person, text_key in targets:
        if person is None:
            continue
        buttons = progress_buttons(case.id) if person is assignee else ()
        await notices.tell(
            person.id,
            Reply(text_key, card, buttons=buttons),
            purpose="overdue",
            dedupe=f"overdue:{event.key}:{person.id}",
            urgent=urgent(case.risk),
        )


async def _escalated(notices: _Notices, event: Escalated) -> None:
    """The leaders of the level it left and of the level it reached, told why (overdue, or
    nobody at its level accepted it): 督办."""
    case, session = event.case, notices.ctx.session
    levels = {
        "from": event.from_region.name if event.from_region else "-",
        "to": event.to_region.name if event.to_region else "-",
    }
    leaders = unique(
        [
            *await leaders_of(session, event.from_region),
            *await leaders_of(session, event.to_region),
        ]
    )
    key = "sla.escalated_leader" if event.reason == "overdue" else "sla.escalated_unaccepted"
    await notices.tell_each(
        [leader.id for leader in leaders],
        Reply(key, await notices.card(levels)),
        purpose="escalated",
        dedupe_prefix=f"escalated:{event.key}",
        urgent=urgent(case.risk),
    )


async def _region_of(notices: _Notices, unit: Unit | None) -> Region | None:
    return await notices.ctx.session.get(Region, unit.region_code) if unit else None


async def _queued(notices: _Notices, event: Queued) -> None:
    """Nobody can take the case: the leaders of the level it was last offered at and of the
    queue's level hear that it waits in the queue, and when it will be chased."""
    case, session = event.case, notices.ctx.session
    queue_region = await _region_of(notices, event.centre)
    leaders = unique(
        [*await leaders_of(session, event.from_region), *await leaders_of(session, queue_region)]
    )
    params = {
        "centre": event.centre.name if event.centre else t("sla.no_centre"),
        "time": notices.ctx.policy.supervision_time.strftime("%H:%M"),
    }
    await notices.tell_each(
        [leader.id for leader in leaders],
        Reply("sla.queued_leader", await notices.card(params)),
        purpose="queued",
        dedupe_prefix=f"queued:{case.id}:{case.version}",
        urgent=urgent(case.risk),
    )


async def _queue_chased(notices: _Notices, event: QueueChased) -> None:
    """The daily chase of a queued case: each of the queue centre's dispatchers, with the
    buttons of their open offer, and the leaders of that level."""
    case, session = event.case, notices.ctx.session
    card = await notices.card(
        {
            "centre": event.centre.name if event.centre else t("sla.no_centre"),
            "days": event.days,
        }
    )
    day = event.at.astimezone(notices.ctx.zone).date().isoformat()
    for offer, person in event.holders:
        await notices.tell(
            person.id,
            Reply("sla.queue_daily", card, buttons=offer_buttons(offer.id)),
            purpose="offer",
            dedupe=f"queue:{case.id}:{day}:{person.id}",
            offer_id=offer.id,
            urgent=urgent(case.risk),
        )
    leaders = await leaders_of(session, await _region_of(notices, event.centre))
    await notices.tell_each(
        [leader.id for leader in leaders],
        Reply("sla.queue_daily_leader", card),
        purpose="queued",
        dedupe_prefix=f"queue:{case.id}:{day}",
        urgent=urgent(case.risk),
    )


async def _supervision_due(notices: _Notices, event: SupervisionDue) -> None:
    """The assignee, the supervising leader, the centre's dispatchers and anyone holding an
    open offer: 挂牌督办."""
    case, session = event.case, notices.ctx.session
    card = await notices.card({"days": max(1, (event.at - as_utc(case.created_at)).days)})
    people = [
        await session.get(Person, case.assignee_id) if case.assignee_id else None,
        await session.get(Person, case.supervised_by) if case.supervised_by else None,
        *await centre_dispatchers(session, case.unit_code),
        *(person for _, person in await open_offer_holders(session, case)),
    ]
    day = event.at.astimezone(notices.ctx.zone).date().isoformat()
    await notices.tell_each(
        [person.id for person in unique(people)],
        Reply("sla.supervision_daily", card),
        purpose="supervision",
        dedupe_prefix=f"supervise:{case.id}:{day}",
    )


async def _followup_asked(notices: _Notices, event: FollowUpAsked) -> None:
    case = event.case
    card = await notices.card({"outcome": t(f"outcome.{case.outcome or 'success'}")})
    reply = Reply("followup.ask", card, buttons=rating_buttons(case.id))
    dedupe = f"followup:{case.id}:{case.version}"
    await notices.tell(case.reporter_id, reply, purpose="followup", dedupe=dedupe)
