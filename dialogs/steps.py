"""The steps every dialog is built from.

A step is named after what the person is asked for. `ask` renders the question;
`answer` validates what came back and says where to go: the next step's name, `Retry`
(with a short explanation, then the same question again) or `FINISH`. Running a dialog
(its state, going back, cancelling) is dialogs/conversation.py.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from dialogs.base import Outcome, Retry, Turn
from dispatch.messages import Button, Inbound, Reply
from dispatch.payloads import Nav, StepChoice, parse
from locales import synonyms
from locales import text as render_text

FINISH = "__finish__"
NAV_ROW = (Button("button.back", Nav("back").pack()), Button("button.cancel", Nav("cancel").pack()))


class Step:
    """One question of a dialog, named after what the person is asked for."""

    name: str = ""

    async def ask(self, turn: Turn, data: dict[str, Any], nonce: int) -> Reply:
        raise NotImplementedError

    async def answer(self, turn: Turn, data: dict[str, Any], inbound: Inbound) -> Outcome:
        raise NotImplementedError


@dataclass(frozen=True, slots=True)
class Choice:
    value: str
    label_key: str
    label_params: dict[str, Any] = field(default_factory=dict)
    kind: str = "choice"


def choice_rows(nonce: int, choices: Sequence[Choice], per_row: int) -> list[tuple[Button, ...]]:
    buttons = [
        Button(c.label_key, StepChoice(nonce, c.value).pack(), c.kind, c.label_params)  # type: ignore[arg-type]
        for c in choices
    ]
    return [tuple(buttons[i : i + per_row]) for i in range(0, len(buttons), per_row)]


def question(
    prompt: str,
    params: dict[str, Any],
    nonce: int,
    choices: Sequence[Choice],
    per_row: int,
    *,
    nav: bool = True,
    free_text: bool = False,
) -> Reply:
    """A step's question: its choices as buttons, `per_row` to a row, then back / cancel
    unless `nav` is off. `free_text`: the question is answered in words (see Reply)."""
    rows = choice_rows(nonce, choices, per_row)
    if nav:
        rows.append(NAV_ROW)
    return Reply(prompt, params, tuple(rows), free_text=free_text)


# What people add around a word they type for a choice ("是的。", "对！", "嗯~").
_AROUND = " \t。.!！~～,，、"


def matched_choice(
    turn: Turn,
    inbound: Inbound,
    choices: Sequence[Choice],
    nonce_ok: bool,
    *,
    by_number: bool = True,
) -> Choice | None:
    """A choice by button, by its number (unless `by_number` is off: a question answered in
    words takes "1" as the answer), or by its words: the label's, and its synonyms in the
    reader's locale (`synonyms.<label key>`)."""
    if inbound.kind == "choice" and inbound.choice is not None and nonce_ok:
        parsed = parse(inbound.choice)
        value = parsed.value if isinstance(parsed, StepChoice) else inbound.choice
        return next((c for c in choices if c.value == value), None)
    if inbound.kind != "text":
        return None
    typed = inbound.text.strip(_AROUND).lower()
    if not typed:
        return None
    # Numbers count the plain choices only: a location or contact request is a phone's
    # button, never offered as a number (WeChat lists the rest as numbered replies).
    numbered = [c for c in choices if c.kind == "choice"]
    if by_number and typed.isdigit() and 1 <= int(typed) <= len(numbered):
        return numbered[int(typed) - 1]
    for c in choices:
        if typed in choice_words(c, turn.locale):
            return c
    return None


def choice_words(choice: Choice, locale: str) -> set[str]:
    """Everything a person may type for `choice`, lower-cased: its label as shown, without
    its emoji and symbols, without the aside in brackets, and its synonyms."""
    label = render_text(choice.label_key, locale, choice.label_params).lower()
    words = {label, label_words(label)}
    head, _, rest = label.partition(" ")
    if not any(ch.isalnum() for ch in head):
        # The label after its emoji, as typed with the label's own punctuation.
        words.add(rest.strip())
    words.update(word.lower() for word in synonyms(choice.label_key, locale))
    return {word for word in words if word}


# An explanation in brackets after a label's words (full-width or not).
_ASIDE = re.compile(r"\s*[（(][^）)]*[）)]\s*$")


def label_words(label: str) -> str:
    """A button label as a person would type it: without its emoji and symbols, and without
    an explanation in brackets."""
    words = _ASIDE.sub("", label)
    kept = "".join(ch for ch in words if unicodedata.category(ch)[0] in "LNZ" or ch in "-'")
    return " ".join(kept.split())


ChoiceHandler = Callable[[Turn, dict[str, Any], str], Awaitable[Outcome]]
TextHandler = Callable[[Turn, dict[str, Any], str], Awaitable[Outcome]]
ChoicesFn = Callable[[Turn, dict[str, Any]], Awaitable[list[Choice]]]


class ChoiceStep(Step):
    """A question answered by tapping a button (or typing its number or words)."""

    def __init__(
        self,
        name: str,
        prompt: str,
        choices: Sequence[Choice] | ChoicesFn,
        on_choice: ChoiceHandler,
        *,
        per_row: int = 2,
        params: Callable[[Turn, dict[str, Any]], Awaitable[dict[str, Any]]] | None = None,
        nav: bool = True,
    ) -> None:
        self.name = name
        self.prompt = prompt
        self._choices = choices
        self.on_choice = on_choice
        self.per_row = per_row
        self._params = params
        self.nav = nav

    async def choices(self, turn: Turn, data: dict[str, Any]) -> list[Choice]:
        if callable(self._choices):
            return await self._choices(turn, data)
        return list(self._choices)

    async def ask(self, turn: Turn, data: dict[str, Any], nonce: int) -> Reply:
        choices = await self.choices(turn, data)
        params = await self._params(turn, data) if self._params else {}
        return question(self.prompt, params, nonce, choices, self.per_row, nav=self.nav)

    async def answer(self, turn: Turn, data: dict[str, Any], inbound: Inbound) -> Outcome:
        picked = matched_choice(turn, inbound, await self.choices(turn, data), nonce_ok=True)
        if picked is None:
            return Retry("input.pick_a_button")
        return await self.on_choice(turn, data, picked.value)


class TextStep(Step):
    """A question answered in words, with length limits and optional shortcut buttons."""

    def __init__(
        self,
        name: str,
        prompt: str,
        on_text: TextHandler,
        *,
        min_len: int = 1,
        max_len: int = 500,
        shortcuts: Sequence[Choice] = (),
        on_choice: ChoiceHandler | None = None,
        nav: bool = True,
    ) -> None:
        self.name = name
        self.prompt = prompt
        self.on_text = on_text
        self.min_len = min_len
        self.max_len = max_len
        self.shortcuts = tuple(shortcuts)
        self.on_choice = on_choice
        self.nav = nav

    async def ask(self, turn: Turn, data: dict[str, Any], nonce: int) -> Reply:
        return question(
            self.prompt,
            {"max": self.max_len},
            nonce,
            self.shortcuts,
            2,
            nav=self.nav,
            free_text=True,
        )

    async def answer(self, turn: Turn, data: dict[str, Any], inbound: Inbound) -> Outcome:
        if self.shortcuts and self.on_choice is not None:
            # A typed number is an answer here, not a shortcut: the question asks for words.
            picked = matched_choice(turn, inbound, self.shortcuts, nonce_ok=True, by_number=False)
            if picked is not None:
                return await self.on_choice(turn, data, picked.value)
        if inbound.kind != "text":
            return Retry("input.expected_text")
        value = inbound.text.strip()
        if not value:
            return Retry("input.empty")
        if len(value) > self.max_len:
            return Retry("input.too_long", {"max": self.max_len, "got": len(value)})
        if len(value) < self.min_len:
            return Retry("input.too_short", {"min": self.min_len})
        return await self.on_text(turn, data, value)


@dataclass(slots=True)
class Dialog:
    name: str
    steps: dict[str, Step]
    first: str
    finish: Callable[[Turn, dict[str, Any]], Awaitable[None]]

    @classmethod
    def of(
        cls,
        name: str,
        steps: Sequence[Step],
        finish: Callable[[Turn, dict[str, Any]], Awaitable[None]],
    ) -> Dialog:
        return cls(name, {s.name: s for s in steps}, steps[0].name, finish)


class ArgumentStep(Step):
    """Asks for the argument a command needs (a case number, a binding code)."""

    def __init__(self, name: str, prompt: str) -> None:
        self.name = name
        self.prompt = prompt

    async def ask(self, turn: Turn, data: dict[str, Any], nonce: int) -> Reply:
        return Reply(self.prompt, {}, (NAV_ROW,), free_text=True)

    async def answer(self, turn: Turn, data: dict[str, Any], inbound: Inbound) -> Outcome:
        if inbound.kind != "text" or not inbound.text.strip():
            return Retry("input.expected_text")
        if len(inbound.text) > 64:
            return Retry("input.too_long", {"max": 64, "got": len(inbound.text)})
        data["argument"] = inbound.text.strip()
        return FINISH
