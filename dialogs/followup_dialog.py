"""The follow-up visit (回访): the reporter rates a closed case, with an optional comment."""

from __future__ import annotations

from typing import Any

from dialogs.base import Outcome, Turn
from dialogs.steps import FINISH, Choice, Dialog, TextStep
from dispatch import cases
from dispatch.workflow import TransitionRefused


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
