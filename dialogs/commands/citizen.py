"""Commands everyone has (a citizen has only these): start, report, status, my cases, help,
who am I, bind, cancel, back; and the reporter's follow-up rating buttons (回访)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from dialogs.base import Turn
from dialogs.commands import Feature
from dialogs.commands.keypersons import enrol_button
from dialogs.commands.staff import tasks
from dialogs.conversation import ask, ask_again, back, cancel, start_dialog, step
from dialogs.followup_dialog import FOLLOWUP
from dialogs.menu import main_menu
from dialogs.report_dialog import CITIZEN_REPORT, STAFF_REPORT, report_start_data
from dialogs.roles import is_leader, is_staff
from dialogs.steps import ArgumentStep, Choice, Dialog, matched_choice
from dispatch import cases
from dispatch.keypersons import FROM_CASE_ROLES
from dispatch.messages import Button, t
from dispatch.notifications import FOLLOWUP_RATINGS, case_card, handler_buttons
from dispatch.payloads import FollowUp, Supervise
from dispatch.people import InviteError, redeem_invite
from storage.models import Case, DialogState, Region, Unit

feature = Feature("citizen")


async def _bound(turn: Turn, data: dict[str, Any]) -> None:
    await bind(turn, data["argument"])


async def _status_asked(turn: Turn, data: dict[str, Any]) -> None:
    await show_status(turn, data["argument"])


# One-question dialogs for a command given without its argument.
BIND = Dialog.of("bind", [ArgumentStep("code", "bind.ask_code")], _bound)
STATUS = Dialog.of("status", [ArgumentStep("number", "status.ask_number")], _status_asked)
feature.dialog(CITIZEN_REPORT, STAFF_REPORT, FOLLOWUP, BIND, STATUS)


@feature.command("start", help="command_help.start")
async def start(turn: Turn, state: DialogState | None, argument: str) -> None:
    if argument.startswith("g_"):
        grid = await turn.session.get(Region, argument[2:64])
        if grid is None or grid.level != "grid":
            turn.say("qr.unknown_grid")
        else:
            turn.say("qr.welcome", place=await cases.place_name(turn.session, grid.code))
            await _start_report(turn, grid)
            return
    if is_staff(turn.person):
        await _welcome_staff(turn)
    else:
        turn.say("welcome", name=turn.person.display_name or "")
    turn.replies.append(main_menu(turn))
    await ask_again(turn, state)


async def _welcome_staff(turn: Turn) -> None:
    """Staff are greeted as staff: their unit and what waits for them, not the residents'
    "we will find you a mediator"."""
    person = turn.person
    unit = await turn.session.get(Unit, person.unit_code) if person.unit_code else None
    in_hand, offers = await cases.tasks_of(turn.session, person)
    turn.say(
        "welcome_staff",
        name=person.display_name or "",
        role=t(f"role.{person.role}"),
        unit=unit.name if unit else "-",
        offers=len(offers),
        cases=len(in_hand),
    )


async def _start_report(turn: Turn, grid: Region | None) -> None:
    name, data, step_name = await report_start_data(turn, grid)
    await start_dialog(turn, name, data, step_name)


@feature.command("report", help="command_help.report")
async def report(turn: Turn, state: DialogState | None, argument: str) -> None:
    if state is not None and state.dialog in (CITIZEN_REPORT.name, STAFF_REPORT.name):
        turn.say("report.resuming")
        await ask(turn, state)
        return
    await _start_report(turn, None)


async def report_from_text(turn: Turn) -> None:
    """A description sent outside any dialog starts a report with it as the first answer."""
    name, data, _ = await report_start_data(turn, None)
    await start_dialog(turn, name, data)
    state = await turn.session.get_one(DialogState, turn.person.id)
    turn.replies.clear()
    turn.say("report.started_from_text")
    await step(turn, state)


@feature.command("help", help="command_help.help")
async def help_(turn: Turn, state: DialogState | None, argument: str) -> None:
    turn.say("help.staff" if is_staff(turn.person) else "help.citizen")
    if state is None:
        turn.replies.append(main_menu(turn))
    await ask_again(turn, state)


@feature.command("whoami", help="command_help.whoami")
async def whoami(turn: Turn, state: DialogState | None, argument: str) -> None:
    person = turn.person
    if not is_staff(person):
        turn.say("whoami.citizen", id=person.id)
    else:
        unit = await turn.session.get(Unit, person.unit_code) if person.unit_code else None
        turn.say(
            "whoami.staff",
            name=person.display_name or "-",
            role=t(f"role.{person.role}"),
            unit=unit.name if unit else "-",
            place=await cases.place_name(
                turn.session, person.region_code or (unit.region_code if unit else None)
            ),
        )
    await ask_again(turn, state)


@feature.command("bind", help="command_help.bind", takes_argument=True)
async def bind_command(turn: Turn, state: DialogState | None, argument: str) -> None:
    if not argument:
        await start_dialog(turn, BIND.name)
        return
    await bind(turn, argument)
    await ask_again(turn, state)


async def bind(turn: Turn, code: str) -> None:
    """Redeem an invite ("bind.done") or a link code from one's other chat app ("link.done");
    an InviteError's reason otherwise."""
    try:
        unit = await redeem_invite(turn.ctx, turn.person, code[:64], turn.identity)
    except InviteError as refused:
        turn.say(refused.reason)
        return
    if turn.identity.person_id != turn.person.id:
        turn.say("link.done", unit=unit.name)
        return
    turn.say("bind.done", role=t(f"role.{turn.person.role}"), unit=unit.name)


@feature.command("status", help="command_help.status", takes_argument=True)
async def status(turn: Turn, state: DialogState | None, argument: str) -> None:
    if not argument:
        await start_dialog(turn, STATUS.name)
        return
    await show_status(turn, argument)
    await ask_again(turn, state)


async def show_status(turn: Turn, number: str) -> None:
    """A case's card and recent events, for someone who may read it ("status.not_found"
    otherwise; "status.too_many" after too many misses, see cases.readable_case), with the
    handler's buttons for its handler and 督办 for a leader."""
    try:
        case = await cases.readable_case(turn.session, turn.clock, turn.person, number[:20])
    except cases.TooManyLookUps as refused:
        turn.say(refused.reason)
        return
    if case is None:
        turn.say("status.not_found", number=number[:20])
        return
    on_case = case.reporter_id == turn.person.id or case.assignee_id == turn.person.id
    card = await case_card(turn.session, turn.services.zone, case, reveal=on_case)
    events = await cases.events_of(turn.session, case)
    card["timeline"] = [
        {
            "$t": "status.event_line",
            "at": cases.local_time(e.at, turn.services.zone),
            "what": t(f"event.{e.kind}"),
        }
        for e in events[-8:]
    ]
    buttons: tuple[tuple[Button, ...], ...] = ()
    if case.assignee_id == turn.person.id and case.status == "in_progress":
        buttons = handler_buttons(case.id)
    elif is_leader(turn.person) and case.status in cases.OPEN_STATES and case.supervised_by is None:
        buttons = ((Button("button.supervise", Supervise(case.id).pack()),),)
    if turn.person.role in FROM_CASE_ROLES:
        # A centre moves a party of a dispute that may end in harm into assistance.
        buttons = (*buttons, (enrol_button(case.id),))
    if case.paused_at is not None:
        card["timeline"] = [
            {"$t": "status.paused", "reason": case.pause_reason or "-"},
            *card["timeline"],
        ]
    turn.say("status.card", buttons, **card)


@feature.command("mycases", help="command_help.mycases")
async def mycases(turn: Turn, state: DialogState | None, argument: str) -> None:
    """What the person reported; staff see their tasks first (and nothing more when they
    reported nothing)."""
    reported = await cases.reported_by(turn.session, turn.person)
    if is_staff(turn.person):
        await tasks(turn, None, "")
    if not reported:
        if not is_staff(turn.person):
            turn.say("mycases.none")
    else:
        lines = [
            {
                "$t": "mycases.line",
                "number": c.number,
                "category": t(f"cat.{c.category}"),
                "status": t(f"status.{c.status}"),
                "at": cases.local_time(c.created_at, turn.services.zone),
            }
            for c in reported
        ]
        turn.say("mycases.list", lines=lines)
    await ask_again(turn, state)


@feature.command("cancel", help="command_help.cancel", steers_dialog=True)
async def cancel_command(turn: Turn, state: DialogState | None, argument: str) -> None:
    await cancel(turn, state)


@feature.command("back", help="command_help.back", steers_dialog=True)
async def back_command(turn: Turn, state: DialogState | None, argument: str) -> None:
    if state is None:
        turn.say("nav.nothing_to_cancel")
        turn.replies.append(main_menu(turn))
        return
    await back(turn, state)


RATING_CHOICES = tuple(Choice(rating, f"rating.{rating}") for rating in FOLLOWUP_RATINGS)


async def rating_by_words(turn: Turn) -> bool:
    """A rating typed outside a dialog (满意, 还行, 不满意: a label's words or its synonyms)
    answers the person's latest follow-up still asked, as its button would, on a channel
    where the buttons are numbers or there are none. False when the words are no rating or
    no follow-up waits for an answer."""
    picked = matched_choice(turn, turn.inbound, RATING_CHOICES, nonce_ok=False, by_number=False)
    if picked is None:
        return False
    case_id = await turn.session.scalar(
        select(Case.id)
        .where(Case.reporter_id == turn.person.id, Case.followup_state == "asked")
        .order_by(Case.id.desc())
        .limit(1)
    )
    if case_id is None:
        return False
    await on_followup(turn, None, FollowUp.of(case_id, picked.value))
    return True


@feature.button(FollowUp)
async def on_followup(turn: Turn, state: DialogState | None, payload: FollowUp) -> None:
    """The reporter's rating of a closed case opens the comment question;
    "followup.closed" when the case is not theirs or no longer asks."""
    case = await turn.session.get(Case, payload.case_id)
    if case is None or case.reporter_id != turn.person.id or case.followup_state != "asked":
        turn.say("followup.closed")
        await ask_again(turn, state)
        return
    await start_dialog(
        turn,
        FOLLOWUP.name,
        {"case_id": payload.case_id, "rating": payload.rating_name, "number": case.number},
    )
