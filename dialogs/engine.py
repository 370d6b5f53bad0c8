"""One handled message: who is writing, which dialog they are in, what we answer.

`handle()` is the whole entry point for every channel. It runs one unit of work per
message: the person's dialog state, any case change and the notices it causes are
committed together, and the replies are returned for the adapter to render.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select

from dialogs.base import Answer, Dialog, Retry, Services, Turn, parse_choice
from dialogs.duty import FOLLOWUP, PAUSE
from dialogs.handling import CLOSE, DECLINE, ESCALATE, PROGRESS, ArgumentStep
from dialogs.report_dialog import CITIZEN_REPORT, STAFF_REPORT, report_start_data
from dispatch import cases, digests, outbox, points
from dispatch.clock import as_utc
from dispatch.messages import Button, Inbound, Reply, t
from dispatch.notifications import case_card, handler_buttons, offer_buttons
from dispatch.people import InviteError, create_link, person_for, redeem_invite
from dispatch.workflow import TransitionRefused
from locales import pick_locale
from storage.models import CaseOffer, DialogState, Region, Unit

log = logging.getLogger(__name__)

DIALOG_TTL = timedelta(hours=24)
MAX_INBOUND = 5000  # longer than any answer we ask for; cut before it reaches a step


async def _bound(turn: Turn, data: dict[str, Any]) -> None:
    await bind(turn, data["argument"])


async def _status_asked(turn: Turn, data: dict[str, Any]) -> None:
    await show_status(turn, data["argument"])


DIALOGS: dict[str, Dialog] = {
    d.name: d
    for d in (
        CITIZEN_REPORT,
        STAFF_REPORT,
        DECLINE,
        PROGRESS,
        CLOSE,
        ESCALATE,
        PAUSE,
        FOLLOWUP,
        Dialog.of("bind", [ArgumentStep("code", "bind.ask_code")], _bound),
        Dialog.of("status", [ArgumentStep("number", "status.ask_number")], _status_asked),
    )
}

# Words that work like commands, for people who do not type slashes (dialogs/data/words.yaml).
_WORDS = yaml.safe_load((Path(__file__).parent / "data" / "words.yaml").read_text(encoding="utf-8"))
ALIASES: dict[str, str] = {
    str(word).lower(): command for command, words in _WORDS["commands"].items() for word in words
}
ACCEPT_WORDS = frozenset(str(w).lower() for w in _WORDS["accept"])
DECLINE_WORDS = frozenset(str(w).lower() for w in _WORDS["decline"])


async def handle(services: Services, inbound: Inbound) -> Answer:
    """Answer one message. Never raises: a failure is logged and the person told politely."""
    if len(inbound.text) > MAX_INBOUND:
        # Keep one character past every limit so that the step still says "too long".
        inbound = replace(inbound, text=inbound.text[: MAX_INBOUND + 1])
    locale = pick_locale(inbound.language, services.default_locale)
    try:
        async with services.sessions() as session, session.begin():
            person, identity = await person_for(
                session,
                services.clock,
                inbound.channel,
                inbound.user_ref,
                inbound.chat_ref,
                inbound.display_name,
                locale,
            )
            turn = Turn(services, session, person, identity, inbound)
            # Notices parked while the platform would take nothing (WeChat's 48-hour
            # window) go out now that the person has written again.
            waiting = await outbox.release_waiting(session, services.clock, person.id)
            if waiting:
                turn.say("notice.waiting", count=waiting)
            await _route(turn)
            answer = Answer(turn.replies, turn.locale, person.id)
        return answer
    except Exception:
        log.exception("failed to handle a %s message from %s", inbound.channel, inbound.user_ref)
        return Answer([Reply("error.internal")], locale)


# routing --------------------------------------------------------------------------------


async def _route(turn: Turn) -> None:
    inbound = turn.inbound
    state = await _live_state(turn)
    if inbound.kind == "text" and inbound.reply_to and await _answer_to_notice(turn, state):
        return
    command, argument = _command_of(inbound, in_dialog=state is not None)
    if command is not None:
        await _command(turn, state, command, argument)
        return
    if (
        inbound.kind == "choice"
        and inbound.choice is not None
        and await _global_button(turn, state, inbound.choice)
    ):
        return
    if state is not None:
        await _step(turn, state)
        return
    await _no_dialog(turn)


def _command_of(inbound: Inbound, *, in_dialog: bool) -> tuple[str | None, str]:
    if inbound.kind != "text":
        return None, ""
    text = inbound.text.strip()
    if text.startswith("/"):
        head, _, rest = text[1:].partition(" ")
        return head.split("@", 1)[0].lower(), rest.strip()
    head, _, rest = text.partition(" ")
    command = ALIASES.get(head.lower())
    if command is None:
        return None, ""
    if in_dialog and command not in ("cancel", "back"):
        return None, ""  # inside a dialog, words are answers; only cancel and back steer it
    if command not in ("bind", "status") and rest:
        return None, ""  # a command word followed by more text is a description
    return command, rest.strip()


async def _live_state(turn: Turn) -> DialogState | None:
    state = await turn.session.get(DialogState, turn.person.id)
    if state is None:
        return None
    if turn.clock.now() - as_utc(state.updated_at) > DIALOG_TTL or state.dialog not in DIALOGS:
        await turn.session.delete(state)
        turn.say("dialog.expired")
        return None
    return state


async def _ask(turn: Turn, state: DialogState) -> None:
    dialog = DIALOGS[state.dialog]
    step = dialog.steps[state.step]
    turn.replies.append(await step.ask(turn, dict(state.data), state.nonce))


async def start_dialog(
    turn: Turn, name: str, data: dict[str, Any] | None = None, step: str | None = None
) -> None:
    dialog = DIALOGS[name]
    state = await turn.session.get(DialogState, turn.person.id)
    if state is None:
        state = DialogState(person_id=turn.person.id, nonce=0)
        turn.session.add(state)
    state.dialog = name
    state.step = step or dialog.first
    state.data = dict(data or {})
    state.nonce = (state.nonce or 0) + 1
    state.updated_at = turn.clock.now()
    await _ask(turn, state)


async def _step(turn: Turn, state: DialogState) -> None:
    inbound = turn.inbound
    if inbound.kind == "choice" and inbound.choice is not None:
        parsed = parse_choice(inbound.choice)
        if parsed is None:
            turn.say("button.unknown")
            await _ask(turn, state)
            return
        if parsed[0] != state.nonce:
            turn.say("button.stale")
            await _ask(turn, state)
            return
    dialog = DIALOGS[state.dialog]
    data = dict(state.data)
    outcome = await dialog.steps[state.step].answer(turn, data, inbound)
    await _advance(turn, state, dialog, data, outcome)


async def _advance(
    turn: Turn, state: DialogState, dialog: Dialog, data: dict[str, Any], outcome: str | Retry
) -> None:
    state.updated_at = turn.clock.now()
    if isinstance(outcome, Retry):
        state.data = data
        turn.say(outcome.key, **outcome.params)
        await _ask(turn, state)
        return
    if outcome == "__finish__":
        await turn.session.delete(state)
        await turn.session.flush()
        await dialog.finish(turn, data)
        if not await turn.session.get(DialogState, turn.person.id):
            turn.replies.append(main_menu(turn))
        return
    if outcome != state.step:
        trail = list(data.get("_trail", []))
        trail.append(state.step)
        data["_trail"] = trail[-20:]
    state.data = data
    state.step = outcome
    state.nonce += 1
    await _ask(turn, state)


async def _go_back(turn: Turn, state: DialogState) -> None:
    data = dict(state.data)
    trail = list(data.get("_trail", []))
    if not trail:
        turn.say("nav.at_start")
        await _ask(turn, state)
        return
    data["_trail"] = trail[:-1]
    data.pop("_choosing_edit", None)
    for key in ("_node", "_page"):
        data.pop(key, None)
    state.step = trail[-1]
    state.data = data
    state.nonce += 1
    state.updated_at = turn.clock.now()
    await _ask(turn, state)


async def _cancel(turn: Turn, state: DialogState | None) -> None:
    if state is None:
        turn.say("nav.nothing_to_cancel")
    else:
        await turn.session.delete(state)
        turn.say("nav.cancelled")
    turn.replies.append(main_menu(turn))


# commands and buttons that work anywhere ---------------------------------------------------

Command = Callable[[Turn, DialogState | None, str], Awaitable[None]]


async def _command(turn: Turn, state: DialogState | None, command: str, argument: str) -> None:
    handler = COMMANDS.get(command)
    if handler is None:
        turn.say("command.unknown", command=command[:32])
        if state is not None:
            await _ask(turn, state)
        else:
            turn.replies.append(main_menu(turn))
        return
    await handler(turn, state, argument)


async def _resume(turn: Turn, state: DialogState | None) -> None:
    """After answering a side question, ask the dialog's question again."""
    if state is not None:
        turn.say("dialog.resume")
        await _ask(turn, state)


async def cmd_start(turn: Turn, state: DialogState | None, argument: str) -> None:
    if argument.startswith("g_"):
        grid = await turn.session.get(Region, argument[2:64])
        if grid is None or grid.level != "grid":
            turn.say("qr.unknown_grid")
        else:
            turn.say("qr.welcome", place=await cases.place_name(turn.session, grid.code))
            await _start_report(turn, grid)
            return
    turn.say("welcome", name=turn.person.display_name or "")
    turn.replies.append(main_menu(turn))
    await _resume(turn, state)


async def _start_report(turn: Turn, grid: Region | None) -> None:
    name, data, step = await report_start_data(turn, grid)
    await start_dialog(turn, name, data, step)


async def cmd_report(turn: Turn, state: DialogState | None, argument: str) -> None:
    if state is not None and state.dialog in ("report", "staff_report"):
        turn.say("report.resuming")
        await _ask(turn, state)
        return
    await _start_report(turn, None)


async def cmd_help(turn: Turn, state: DialogState | None, argument: str) -> None:
    turn.say("help.staff" if turn.person.role != "citizen" else "help.citizen")
    if state is None:
        turn.replies.append(main_menu(turn))
    await _resume(turn, state)


async def cmd_whoami(turn: Turn, state: DialogState | None, argument: str) -> None:
    person = turn.person
    if person.role == "citizen":
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
    await _resume(turn, state)


async def cmd_bind(turn: Turn, state: DialogState | None, argument: str) -> None:
    if not argument:
        await start_dialog(turn, "bind")
        return
    await bind(turn, argument)
    await _resume(turn, state)


async def bind(turn: Turn, code: str) -> None:
    try:
        unit = await redeem_invite(turn.session, turn.clock, turn.person, code[:64], turn.identity)
    except InviteError as refused:
        turn.say(refused.reason)
        return
    if turn.identity.person_id != turn.person.id:
        turn.say("link.done", unit=unit.name)
        return
    turn.say("bind.done", role=t(f"role.{turn.person.role}"), unit=unit.name)


async def cmd_link(turn: Turn, state: DialogState | None, argument: str) -> None:
    try:
        created = await create_link(turn.session, turn.clock, turn.person)
    except InviteError as refused:
        turn.say(refused.reason)
    else:
        turn.say("link.code", code=created.code)
    await _resume(turn, state)


async def cmd_status(turn: Turn, state: DialogState | None, argument: str) -> None:
    if not argument:
        await start_dialog(turn, "status")
        return
    await show_status(turn, argument)
    await _resume(turn, state)


async def show_status(turn: Turn, number: str) -> None:
    case = await cases.readable_case(turn.session, turn.clock, turn.person, number[:20])
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
    elif (
        turn.person.role == "leader"
        and case.status in cases.OPEN_STATES
        and case.supervised_by is None
    ):
        buttons = ((Button("button.supervise", f"s:{case.id}"),),)
    if case.paused_at is not None:
        card["timeline"] = [
            {"$t": "status.paused", "reason": case.pause_reason or "-"},
            *card["timeline"],
        ]
    turn.say("status.card", buttons, **card)


async def cmd_mycases(turn: Turn, state: DialogState | None, argument: str) -> None:
    reported = await cases.reported_by(turn.session, turn.person)
    if turn.person.role != "citizen":
        await cmd_tasks(turn, None, "")
    if not reported:
        if turn.person.role == "citizen":
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
    await _resume(turn, state)


async def cmd_tasks(turn: Turn, state: DialogState | None, argument: str) -> None:
    if turn.person.role == "citizen":
        turn.say("tasks.staff_only")
        await _resume(turn, state)
        return
    open_cases, offers = await cases.tasks_of(turn.session, turn.person)
    if not open_cases and not offers:
        turn.say("tasks.none")
    for offer in offers:
        case = await turn.session.get_one(cases.Case, offer.case_id)
        card = await case_card(turn.session, turn.services.zone, case, reveal=False)
        turn.say("tasks.offer", offer_buttons(offer.id), **card)
    for case in open_cases:
        card = await case_card(turn.session, turn.services.zone, case, reveal=True)
        turn.say("tasks.case", handler_buttons(case.id), **card)
    await _resume(turn, state)


async def cmd_cancel(turn: Turn, state: DialogState | None, argument: str) -> None:
    await _cancel(turn, state)


async def cmd_back(turn: Turn, state: DialogState | None, argument: str) -> None:
    if state is None:
        turn.say("nav.nothing_to_cancel")
        turn.replies.append(main_menu(turn))
        return
    await _go_back(turn, state)


COMMANDS: dict[str, Command] = {
    "start": cmd_start,
    "report": cmd_report,
    "help": cmd_help,
    "whoami": cmd_whoami,
    "bind": cmd_bind,
    "status": cmd_status,
    "mycases": cmd_mycases,
    "tasks": cmd_tasks,
    "cancel": cmd_cancel,
    "back": cmd_back,
}
MENU_COMMANDS = ("report", "status", "mycases", "tasks", "help")


def main_menu(turn: Turn) -> Reply:
    rows: list[tuple[Button, ...]] = [
        (Button("menu.report", "m:report"),),
        (Button("menu.status", "m:status"), Button("menu.mycases", "m:mycases")),
    ]
    if turn.person.role != "citizen":
        rows.append((Button("menu.tasks", "m:tasks"),))
    rows.append((Button("menu.help", "m:help"),))
    return Reply("menu.title", {}, tuple(rows))


async def _global_button(turn: Turn, state: DialogState | None, payload: str) -> bool:
    """Buttons that work outside dialogs. Every payload is re-checked against the database."""
    kind, _, value = payload.partition(":")
    if kind == "nav":
        if value == "back" and state is not None:
            await _go_back(turn, state)
        else:
            await _cancel(turn, state)
        return True
    if kind == "m" and value in MENU_COMMANDS:
        await COMMANDS[value](turn, state, "")
        return True
    if kind in ("a", "d", "p", "c", "e", "z", "s") and value.isdigit() and len(value) < 19:
        await _case_action(turn, state, kind, int(value))
        return True
    if kind == "f":
        ident, _, rating = value.partition(":")
        if ident.isdigit() and len(ident) < 19 and rating in cases.RATINGS:
            await _followup_answer(turn, state, int(ident), cases.RATINGS[rating])
            return True
    if parse_choice(payload) is None:
        turn.say("button.unknown")
        if state is not None:
            await _ask(turn, state)
        else:
            turn.replies.append(main_menu(turn))
        return True
    if state is None:
        turn.say("button.stale")
        turn.replies.append(main_menu(turn))
        return True
    return False


async def _case_action(turn: Turn, state: DialogState | None, kind: str, ident: int) -> None:
    session = turn.session
    if kind == "a":
        await accept(turn, ident)
        await _resume(turn, state)
        return
    if kind == "d":
        offer = await session.get(CaseOffer, ident)
        if offer is None or offer.person_id != turn.person.id or offer.state != "open":
            turn.say(
                "offer.closed" if offer and offer.person_id == turn.person.id else "offer.not_yours"
            )
            await _resume(turn, state)
            return
        case = await session.get_one(cases.Case, offer.case_id)
        await start_dialog(turn, "decline", {"offer_id": offer.id, "number": case.number})
        return
    if kind == "s":
        await _supervise(turn, ident)
        await _resume(turn, state)
        return
    try:
        case = await cases.case_for_handler(session, turn.person, ident)
    except TransitionRefused as refused:
        turn.say(refused.reason)
        await _resume(turn, state)
        return
    if kind == "z" and case.paused_at is not None:
        await _resume_clock(turn, case)
        await _resume(turn, state)
        return
    if case.status != "in_progress":
        turn.say("case.wrong_state")
        await _resume(turn, state)
        return
    dialog = {"p": "progress", "c": "close_case", "e": "escalate", "z": "pause"}[kind]
    await start_dialog(turn, dialog, {"case_id": case.id, "number": case.number})


async def _supervise(turn: Turn, case_id: int) -> None:
    case = await turn.session.get(cases.Case, case_id)
    try:
        if case is None:
            raise TransitionRefused("case.not_allowed")
        await cases.supervise(turn.ctx, turn.person, case)
    except TransitionRefused as refused:
        turn.say(refused.reason)
        return
    turn.say("supervise.done", number=case.number)


async def _resume_clock(turn: Turn, case: cases.Case) -> None:
    try:
        seconds = await cases.resume(turn.ctx, turn.person, case)
    except TransitionRefused as refused:
        turn.say(refused.reason)
        return
    turn.say("pause.resumed", number=case.number, hours=round(seconds / 3600, 1))


async def _followup_answer(
    turn: Turn, state: DialogState | None, case_id: int, rating: str
) -> None:
    case = await turn.session.get(cases.Case, case_id)
    if case is None or case.reporter_id != turn.person.id or case.followup_state != "asked":
        turn.say("followup.closed")
        await _resume(turn, state)
        return
    await start_dialog(
        turn, "followup", {"case_id": case_id, "rating": rating, "number": case.number}
    )


async def cmd_supervise(turn: Turn, state: DialogState | None, argument: str) -> None:
    case = await cases.readable_case(turn.session, turn.clock, turn.person, argument[:20])
    if case is None:
        turn.say("status.not_found", number=argument[:20] or "-")
    else:
        await _supervise(turn, case.id)
    await _resume(turn, state)


async def cmd_pause(turn: Turn, state: DialogState | None, argument: str) -> None:
    number, _, reason = argument.partition(" ")
    case = await cases.find_case(turn.session, number[:20]) if number else None
    if case is None or case.assignee_id != turn.person.id:
        turn.say("pause.usage")
        await _resume(turn, state)
        return
    if reason.strip():
        try:
            await cases.pause(turn.ctx, turn.person, case, reason.strip())
        except TransitionRefused as refused:
            turn.say(refused.reason)
        else:
            turn.say("pause.done", number=case.number)
        await _resume(turn, state)
        return
    await start_dialog(turn, "pause", {"case_id": case.id, "number": case.number})


async def cmd_resume(turn: Turn, state: DialogState | None, argument: str) -> None:
    case = await cases.find_case(turn.session, argument[:20]) if argument else None
    if case is None or case.assignee_id != turn.person.id:
        turn.say("pause.usage")
    else:
        await _resume_clock(turn, case)
    await _resume(turn, state)


async def accept(turn: Turn, offer_id: int) -> None:
    try:
        case = await cases.accept(turn.ctx, turn.person, offer_id)
    except TransitionRefused as refused:
        turn.say(refused.reason)
        return
    card = await case_card(turn.session, turn.services.zone, case, reveal=True)
    turn.say("handling.accepted", handler_buttons(case.id), **card)


async def _answer_to_notice(turn: Turn, state: DialogState | None) -> bool:
    """A reply to one of our notices: accepting or declining an assignment."""
    inbound = turn.inbound
    notice = await outbox.notice_for_reply(
        turn.session, inbound.channel, inbound.chat_ref, inbound.reply_to or ""
    )
    if notice is None or notice.purpose != "offer" or notice.offer_id is None:
        return False
    if notice.person_id != turn.person.id:
        return False
    word = inbound.text.strip().strip("。.!！").lower()
    if word in ACCEPT_WORDS:
        await accept(turn, notice.offer_id)
        await _resume(turn, state)
    elif word in DECLINE_WORDS:
        await _case_action(turn, state, "d", notice.offer_id)
    else:
        turn.say("offer.reply_hint")
        await _resume(turn, state)
    return True


async def _no_dialog(turn: Turn) -> None:
    """A message outside any dialog: a description starts a report; anything else gets the menu."""
    inbound = turn.inbound
    text = inbound.text.strip() if inbound.kind == "text" else ""
    word = text.strip("。.!！").lower()
    if turn.person.role != "citizen" and word in (ACCEPT_WORDS | DECLINE_WORDS) - {"1", "2"}:
        # Channels without replies-to-a-message (WeChat): 接单 / 退回 answer the latest offer.
        offer = await turn.session.scalar(
            select(CaseOffer)
            .where(CaseOffer.person_id == turn.person.id, CaseOffer.state == "open")
            .order_by(CaseOffer.offered_at.desc(), CaseOffer.id.desc())
            .limit(1)
        )
        if offer is not None:
            if word in ACCEPT_WORDS:
                await accept(turn, offer.id)
            else:
                await _case_action(turn, None, "d", offer.id)
            return
        turn.say("offer.none_open")
        return
    if len(text) >= 8:
        name, data, _ = await report_start_data(turn, None)
        await start_dialog(turn, name, data)
        state = await turn.session.get_one(DialogState, turn.person.id)
        turn.replies.clear()
        turn.say("report.started_from_text")
        await _step(turn, state)
        return
    turn.say("fallback.unsupported" if inbound.kind not in ("text", "choice") else "fallback.menu")
    turn.replies.append(main_menu(turn))


async def cmd_points(turn: Turn, state: DialogState | None, argument: str) -> None:
    if turn.person.role == "citizen":
        turn.say("tasks.staff_only")
        await _resume(turn, state)
        return
    month = turn.clock.now().astimezone(turn.services.zone).date()
    total, rows = await points.month_points(turn.session, turn.person.id, turn.services.zone, month)
    lines = [
        {"$t": "points.line", "rule": t(f"rule.{rule}"), "count": count, "points": f"{pts:+d}"}
        for rule, count, pts in rows
    ]
    turn.say("points.month", month=f"{month:%Y-%m}", total=f"{total:+d}", lines=lines or "—")
    await _resume(turn, state)


async def cmd_ranking(turn: Turn, state: DialogState | None, argument: str) -> None:
    month = turn.clock.now().astimezone(turn.services.zone).date()
    ranking = (
        await digests.ranking_for(turn.ctx, turn.person, month)
        if turn.person.role != "citizen"
        else None
    )
    if ranking is None:
        turn.say("ranking.none")
    else:
        turn.replies.append(digests.ranking_reply(ranking, month))
    await _resume(turn, state)


async def cmd_digest(turn: Turn, state: DialogState | None, argument: str) -> None:
    if turn.person.role != "leader":
        turn.say("digest.leaders_only")
        await _resume(turn, state)
        return
    today = turn.clock.now().astimezone(turn.services.zone).date()
    span = {"week": "week", "周": "week", "month": "month", "月": "month"}.get(argument, "day")
    # Read on the side: a large jurisdiction's report takes seconds, and this message's own
    # unit of work (on SQLite, the write lock) should not be held that long.
    async with turn.services.sessions.read() as reading:
        reply = await digests.digest_reply(
            turn.services.domain.within(reading),
            turn.person,
            today,
            span,  # type: ignore[arg-type]
        )
    if reply is None:
        turn.say("digest.leaders_only")
    else:
        turn.replies.append(reply)
    await _resume(turn, state)


COMMANDS.update(
    link=cmd_link,
    pause=cmd_pause,
    resume=cmd_resume,
    supervise=cmd_supervise,
    points=cmd_points,
    ranking=cmd_ranking,
    digest=cmd_digest,
)
