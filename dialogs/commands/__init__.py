"""How a command module declares what it offers: commands and the buttons it answers.

Each module (citizen, staff, leader) builds one `Feature` and registers on it:

    feature = Feature("staff")

    @feature.command("tasks", help="command_help.tasks", roles=STAFF, refusal="tasks.staff_only")
    async def tasks(turn, state, argument): ...

    @feature.button(Accept)
    async def on_accept(turn, state, payload): ...

A command's typed words (for people who do not type slashes) are its entry in
dialogs/data/words.yaml. The router (dialogs/router.py) includes every feature, checks a
command's roles once before running it, and hands each button payload class to the one
handler registered for it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from dialogs.base import Turn
from dialogs.roles import EVERYONE
from dialogs.steps import Dialog
from dispatch.payloads import Payload
from storage.models import DialogState

CommandHandler = Callable[[Turn, DialogState | None, str], Awaitable[None]]
ButtonHandler = Callable[[Turn, DialogState | None, Any], Awaitable[None]]

_WORDS: dict[str, Any] = yaml.safe_load(
    (Path(__file__).parents[1] / "data" / "words.yaml").read_text(encoding="utf-8")
)
# Answers to an assignment, in reply to its notice or (where a channel has no replies) alone.
ACCEPT_WORDS = frozenset(str(w).lower() for w in _WORDS["accept"])
DECLINE_WORDS = frozenset(str(w).lower() for w in _WORDS["decline"])


def typed_words(command: str) -> tuple[str, ...]:
    """The words that work like `command` when typed alone, lower-cased (words.yaml)."""
    return tuple(str(w).lower() for w in _WORDS["commands"].get(command, ()))


def words_without_command(known: set[str]) -> set[str]:
    """Commands that words.yaml gives words to but nobody registered (a typo, or a leftover)."""
    return set(_WORDS["commands"]) - known


@dataclass(frozen=True, slots=True)
class Command:
    """A command as registered: `/name`, its typed words, its help line, who may run it.

    `refusal` is what everyone else is told (then the dialog they are in, if any, asks
    again). `takes_argument`: the typed word may be followed by the command's argument
    ("查询 2024…"); for any other word, more text after it makes the message a description.
    `steers_dialog`: the typed word works inside a dialog too (cancel, back); any other
    word typed there is an answer to the dialog's question.
    """

    name: str
    run: CommandHandler
    help: str
    roles: frozenset[str]
    refusal: str | None
    words: tuple[str, ...]
    takes_argument: bool = False
    steers_dialog: bool = False


@dataclass(slots=True)
class Feature:
    """The commands, buttons and dialogs of one group of users."""

    name: str
    commands: list[Command] = field(default_factory=list)
    buttons: dict[type[Payload], ButtonHandler] = field(default_factory=dict)
    dialogs: list[Dialog] = field(default_factory=list)

    def command(
        self,
        name: str,
        *,
        help: str,
        roles: frozenset[str] = EVERYONE,
        refusal: str | None = None,
        takes_argument: bool = False,
        steers_dialog: bool = False,
    ) -> Callable[[CommandHandler], CommandHandler]:
        if roles != EVERYONE and refusal is None:
            raise ValueError(f"/{name} is limited to some roles: say what the others are told")

        def register(run: CommandHandler) -> CommandHandler:
            self.commands.append(
                Command(
                    name,
                    run,
                    help,
                    roles,
                    refusal,
                    typed_words(name),
                    takes_argument,
                    steers_dialog,
                )
            )
            return run

        return register

    def button(self, *kinds: type[Payload]) -> Callable[[ButtonHandler], ButtonHandler]:
        """Answer buttons carrying these payload classes. The payload only names an object:
        the handler checks the person's right to it against the database."""

        def register(handle: ButtonHandler) -> ButtonHandler:
            for kind in kinds:
                if kind in self.buttons:
                    raise ValueError(f"{kind.__name__} already has a handler in {self.name}")
                self.buttons[kind] = handle
            return handle

        return register

    def dialog(self, *dialogs: Dialog) -> None:
        """Dialogs this feature starts (the router registers them by name)."""
        self.dialogs.extend(dialogs)
