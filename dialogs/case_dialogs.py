"""Dialogs of the person handling a case: decline an offer with a reason, record progress,
close with an outcome, escalate a level up, pause the clock while waiting for a party."""

from __future__ import annotations

from typing import Any

from dialogs.base import Outcome, Retry, Turn
from dialogs.steps import FINISH, NAV_ROW, Choice, ChoiceStep, Dialog, Step, TextStep
from dispatch import cases
from dispatch.cases import AGREEMENTS
from dispatch.messages import Inbound, Reply, t
from dispatch.notifications import handler_buttons
from dispatch.workflow import TransitionRefused


async def _reason_given(turn: Turn, data: dict[str, Any], text: str) -> Outcome:
    data["reason"] = text
    return FINISH


def _reason(ask: str, max_len: int) -> TextStep:
    """The one step of declining, escalating and pausing: why, in a few words."""
    return TextStep("reason", ask, _reason_given, min_len=2, max_len=max_len)


# decline --------------------------------------------------------------------------------


async def _declined(turn: Turn, data: dict[str, Any]) -> None:
    try:
        await cases.decline(turn.ctx, turn.person, data["offer_id"], data["reason"])
    except TransitionRefused as refused:
        turn.say(refused.reason)
        return
    turn.say("handling.declined", number=data.get("number", ""))


DECLINE = Dialog.of(
    "decline",
    [_reason("handling.ask_decline_reason", 500)],
    _declined,
)


# progress -------------------------------------------------------------------------------


class ProgressStep(Step):
    """A progress note; photos sent first are attached to it."""

    name = "note"

    async def ask(self, turn: Turn, data: dict[str, Any], nonce: int) -> Reply:
        return Reply(
            "handling.ask_progress",
            {"number": data.get("number", ""), "photos": len(data.get("photos", []))},
            (NAV_ROW,),
        )

    async def answer(self, turn: Turn, data: dict[str, Any], inbound: Inbound) -> Outcome:
        if inbound.kind == "photo" and inbound.media:
            photos = [*data.get("photos", []), *inbound.media][:9]
            data["photos"] = photos
            return Retry("report.photo_saved", {"count": len(photos)})
        if inbound.kind != "text" or not inbound.text.strip():
            return Retry("input.expected_text")
        note = inbound.text.strip()
        if len(note) > 1000:
            return Retry("input.too_long", {"max": 1000, "got": len(note)})
        data["note"] = note
        return FINISH


async def _progress_saved(turn: Turn, data: dict[str, Any]) -> None:
    try:
        case = await cases.case_for_handler(turn.session, turn.person, data["case_id"])
        await cases.record_progress(
            turn.ctx,
            turn.person,
            case,
            data["note"],
            list(data.get("photos", [])),
            turn.inbound.channel,
        )
    except TransitionRefused as refused:
        turn.say(refused.reason)
        return
    turn.say("handling.progress_saved", handler_buttons(case.id), number=case.number)


PROGRESS = Dialog.of("progress", [ProgressStep()], _progress_saved)


# close ----------------------------------------------------------------------------------


async def _outcome(turn: Turn, data: dict[str, Any], value: str) -> Outcome:
    data["outcome"] = value
    return "summary"


async def _summary(turn: Turn, data: dict[str, Any], text: str) -> Outcome:
    data["summary"] = text
    if data["outcome"] == "success":
        return "agreement"
    data["agreement"] = "none"
    return "confirm"


async def _agreement(turn: Turn, data: dict[str, Any], value: str) -> Outcome:
    data["agreement"] = value
    return "confirm"


async def _close_params(turn: Turn, data: dict[str, Any]) -> dict[str, Any]:
    return {
        "number": data.get("number", ""),
        "outcome": t(f"outcome.{data.get('outcome', 'success')}"),
        "summary": data.get("summary", ""),
        "agreement": t(f"agreement.{data.get('agreement', 'none')}"),
    }


async def _close_confirmed(turn: Turn, data: dict[str, Any], value: str) -> Outcome:
    if value == "no":
        data["_abandon"] = True
    return FINISH


async def _closed(turn: Turn, data: dict[str, Any]) -> None:
    if data.get("_abandon"):
        turn.say("handling.close_abandoned")
        return
    try:
        case = await cases.case_for_handler(turn.session, turn.person, data["case_id"])
        await cases.close_case(
            turn.ctx, turn.person, case, data["outcome"], data["summary"], data["agreement"]
        )
    except TransitionRefused as refused:
        turn.say(refused.reason)
        return
    turn.say("handling.closed", number=case.number, outcome=t(f"outcome.{data['outcome']}"))


CLOSE = Dialog.of(
    "close_case",
    [
        ChoiceStep(
            "outcome",
            "handling.ask_outcome",
            [Choice("success", "outcome.success"), Choice("failed", "outcome.failed")],
            _outcome,
            per_row=1,
            params=_close_params,
        ),
        TextStep("summary", "handling.ask_summary", _summary, min_len=2, max_len=500),
        ChoiceStep(
            "agreement",
            "handling.ask_agreement",
            [Choice(a, f"agreement.{a}") for a in AGREEMENTS],
            _agreement,
        ),
        ChoiceStep(
            "confirm",
            "handling.ask_close_confirm",
            [Choice("yes", "button.confirm_close"), Choice("no", "button.not_now")],
            _close_confirmed,
            params=_close_params,
        ),
    ],
    _closed,
)


# escalate -------------------------------------------------------------------------------


async def _escalated(turn: Turn, data: dict[str, Any]) -> None:
    try:
        case = await cases.case_for_handler(turn.session, turn.person, data["case_id"])
        offer = await cases.escalate(turn.ctx, turn.person, case, data["reason"])
    except TransitionRefused as refused:
        turn.say(refused.reason)
        return
    turn.say("handling.escalated" if offer else "handling.escalated_nobody", number=case.number)


ESCALATE = Dialog.of(
    "escalate",
    [_reason("handling.ask_escalate_reason", 500)],
    _escalated,
)


# pause ----------------------------------------------------------------------------------


async def _paused(turn: Turn, data: dict[str, Any]) -> None:
    try:
        case = await cases.case_for_handler(turn.session, turn.person, data["case_id"])
        await cases.pause(turn.ctx, turn.person, case, data["reason"])
    except TransitionRefused as refused:
        turn.say(refused.reason)
        return
    turn.say("pause.done", number=case.number)


PAUSE = Dialog.of(
    "pause",
    [_reason("pause.ask_reason", 200)],
    _paused,
)
