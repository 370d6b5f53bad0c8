"""Leaders' commands and buttons: the work report (工作情况) and 挂牌督办 on a case."""

from __future__ import annotations

from dialogs.base import Turn
from dialogs.commands import Feature
from dialogs.conversation import ask_again
from dialogs.roles import LEADERS
from dispatch import cases, digests
from dispatch.payloads import Supervise
from dispatch.workflow import TransitionRefused
from storage.models import Case, DialogState

feature = Feature("leader")

_SPANS = {"week": "week", "周": "week", "month": "month", "月": "month"}


@feature.command("digest", help="command_help.digest", roles=LEADERS, refusal="digest.leaders_only")
async def digest(turn: Turn, state: DialogState | None, argument: str) -> None:
    """Today's work report over the leader's jurisdiction (`/digest week`, `/digest month`
    for longer spans); "digest.leaders_only" when the leader has no jurisdiction."""
    today = turn.clock.now().astimezone(turn.services.zone).date()
    span = _SPANS.get(argument, "day")
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
    await ask_again(turn, state)


# Open to everyone: the domain decides who may supervise which case, and a case the person
# may not read is "status.not_found" for them whatever their role.
@feature.command("supervise", help="command_help.supervise")
async def supervise_command(turn: Turn, state: DialogState | None, argument: str) -> None:
    try:
        case = await cases.readable_case(turn.session, turn.clock, turn.person, argument[:20])
    except cases.TooManyLookUps as refused:
        turn.say(refused.reason)
        await ask_again(turn, state)
        return
    if case is None:
        turn.say("status.not_found", number=argument[:20] or "-")
    else:
        await _supervise(turn, case.id)
    await ask_again(turn, state)


@feature.button(Supervise)
async def on_supervise(turn: Turn, state: DialogState | None, payload: Supervise) -> None:
    await _supervise(turn, payload.case_id)
    await ask_again(turn, state)


async def _supervise(turn: Turn, case_id: int) -> None:
    case = await turn.session.get(Case, case_id)
    try:
        if case is None:
            raise TransitionRefused("case.not_allowed")
        await cases.supervise(turn.ctx, turn.person, case)
    except TransitionRefused as refused:
        turn.say(refused.reason)
        return
    turn.say("supervise.done", number=case.number)
