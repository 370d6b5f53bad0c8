"""The main menu: shown after a dialog ends or is cancelled, and whenever we have nothing
better to say. Its buttons run commands (the router checks their roles like typed ones)."""

from __future__ import annotations

from dialogs.base import Turn
from dialogs.roles import is_staff
from dispatch.messages import Button, Reply
from dispatch.payloads import Menu


def _entry(command: str) -> Button:
    return Button(f"menu.{command}", Menu(command).pack())


# The commands a menu button may run; any other Menu payload is answered "button.unknown".
MENU_COMMANDS = ("report", "status", "mycases", "tasks", "help")


def main_menu(turn: Turn) -> Reply:
    rows: list[tuple[Button, ...]] = [
        (_entry("report"),),
        (_entry("status"), _entry("mycases")),
    ]
    if is_staff(turn.person):
        rows.append((_entry("tasks"),))
    rows.append((_entry("help"),))
    return Reply("menu.title", {}, tuple(rows))
