"""Dialogs around the clock: pausing a case, answering a follow-up visit (回访)."""

from __future__ import annotations

from typing import Any

from dialogs.base import FINISH, Choice, Dialog, Outcome, TextStep, Turn
from dispatch import cases
from dispatch.workflow import TransitionRefused


async def _pause_reason(turn: Turn, data: dict[str, Any], text: str) -> Outcome:
    data["reason"] = text
    return FINISH


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
    [TextStep("reason", "pause.ask_reason", _pause_reason, min_len=2, max_len=200)],
    _paused,
)


async def _comment(turn: Turn, data: dict[str, Any], text: str) -> Outcome:
    data["comment"] = text
    return FINISH


async def _no_comment(turn: Turn, data: dict[str, Any], value: str) -> Outcome:
    data["comment"] = ""
    return FINISH


async def _answered(turn: Turn, data: dict[str, Any]) -> None:
    try:
        case = await cases.answer_followup(
            turn.ctx, turn.person, data["case_id"], data["rating"], data.get("comment", "")
        )
    except TransitionRefused as refused:
        turn.say(refused.reason)
        return
    key = "followup.reopened" if data["rating"] == "dissatisfied" else "followup.thanks"
    turn.say(key, number=case.number)


FOLLOWUP = Dialog.of(
    "followup",
    [
        TextStep(
            "comment",
            "followup.ask_comment",
            _comment,
            max_len=500,
            shortcuts=[Choice("skip", "button.no_comment")],
            on_choice=_no_comment,
        )
    ],
    _answered,
)
