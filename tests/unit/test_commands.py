"""The router's commands as declared: typed words and slashes map to the right command, a
word followed by text is a description, every command has a help line in every catalog and
declares who may run it, and every button payload has exactly one handler. No database."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

import dialogs
from dialogs import conversation
from dialogs.commands import Feature, words_without_command
from dialogs.menu import MENU_COMMANDS
from dialogs.roles import EVERYONE, LEADERS, STAFF
from dialogs.router import BUTTONS, COMMANDS, WORDS, command_of
from dispatch import payloads
from dispatch.messages import Inbound
from dispatch.vocab import ROLES
from locales import catalog

WORDS_FILE = Path(dialogs.__file__).parent / "data" / "words.yaml"
TYPED = yaml.safe_load(WORDS_FILE.read_text(encoding="utf-8"))["commands"]


def text(words: str) -> Inbound:
    return Inbound("console", "u1", "c1", "text", words)


def test_every_typed_word_belongs_to_a_registered_command() -> None:
    assert not words_without_command(set(COMMANDS))


@pytest.mark.parametrize(
    ("word", "command"),
    [(str(word), command) for command, words in TYPED.items() for word in words],
)
def test_a_typed_word_alone_is_its_command(word: str, command: str) -> None:
    assert command_of(text(word), in_dialog=False) == (command, "")
    assert command_of(text(f"  {word.upper()}  "), in_dialog=False) == (command, "")


@pytest.mark.parametrize("words", ["反映 邻居装修太吵了", "我的 狗被邻居打了", "help me please"])
def test_a_command_word_followed_by_text_is_a_description(words: str) -> None:
    assert command_of(text(words), in_dialog=False) == (None, "")


@pytest.mark.parametrize(
    ("words", "expected"),
    [("查询 JH2024000123", ("status", "JH2024000123")), ("绑定  AB12CD", ("bind", "AB12CD"))],
)
def test_words_of_commands_with_an_argument_take_it(words: str, expected: tuple[str, str]) -> None:
    assert command_of(text(words), in_dialog=False) == expected


def test_inside_a_dialog_only_cancel_and_back_words_steer_it() -> None:
    assert command_of(text("取消"), in_dialog=True) == ("cancel", "")
    assert command_of(text("返回"), in_dialog=True) == ("back", "")
    for word in ("反映", "查询", "帮助", "菜单", "任务"):
        assert command_of(text(word), in_dialog=True) == (None, ""), word
    steering = {name for name, command in COMMANDS.items() if command.steers_dialog}
    assert steering == {"cancel", "back"}


@pytest.mark.parametrize("in_dialog", [False, True])
def test_slash_commands_work_anywhere_with_their_argument(in_dialog: bool) -> None:
    assert command_of(text("/Tasks@PingAnBot"), in_dialog=in_dialog) == ("tasks", "")
    assert command_of(text("/pause JH1 等当事人"), in_dialog=in_dialog) == ("pause", "JH1 等当事人")
    # An unknown name is still a command: the router answers "command.unknown".
    assert command_of(text("/nosuch x"), in_dialog=in_dialog) == ("nosuch", "x")


def test_buttons_and_media_are_never_commands() -> None:
    tap = Inbound("console", "u1", "c1", "choice", "", choice=payloads.Menu("help").pack())
    photo = Inbound("console", "u1", "c1", "photo", "/help", media=("f1",))
    assert command_of(tap, in_dialog=False) == (None, "")
    assert command_of(photo, in_dialog=False) == (None, "")


def test_no_word_names_two_commands() -> None:
    for word, command in WORDS.items():
        assert word in command.words


@pytest.mark.parametrize("locale", ["zh_CN", "en"])
def test_every_command_has_a_help_line(locale: str) -> None:
    known = catalog(locale)
    for name, command in COMMANDS.items():
        assert command.help == f"command_help.{name}"
        assert command.help in known, f"{locale}: no {command.help}"


def test_the_commands_telegram_lists_are_the_registered_ones() -> None:
    from bot.telegram_bot import COMMANDS as LISTED

    assert set(LISTED) == set(COMMANDS)


@pytest.mark.parametrize("locale", ["zh_CN", "en"])
def test_every_command_declares_its_roles(locale: str) -> None:
    for name, command in COMMANDS.items():
        assert command.roles, name
        assert command.roles <= set(ROLES), name
        if command.roles != EVERYONE:
            assert command.refusal in catalog(locale), name


@pytest.mark.parametrize(
    ("name", "roles", "refusal"),
    [
        ("tasks", STAFF, "tasks.staff_only"),
        ("points", STAFF, "tasks.staff_only"),
        ("ranking", STAFF, "ranking.none"),
        ("link", STAFF, "link.staff_only"),
        ("digest", LEADERS, "digest.leaders_only"),
        ("report", EVERYONE, None),
        ("status", EVERYONE, None),
        ("pause", EVERYONE, None),
        ("supervise", EVERYONE, None),
    ],
)
def test_declared_roles_and_refusals(name: str, roles: frozenset[str], refusal: str | None) -> None:
    assert (COMMANDS[name].roles, COMMANDS[name].refusal) == (roles, refusal)


def test_a_limited_command_must_say_what_others_are_told() -> None:
    feature = Feature("test")

    async def run(*_: object) -> None:
        return None

    with pytest.raises(ValueError, match="limited"):
        feature.command("secret", help="command_help.help", roles=LEADERS)(run)


def test_menu_entries_are_registered_commands() -> None:
    assert set(MENU_COMMANDS) <= set(COMMANDS)


def test_every_action_payload_has_one_handler() -> None:
    actions = {
        kind
        for kind in payloads.KINDS
        if kind.global_action and kind not in (payloads.Menu, payloads.Nav)
    }
    assert set(BUTTONS) == actions


def test_every_dialog_is_registered_by_name() -> None:
    assert set(conversation.registered()) == {
        "report",
        "staff_report",
        "decline",
        "progress",
        "close_case",
        "escalate",
        "pause",
        "followup",
        "bind",
        "status",
        "keyperson_enrol",
        "keyperson_visit",
        "keyperson_close",
        "patrol",
    }
