"""Who hears of what happened to a key person, and in which words (the key-person half of
dispatch.notifications).

A notice sits in people's chats for years: it names a key person only masked (family name,
then asterisks) with the record's number, K{id}; the record itself, behind the 详情
button, is read through dispatch.keypersons.readable (need-to-know, audited).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from dispatch import outbox
from dispatch.context import Ctx
from dispatch.events import (
    AboutKeyPerson,
    KeyPersonClosed,
    KeyPersonEnrolled,
    KeyPersonReassessed,
    ReassessAsked,
    VisitRisk,
    VisitsShort,
)
from dispatch.keypersons import chain_of, mask_name
from dispatch.masking import mask_text
from dispatch.messages import Button, Reply, t
from dispatch.org import ancestors
from dispatch.payloads import KeyPersonShow, KeyPersonVisit, Reassess
from dispatch.recipients import people_at, unique
from storage.models import KeyPerson, Person, Region

Rows = tuple[tuple[Button, ...], ...]
PURPOSE = "keyperson"


def card(key_person: KeyPerson, place: str = "") -> dict[str, Any]:
    """What every key-person notice shows: the record's number, the masked name, the tier."""
    return {
        "ref": f"K{key_person.id}",
        "name": mask_name(key_person.name),
        "tier": t(f"keyperson.tier_{key_person.tier}"),
        "place": place or "-",
    }


def show_button(key_person_id: int) -> Button:
    return Button("button.keyperson_show", KeyPersonShow(key_person_id).pack())


def visit_button(key_person_id: int) -> Button:
    return Button("button.keyperson_visit", KeyPersonVisit(key_person_id).pack())


def reassess_buttons(key_person_id: int) -> Rows:
    return (
        (
            Button("button.reassess_keep", Reassess.of(key_person_id, "keep").pack()),
            Button("button.reassess_close", Reassess.of(key_person_id, "close").pack()),
        ),
        (
            Button("button.reassess_raise", Reassess.of(key_person_id, "raise").pack()),
            Button("button.reassess_lower", Reassess.of(key_person_id, "lower").pack()),
        ),
    )


async def _place(ctx: Ctx, key_person: KeyPerson) -> str:
    region = await ctx.session.get(Region, key_person.region_code)
    return region.name if region else "-"


async def _tell(
    ctx: Ctx,
    people: Iterable[Person],
    reply: Reply,
    dedupe_prefix: str,
    *,
    urgent: bool = False,
) -> None:
    for person in unique(people):
        await outbox.enqueue(
            ctx.session,
            ctx.clock,
            person.id,
            reply,
            purpose=PURPOSE,
            dedupe_key=f"{dedupe_prefix}:{person.id}",
            urgent=urgent,
        )


def _with_role(chain: list[tuple[str, Person]], *roles: str) -> list[Person]:
    return [person for role, person in chain if role in roles]


def _with_role_all(chain: list[tuple[str, Person]]) -> list[Person]:
    return [person for _, person in chain]


async def handle(ctx: Ctx, event: AboutKeyPerson) -> None:
    """Queue the notices a key-person event calls for."""
    key_person = event.key_person
    params = card(key_person, await _place(ctx, key_person))
    chain = await chain_of(ctx.session, key_person.id)
    match event:
        case KeyPersonEnrolled():
            await _enrolled(ctx, event, params, chain)
        case VisitRisk():
            await _visit_risk(ctx, event, params, chain)
        case VisitsShort():
            await _visits_short(ctx, event, params, chain)
        case ReassessAsked():
            await _reassess_asked(ctx, event, params, chain)
        case KeyPersonReassessed():
            key = "keyperson.reassessed_notice"
            extra = {
                "answer": t(f"keyperson.answer_{event.answer}"),
                "old": t(f"keyperson.tier_{event.old}"),
                "who": event.by.display_name or "-",
            }
            reply = Reply(key, {**params, **extra}, ((show_button(key_person.id),),))
            await _tell(
                ctx,
                _with_role_all(chain),
                reply,
                f"kp-reassessed:{key_person.id}:{key_person.version}",
            )
        case KeyPersonClosed():
            extra = {"reason": mask_text(event.reason) or "-", "who": event.by.display_name or "-"}
            reply = Reply("keyperson.closed_notice", {**params, **extra})
            await _tell(ctx, _with_role_all(chain), reply, f"kp-closed:{key_person.id}")


async def _enrolled(
    ctx: Ctx, event: KeyPersonEnrolled, params: dict[str, Any], chain: list[tuple[str, Person]]
) -> None:
    """Each person on the chain hears of the enrolment and their part in it; workers get the
    visit button."""
    key_person = event.key_person
    extra = {
        "reason": mask_text(key_person.reason)[:300],
        "visits": ctx.domain.keypersons.quota(key_person.tier),
        "case": event.case.number if event.case else "-",
    }
    for role, person in event.chain:
        buttons: list[Button] = [show_button(key_person.id)]
        if role == "worker":
            buttons.append(visit_button(key_person.id))
        reply = Reply(
            "keyperson.enrolled_notice",
            {**params, **extra, "role": t(f"keyperson.role_{role}")},
            (tuple(buttons),),
        )
        await outbox.enqueue(
            ctx.session,
            ctx.clock,
            person.id,
            reply,
            purpose=PURPOSE,
            dedupe_key=f"kp-enrol:{key_person.id}:{role}:{person.id}",
        )


async def _centre_people(ctx: Ctx, key_person: KeyPerson) -> list[Person]:
    """The leaders and dispatchers of the township and county over the person's place, as
    for a major-risk case."""
    region = await ctx.session.get(Region, key_person.region_code)
    if region is None:
        return []
    codes = [
        r.code for r in await ancestors(ctx.session, region) if r.level in ("township", "county")
    ]
    return await people_at(ctx.session, codes, ["leader", "dispatcher"])


async def _visit_risk(
    ctx: Ctx, event: VisitRisk, params: dict[str, Any], chain: list[tuple[str, Person]]
) -> None:
    """The chain and the centres over the place, at once and urgent (quiet hours do not hold
    it), with the signals found and the visit's words (numbers masked)."""
    visit = event.visit
    extra: dict[str, Any] = {
        "flags": [t(f"keyperson.flag_{flag}") for flag in event.flags],
        "situation": mask_text(visit.situation)[:300],
        "done": mask_text(visit.done)[:300],
        "visitor": event.visitor.display_name or "-",
        "on": visit.visited_on.isoformat(),
    }
    reply = Reply(
        "keyperson.risk_alert", {**params, **extra}, ((show_button(event.key_person.id),),)
    )
    people = [*_with_role_all(chain), *await _centre_people(ctx, event.key_person)]
    await _tell(ctx, people, reply, f"kp-risk:{visit.id}", urgent=True)


async def _visits_short(
    ctx: Ctx, event: VisitsShort, params: dict[str, Any], chain: list[tuple[str, Person]]
) -> None:
    """remind: the workers (with the visit button); urge: 催办 to the lead; leader: the
    chain's leader hears that the month ended short."""
    key_person = event.key_person
    extra = {"period": event.period, "visits": event.visits, "quota": event.quota}
    dedupe = f"kp-visits:{key_person.id}:{event.period}:{event.step}"
    if event.step == "remind":
        rows: Rows = ((visit_button(key_person.id),),)
        reply = Reply("keyperson.visits_remind", {**params, **extra}, rows)
        await _tell(ctx, _with_role(chain, "worker"), reply, dedupe)
    elif event.step == "urge":
        workers = "、".join(p.display_name or "-" for p in _with_role(chain, "worker")) or "-"
        reply = Reply(
            "keyperson.visits_urge",
            {**params, **extra, "workers": workers},
            ((show_button(key_person.id),),),
        )
        await _tell(ctx, _with_role(chain, "lead"), reply, dedupe)
    else:
        reply = Reply(
            "keyperson.visits_leader", {**params, **extra}, ((show_button(key_person.id),),)
        )
        await _tell(ctx, _with_role(chain, "leader"), reply, dedupe)


async def _reassess_asked(
    ctx: Ctx, event: ReassessAsked, params: dict[str, Any], chain: list[tuple[str, Person]]
) -> None:
    """The lead gets the question with its four answers; from the first chase on, the
    chain's leader hears that it is unanswered."""
    key_person = event.key_person
    asked = key_person.reassess_asked_at
    stamp = asked.isoformat() if asked else event.at.isoformat()
    dedupe = f"kp-reassess:{key_person.id}:{stamp}:{event.chase}"
    key = "keyperson.reassess_ask" if event.chase == 0 else "keyperson.reassess_chase"
    extra = {"chase": event.chase}
    reply = Reply(key, {**params, **extra}, reassess_buttons(key_person.id))
    await _tell(ctx, _with_role(chain, "lead"), reply, dedupe)
    if event.chase > 0:
        lead = "、".join(p.display_name or "-" for p in _with_role(chain, "lead")) or "-"
        told = Reply("keyperson.reassess_chase_leader", {**params, **extra, "lead": lead})
        await _tell(ctx, _with_role(chain, "leader"), told, f"{dedupe}:leader")
