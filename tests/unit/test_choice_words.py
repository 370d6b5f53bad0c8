"""The words a person may type for a choice: its label's words and its synonyms from the
catalogue. Inside one question no two choices share a word (nor a choice and back/cancel),
every synonym belongs to a label, and a question answered in words takes a typed number as
its answer. No database."""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any, cast

import pytest

from dialogs.base import Turn
from dialogs.commands.citizen import RATING_CHOICES
from dialogs.conversation import registered
from dialogs.report_dialog import EDITABLE_CITIZEN, EDITABLE_STAFF, ConfirmStep
from dialogs.router import WORDS, command_of
from dialogs.steps import (
    NAV_ROW,
    Choice,
    ChoiceStep,
    TextStep,
    choice_words,
    matched_choice,
)
from dispatch.messages import Inbound
from dispatch.vocab import CATEGORIES
from locales import SYNONYMS, catalog, synonyms
from locales import text as render

LOCALES = ["zh_CN", "en"]


def questions() -> Iterator[tuple[str, list[Choice]]]:
    """Every question of every dialog with the choices it offers, by name. Lists built while
    asking (the region tree's place names) are left out; the category list is all of them."""
    for dialog in registered().values():
        for name, step in dialog.steps.items():
            where = f"{dialog.name}.{name}"
            if isinstance(step, ChoiceStep):
                found = step._choices
                choices = [Choice(c, f"cat.{c}") for c in CATEGORIES] if callable(found) else found
                yield where, list(choices)
            elif isinstance(step, TextStep):
                yield where, list(step.shortcuts)
            elif hasattr(step, "choices"):
                yield where, list(step.choices)
            if isinstance(step, ConfirmStep):
                fields = dict.fromkeys((*EDITABLE_CITIZEN, *EDITABLE_STAFF))
                yield f"{where}.edit", [Choice(f"e:{f}", f"edit.{f}") for f in fields]


def questions_outside_dialogs() -> Iterator[tuple[str, list[Choice]]]:
    """Choices typed outside a dialog: the follow-up's rating."""
    yield "followup.rating", list(RATING_CHOICES)


def nav_words(locale: str) -> set[str]:
    return {w for b in NAV_ROW for w in choice_words(Choice("", b.text_key), locale)}


def test_every_dialog_question_is_seen() -> None:
    names = {name for name, _ in questions()}
    expected = {
        "report.confirm_category",
        "report.contact",
        "report.confirm.edit",
        "staff_report.on_spot",
        "close_case.confirm",
        "followup.comment",
    }
    assert expected <= names, names


@pytest.mark.parametrize("locale", LOCALES)
def test_no_two_choices_of_one_question_share_a_word(locale: str) -> None:
    clashes = []
    for where, choices in questions():
        owner: dict[str, str] = {word: "back/cancel" for word in nav_words(locale)}
        for choice in choices:
            for word in choice_words(choice, locale):
                if owner.setdefault(word, choice.value) != choice.value:
                    clashes.append((where, word, owner[word], choice.value))
    assert not clashes, clashes


@pytest.mark.parametrize("locale", LOCALES)
def test_every_synonym_belongs_to_a_label_and_is_not_a_number(locale: str) -> None:
    known = catalog(locale)
    prefix = f"{SYNONYMS}."
    for key in (k.removeprefix(prefix) for k in known if k.startswith(prefix)):
        assert key in known, f"synonyms for {key}, which labels nothing"
        words = synonyms(key, locale)
        assert words, key
        # A number picks a choice by its place in the list.
        assert not any(w.isdigit() for w in words), (key, words)


@pytest.mark.parametrize("locale", LOCALES)
def test_a_nav_buttons_label_sent_as_text_steers_the_dialog(locale: str) -> None:
    for button, command in zip(NAV_ROW, ("back", "cancel"), strict=True):
        label = render(button.text_key, locale)
        inbound = Inbound("telegram", "u", "c", "text", label)
        assert command_of(inbound, in_dialog=True) == (command, ""), label
    assert WORDS["上一步"].name == "back"


def turn(locale: str = "zh_CN") -> Turn:
    return cast(Turn, SimpleNamespace(locale=locale))


def typed(words: str) -> Inbound:
    return Inbound("wechat", "u", "c", "text", words)


CONFIRM = [Choice("yes", "button.yes_right"), Choice("no", "button.no_pick")]


@pytest.mark.parametrize(
    ("words", "value"),
    [
        ("是", "yes"),
        ("是的。", "yes"),
        ("没错！", "yes"),
        ("嗯", "yes"),
        ("对，是这类", "yes"),
        ("不对", "no"),
        ("不是", "no"),
        ("2", "no"),
        ("随便", None),
    ],
)
def test_a_yes_no_question_understands_what_people_mean(words: str, value: str | None) -> None:
    picked = matched_choice(turn(), typed(words), CONFIRM, nonce_ok=True)
    assert (picked.value if picked else None) == value


def test_english_synonyms_too() -> None:
    picked = matched_choice(turn("en"), typed("Yes"), CONFIRM, nonce_ok=True)
    assert picked is not None and picked.value == "yes"


async def test_a_number_at_a_question_answered_in_words_is_the_answer() -> None:
    said: list[tuple[str, str]] = []

    async def on_text(t: Turn, data: dict[str, Any], text: str) -> str:
        said.append(("text", text))
        return "next"

    async def on_choice(t: Turn, data: dict[str, Any], value: str) -> str:
        said.append(("choice", value))
        return "next"

    step = TextStep(
        "comment",
        "followup.ask_comment",
        on_text,
        shortcuts=[Choice("skip", "button.no_comment")],
        on_choice=on_choice,
    )
    for words in ("1", "不用了", "没有"):
        await step.answer(turn(), {}, typed(words))
    assert said == [("text", "1"), ("choice", "skip"), ("choice", "skip")]
    asked = await step.ask(turn(), {}, 1)
    assert asked.free_text
