"""Commands and buttons of the people who handle cases: tasks, taking or handing back an
offer (by button, or by replying 接单/退回), progress, close, escalate, pausing the clock,
linking a second chat app, points and the monthly ranking."""

from __future__ import annotations

from sqlalchemy import select

from dialogs.base import Turn
from dialogs.case_dialogs import CLOSE, DECLINE, ESCALATE, PAUSE, PROGRESS
from dialogs.commands import ACCEPT_WORDS, DECLINE_WORDS, Feature
from dialogs.conversation import ask_again, start_dialog
from dialogs.roles import STAFF
from dispatch import cases, digests, outbox, points
from dispatch.messages import t
from dispatch.notifications import case_card, handler_buttons, offer_buttons
from dispatch.payloads import Accept, Close, Decline, Escalate, Pause, Progress
from dispatch.people import InviteError, create_link
from dispatch.workflow import TransitionRefused
from storage.models import Case, CaseOffer, DialogState

feature = Feature("staff")
feature.dialog(DECLINE, PROGRESS, CLOSE, ESCALATE, PAUSE)

# The dialog each case button opens on a case the person holds and is working on.
_CASE_DIALOGS: dict[type[Progress | Close | Escalate | Pause], str] = {
    Progress: PROGRESS.name,
    Close: CLOSE.name,
    Escalate: ESCALATE.name,
    Pause: PAUSE.name,
}


@feature.command("tasks", help="command_help.tasks", roles=STAFF, refusal="tasks.staff_only")
async def tasks(turn: Turn, state: DialogState | None, argument: str) -> None:
    """Open offers (with 接单/退回 buttons), then the cases the person is working on."""
    open_cases, offers = await cases.tasks_of(turn.session, turn.person)
    if not open_cases and not offers:
        turn.say("tasks.none")
    for offer in offers:
        case = await turn.session.get_one(Case, offer.case_id)
        card = await case_card(turn.session, turn.services.zone, case, reveal=False)
        turn.say("tasks.offer", offer_buttons(offer.id), **card)
    for case in open_cases:
        card = await case_card(turn.session, turn.services.zone, case, reveal=True)
        turn.say("tasks.case", handler_buttons(case.id), **card)
    await ask_again(turn, state)


@feature.command("link", help="command_help.link", roles=STAFF, refusal="link.staff_only")
async def link(turn: Turn, state: DialogState | None, argument: str) -> None:
    try:
        created = await create_link(turn.session, turn.clock, turn.person)
    except InviteError as refused:
        turn.say(refused.reason)
    else:
        turn.say("link.code", code=created.code)
    await ask_again(turn, state)


# Open to everyone: only a case's assignee may pause it, and everyone else is told how to
# use the command ("pause.usage"), whatever their role.
@feature.command("pause", help="command_help.pause")
async def pause(turn: Turn, state: DialogState | None, argument: str) -> None:
    """`/pause number reason` pauses at once; without a reason, the reason is asked."""
    number, _, reason = argument.partition(" ")
    case = await cases.find_case(turn.session, number[:20]) if number else None
    if case is None or case.assignee_id != turn.person.id:
        turn.say("pause.usage")
        await ask_again(turn, state)
        return
    if reason.strip():
        try:
            await cases.pause(turn.ctx, turn.person, case, reason.strip())
        except TransitionRefused as refused:
            turn.say(refused.reason)
        else:
            turn.say("pause.done", number=case.number)
        await ask_again(turn, state)
        return
    await start_dialog(turn, PAUSE.name, {"case_id": case.id, "number": case.number})


@feature.command("resume", help="command_help.resume")
async def resume(turn: Turn, state: DialogState | None, argument: str) -> None:
    case = await cases.find_case(turn.session, argument[:20]) if argument else None
    if case is None or case.assignee_id != turn.person.id:
        turn.say("pause.usage")
    else:
        await _resume_clock(turn, case)
    await ask_again(turn, state)


@feature.command("points", help="command_help.points", roles=STAFF, refusal="tasks.staff_only")
async def points_of_month(turn: Turn, state: DialogState | None, argument: str) -> None:
    month = turn.clock.now().astimezone(turn.services.zone).date()
    total, rows = await points.month_points(turn.session, turn.person.id, turn.services.zone, month)
    lines = [
        {"$t": "points.line", "rule": t(f"rule.{rule}"), "count": count, "points": f"{pts:+d}"}
        for rule, count, pts in rows
    ]
    turn.say("points.month", month=f"{month:%Y-%m}", total=f"{total:+d}", lines=lines or "—")
    await ask_again(turn, state)


@feature.command("ranking", help="command_help.ranking", roles=STAFF, refusal="ranking.none")
async def ranking(turn: Turn, state: DialogState | None, argument: str) -> None:
    month = turn.clock.now().astimezone(turn.services.zone).date()
    found = await digests.ranking_for(turn.ctx, turn.person, month)
    if found is None:
        turn.say("ranking.none")
    else:
        turn.replies.append(digests.ranking_reply(found, month))
    await ask_again(turn, state)


# buttons ----------------------------------------------------------------------------------


async def accept(turn: Turn, offer_id: int) -> None:
    """Take an offer: the case card with the handler's buttons, or the refusal's reason."""
    try:
        case = await cases.accept(turn.ctx, turn.person, offer_id)
    except TransitionRefused as refused:
        turn.say(refused.reason)
        return
    card = await case_card(turn.session, turn.services.zone, case, reveal=True)
    turn.say("handling.accepted", handler_buttons(case.id), **card)


@feature.button(Accept)
async def on_accept(turn: Turn, state: DialogState | None, payload: Accept) -> None:
    await accept(turn, payload.offer_id)
    await ask_again(turn, state)


@feature.button(Decline)
async def on_decline(turn: Turn, state: DialogState | None, payload: Decline) -> None:
    """Ask the reason for handing an open offer back; "offer.closed" for one of the person's
    offers that is no longer open, "offer.not_yours" for anyone else's."""
    offer = await turn.session.get(CaseOffer, payload.offer_id)
    if offer is None or offer.person_id != turn.person.id or offer.state != "open":
        turn.say(
            "offer.closed" if offer and offer.person_id == turn.person.id else "offer.not_yours"
        )
        await ask_again(turn, state)
        return
    case = await turn.session.get_one(Case, offer.case_id)
    await start_dialog(turn, DECLINE.name, {"offer_id": offer.id, "number": case.number})


@feature.button(Progress, Close, Escalate, Pause)
async def on_case_button(
    turn: Turn, state: DialogState | None, payload: Progress | Close | Escalate | Pause
) -> None:
    """Open the button's dialog on a case the person holds and is working on.

    - not theirs (or no such case): the refusal's reason;
    - 暂停计时 on a case already paused: its clock starts again instead;
    - a case not in progress: "case.wrong_state".
    """
    try:
        case = await cases.case_for_handler(turn.session, turn.person, payload.case_id)
    except TransitionRefused as refused:
        turn.say(refused.reason)
        await ask_again(turn, state)
        return
    if isinstance(payload, Pause) and case.paused_at is not None:
        await _resume_clock(turn, case)
        await ask_again(turn, state)
        return
    if case.status != "in_progress":
        turn.say("case.wrong_state")
        await ask_again(turn, state)
        return
    await start_dialog(
        turn, _CASE_DIALOGS[type(payload)], {"case_id": case.id, "number": case.number}
    )


async def _resume_clock(turn: Turn, case: Case) -> None:
    try:
        seconds = await cases.resume(turn.ctx, turn.person, case)
    except TransitionRefused as refused:
        turn.say(refused.reason)
        return
    turn.say("pause.resumed", number=case.number, hours=round(seconds / 3600, 1))


# typed answers to an offer ----------------------------------------------------------------


async def answer_to_notice(turn: Turn, state: DialogState | None) -> bool:
    """A text in reply to one of our notices. False unless it is the person's own offer
    notice; then 接单 accepts, 退回 declines, anything else gets "offer.reply_hint"."""
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
        await ask_again(turn, state)
    elif word in DECLINE_WORDS:
        await on_decline(turn, state, Decline(notice.offer_id))
    else:
        turn.say("offer.reply_hint")
        await ask_again(turn, state)
    return True


# Alone, "1" and "2" are too likely to mean something else to answer an offer.
LATEST_OFFER_WORDS = (ACCEPT_WORDS | DECLINE_WORDS) - {"1", "2"}


async def answer_latest_offer(turn: Turn, word: str) -> None:
    """接单 / 退回 typed alone, on channels without replies-to-a-message (WeChat): they answer
    the person's latest open offer ("offer.none_open" when there is none)."""
    offer = await turn.session.scalar(
        select(CaseOffer)
        .where(CaseOffer.person_id == turn.person.id, CaseOffer.state == "open")
        .order_by(CaseOffer.offered_at.desc(), CaseOffer.id.desc())
        .limit(1)
    )
    if offer is None:
        turn.say("offer.none_open")
    elif word in ACCEPT_WORDS:
        await accept(turn, offer.id)
    else:
        await on_decline(turn, None, Decline(offer.id))
