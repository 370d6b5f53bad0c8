"""Running a dialog: its state in the database, asking, stepping, going back, cancelling.

A person is in at most one dialog at a time: one `DialogState` row (dialog name, step name,
the answers so far, a nonce that ties buttons to the question they came with). A state left
untouched for `DIALOG_TTL`, or naming a dialog this version no longer has, is dropped and
the person told so. Dialogs are known by name once registered (`register`, done by the
router when it includes each command module).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from dialogs.base import Retry, Turn
from dialogs.menu import main_menu
from dialogs.steps import FINISH, Dialog
from dispatch.clock import as_utc
from dispatch.messages import Reply
from dispatch.payloads import StepChoice, parse
from storage.models import DialogState

DIALOG_TTL = timedelta(hours=24)

_DIALOGS: dict[str, Dialog] = {}


def register(*dialogs: Dialog) -> None:
    """Make dialogs startable and resumable by name. A name is stored in people's dialog
    state, so it is registered once and never reused for another dialog."""
    for dialog in dialogs:
        known = _DIALOGS.setdefault(dialog.name, dialog)
        if known is not dialog:
            raise ValueError(f"two dialogs are named {dialog.name!r}")


def registered() -> dict[str, Dialog]:
    return dict(_DIALOGS)


async def live_state(turn: Turn) -> DialogState | None:
    """The person's dialog, or None; an expired or unknown one is dropped ("dialog.expired")."""
    state = await turn.session.get(DialogState, turn.person.id)
    if state is None:
        return None
    if turn.clock.now() - as_utc(state.updated_at) > DIALOG_TTL or state.dialog not in _DIALOGS:
        await turn.session.delete(state)
        turn.say("dialog.expired")
        return None
    return state


# In a dialog's data: the question asked last showed buttons a phone sends with (a
# location, a phone number), which a channel keeps under the input box until told to remove
# them (the router does, once the person has left that question).
DEVICE_KEYBOARD = "_keyboard"


async def ask(turn: Turn, state: DialogState) -> None:
    """Ask the current step's question (again)."""
    dialog = _DIALOGS[state.dialog]
    step = dialog.steps[state.step]
    reply = await step.ask(turn, dict(state.data), state.nonce)
    turn.replies.append(reply)
    if bool(state.data.get(DEVICE_KEYBOARD)) != reply.device_buttons:
        state.data = {**state.data, DEVICE_KEYBOARD: reply.device_buttons}


def keyboard_shown(state: DialogState | None) -> bool:
    """The last question of this dialog left a phone's reply keyboard open."""
    return state is not None and bool((state.data or {}).get(DEVICE_KEYBOARD))


def _explain(turn: Turn, key: str, **params: Any) -> None:
    """Say why the question comes again; the question follows at once."""
    turn.replies.append(Reply(key, params, lead_in=True))


async def ask_again(turn: Turn, state: DialogState | None) -> None:
    """After answering a side question, ask the dialog's question again."""
    if state is not None:
        _explain(turn, "dialog.resume")
        await ask(turn, state)


async def start_dialog(
    turn: Turn, name: str, data: dict[str, Any] | None = None, step: str | None = None
) -> None:
    """Start dialog `name` (at `step`, or its first), replacing any dialog in progress."""
    dialog = _DIALOGS[name]
    state = await turn.session.get(DialogState, turn.person.id)
    if state is None:
        state = DialogState(person_id=turn.person.id, nonce=0)
        turn.session.add(state)
    state.dialog = name
    state.step = step or dialog.first
    state.data = dict(data or {})
    state.nonce = (state.nonce or 0) + 1
    state.updated_at = turn.clock.now()
    await ask(turn, state)


async def step(turn: Turn, state: DialogState) -> None:
    """Give the message to the current step.

    - a button we cannot read: "button.unknown", and the question again;
    - a button from an earlier question (another nonce): "button.stale", and the question again;
    - otherwise the step's answer decides: the next step, the same one with an explanation,
      or the end of the dialog.
    """
    inbound = turn.inbound
    if inbound.kind == "choice" and inbound.choice is not None:
        parsed = parse(inbound.choice)
        if not isinstance(parsed, StepChoice):
            _explain(turn, "button.unknown")
            await ask(turn, state)
            return
        if parsed.nonce != state.nonce:
            _explain(turn, "button.stale")
            await ask(turn, state)
            return
    dialog = _DIALOGS[state.dialog]
    data = dict(state.data)
    outcome = await dialog.steps[state.step].answer(turn, data, inbound)
    await _advance(turn, state, dialog, data, outcome)


async def _advance(
    turn: Turn, state: DialogState, dialog: Dialog, data: dict[str, Any], outcome: str | Retry
) -> None:
    state.updated_at = turn.clock.now()
    if isinstance(outcome, Retry):
        state.data = data
        _explain(turn, outcome.key, **outcome.params)
        await ask(turn, state)
        return
    if outcome == FINISH:
        await turn.session.delete(state)
        await turn.session.flush()
        await dialog.finish(turn, data)
        # A finish may start another dialog; only a person left outside one gets the menu.
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
    await ask(turn, state)


async def back(turn: Turn, state: DialogState) -> None:
    """Back to the step asked before this one ("nav.at_start" on the first)."""
    data = dict(state.data)
    trail = list(data.get("_trail", []))
    if not trail:
        _explain(turn, "nav.at_start")
        await ask(turn, state)
        return
    data["_trail"] = trail[:-1]
    data.pop("_choosing_edit", None)
    for key in ("_node", "_page"):
        data.pop(key, None)
    state.step = trail[-1]
    state.data = data
    state.nonce += 1
    state.updated_at = turn.clock.now()
    await ask(turn, state)


async def cancel(turn: Turn, state: DialogState | None) -> None:
    """Drop the dialog in progress ("nav.cancelled", or "nav.nothing_to_cancel"), then the menu."""
    if state is None:
        turn.say("nav.nothing_to_cancel")
    else:
        await turn.session.delete(state)
        turn.say("nav.cancelled")
    turn.replies.append(main_menu(turn))
