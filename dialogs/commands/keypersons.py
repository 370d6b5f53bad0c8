"""Key persons (重点人员包保帮扶) in chat: `/keyperson [CASE]` to enrol (from a case, or a
person registered by a grid worker or department), `/keypersons` to list one's own, `/visit`
(走访) to record a visit; the buttons of the record, the visit and the quarterly
re-assessment."""

from __future__ import annotations

from dialogs.base import Turn
from dialogs.commands import Feature
from dialogs.conversation import ask_again, start_dialog
from dialogs.keyperson_dialogs import CLOSE, ENROL, VISIT
from dialogs.roles import STAFF
from dispatch import cases, keypersons
from dispatch.cases import local_time
from dispatch.keyperson_notices import reassess_buttons, visit_button
from dispatch.keypersons import (
    FROM_CASE_ROLES,
    REGISTER_ROLES,
    KeyPersonRefused,
    mask_id,
    mask_name,
    masked_phone,
)
from dispatch.masking import mask_text
from dispatch.messages import Button, t
from dispatch.payloads import KeyPersonFromCase, KeyPersonShow, KeyPersonVisit, Reassess
from storage.models import Case, DialogState, KeyPerson, Person, Region, Unit

feature = Feature("keypersons")
feature.dialog(ENROL, VISIT, CLOSE)


def enrol_button(case_id: int) -> Button:
    return Button("button.keyperson_from_case", KeyPersonFromCase(case_id).pack())


async def _home_region(turn: Turn) -> str | None:
    """Where a person registered in chat lives, as far as we know: the registrant's own grid,
    else their unit's place."""
    person = turn.person
    if person.region_code:
        return person.region_code
    unit = await turn.session.get(Unit, person.unit_code) if person.unit_code else None
    return unit.region_code if unit else None


@feature.command(
    "keyperson",
    help="command_help.keyperson",
    roles=REGISTER_ROLES,
    refusal="keyperson.not_allowed",
    takes_argument=True,
)
async def keyperson(turn: Turn, state: DialogState | None, argument: str) -> None:
    """`/keyperson CASE`: a centre's dispatcher or leader moves a party of the case into
    assistance; `/keyperson` alone: register someone living in one's own area."""
    if argument:
        try:
            case = await cases.readable_case(turn.session, turn.clock, turn.person, argument[:20])
        except cases.TooManyLookUps as refused:
            turn.say(refused.reason)
            await ask_again(turn, state)
            return
        if case is None:
            turn.say("status.not_found", number=argument[:20])
            await ask_again(turn, state)
            return
        await _enrol_from_case(turn, state, case)
        return
    region = await _home_region(turn)
    if region is None:
        turn.say("keyperson.no_region")
        await ask_again(turn, state)
        return
    await start_dialog(turn, ENROL.name, _start_data(turn.person, region))


def _start_data(person: Person, region: str) -> dict[str, object]:
    data: dict[str, object] = {"region": region}
    if person.role in ("grid_worker", "dept_staff"):
        data["workers"] = [person.id]  # who registers someone visits them
    return data


async def _enrol_from_case(turn: Turn, state: DialogState | None, case: Case) -> None:
    if turn.person.role not in FROM_CASE_ROLES:
        turn.say("keyperson.from_case_centre_only")
        await ask_again(turn, state)
        return
    region = case.region_code or await _home_region(turn)
    if region is None:
        turn.say("keyperson.no_region")
        await ask_again(turn, state)
        return
    data = _start_data(turn.person, region)
    data.update(case_id=case.id, number=case.number)
    turn.say("keyperson.from_case", number=case.number)
    await start_dialog(turn, ENROL.name, data)


@feature.button(KeyPersonFromCase)
async def on_from_case(turn: Turn, state: DialogState | None, payload: KeyPersonFromCase) -> None:
    case = await turn.session.get(Case, payload.case_id)
    if case is None or turn.person.role not in FROM_CASE_ROLES:
        turn.say("keyperson.from_case_centre_only")
        await ask_again(turn, state)
        return
    found = await cases.readable_case(turn.session, turn.clock, turn.person, case.number)
    if found is None:
        turn.say("status.not_found", number=case.number)
        await ask_again(turn, state)
        return
    await _enrol_from_case(turn, state, found)


@feature.command(
    "keypersons", help="command_help.keypersons", roles=STAFF, refusal="tasks.staff_only"
)
async def keypersons_list(turn: Turn, state: DialogState | None, argument: str) -> None:
    """The key persons one may read (on their chain, or under one's centre), masked."""
    found = await keypersons.visible_to(turn.session, turn.clock, turn.person)
    if not found:
        turn.say("keyperson.none")
        await ask_again(turn, state)
        return
    today = turn.clock.now().astimezone(turn.services.zone).date()
    month = today.replace(day=1)
    lines = []
    rows: list[tuple[Button, ...]] = []
    for kp in found:
        done = await keypersons.visits_between(
            turn.session, kp.id, month, keypersons.next_month(month)
        )
        lines.append(
            {
                "$t": "keyperson.list_line",
                "ref": f"K{kp.id}",
                "name": mask_name(kp.name),
                "tier": t(f"keyperson.tier_{kp.tier}"),
                "visits": done,
                "quota": turn.services.domain.keypersons.quota(kp.tier),
            }
        )
        rows.append(
            (
                Button(
                    "keyperson.show_ref", KeyPersonShow(kp.id).pack(), params={"ref": f"K{kp.id}"}
                ),
            )
        )
    turn.say("keyperson.list", rows[:10], lines=lines)
    await ask_again(turn, state)


@feature.button(KeyPersonShow)
async def on_show(turn: Turn, state: DialogState | None, payload: KeyPersonShow) -> None:
    """The record, whole, for those who may read it (audited); "keyperson.not_found"
    for everyone else, as for a record that does not exist."""
    kp = await keypersons.readable(turn.session, turn.clock, turn.person, payload.key_person_id)
    if kp is None:
        turn.say("keyperson.not_found")
        await ask_again(turn, state)
        return
    await _show(turn, kp)
    await ask_again(turn, state)


async def _show(turn: Turn, kp: KeyPerson) -> None:
    zone = turn.services.zone
    region = await turn.session.get(Region, kp.region_code)
    chain = await keypersons.chain_of(turn.session, kp.id)
    visits = await keypersons.recent_visits(turn.session, kp.id)
    case = await turn.session.get(Case, kp.case_id) if kp.case_id else None
    roles = {role for role, person in chain if person.id == turn.person.id}
    buttons: list[tuple[Button, ...]] = []
    if "worker" in roles or "lead" in roles:
        buttons.append((visit_button(kp.id),))
    if roles & {"lead", "leader"} and kp.reassess_asked_at is not None:
        buttons.extend(reassess_buttons(kp.id))
    turn.say(
        "keyperson.record",
        buttons,
        ref=f"K{kp.id}",
        name=kp.name,
        id_number=mask_id(kp.id_number),
        phone=masked_phone(kp.phone),
        place=region.name if region else "-",
        tier=t(f"keyperson.tier_{kp.tier}"),
        status=t(f"keyperson.status_{kp.status}"),
        reason=kp.reason,
        case=case.number if case else "-",
        enrolled=local_time(kp.enrolled_at, zone),
        reassess=local_time(kp.next_reassess_at, zone),
        chain=[
            {
                "$t": "keyperson.chain_line",
                "role": t(f"keyperson.role_{role}"),
                "who": person.display_name or f"#{person.id}",
            }
            for role, person in chain
        ],
        visits=[
            {
                "$t": "keyperson.visit_line",
                "on": v.visited_on.isoformat(),
                "situation": mask_text(v.situation)[:80],
                "flags": "⚠️" if v.risk_flags else "",
            }
            for v in visits
        ]
        or "-",
    )


@feature.command("visit", help="command_help.visit", roles=STAFF, refusal="tasks.staff_only")
async def visit(turn: Turn, state: DialogState | None, argument: str) -> None:
    """A visit to one of one's own key persons ("keyperson.none_to_visit" without any)."""
    if not await keypersons.visitable_by(turn.session, turn.person):
        turn.say("keyperson.none_to_visit")
        await ask_again(turn, state)
        return
    await start_dialog(turn, VISIT.name)


@feature.button(KeyPersonVisit)
async def on_visit(turn: Turn, state: DialogState | None, payload: KeyPersonVisit) -> None:
    mine = await keypersons.visitable_by(turn.session, turn.person)
    if not any(kp.id == payload.key_person_id for kp in mine):
        turn.say("keyperson.not_on_chain")
        await ask_again(turn, state)
        return
    await start_dialog(turn, VISIT.name, {"kp_id": payload.key_person_id}, "date")


@feature.button(Reassess)
async def on_reassess(turn: Turn, state: DialogState | None, payload: Reassess) -> None:
    """keep / raise / lower are answered at once; close asks the reason first."""
    answer = payload.answer_name
    try:
        if answer == "close":
            kp = await turn.session.get(KeyPerson, payload.key_person_id)
            roles = (
                {
                    r
                    for r, p in await keypersons.chain_of(turn.session, kp.id)
                    if p.id == turn.person.id
                }
                if kp
                else set()
            )
            if kp is None or not roles & {"lead", "leader"}:
                raise KeyPersonRefused("keyperson.not_lead")
            if kp.status != "active" or kp.reassess_asked_at is None:
                raise KeyPersonRefused("keyperson.not_asked")
            await start_dialog(turn, CLOSE.name, {"kp_id": kp.id})
            return
        kp = await keypersons.answer_reassessment(
            turn.ctx, turn.person, payload.key_person_id, answer
        )
    except KeyPersonRefused as refused:
        turn.say(refused.reason)
        await ask_again(turn, state)
        return
    turn.say(
        "keyperson.reassessed",
        ref=f"K{kp.id}",
        name=mask_name(kp.name),
        tier=t(f"keyperson.tier_{kp.tier}"),
    )
    await ask_again(turn, state)
