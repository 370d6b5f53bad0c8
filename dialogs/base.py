"""The pieces every dialog is built from: a Turn (one handled message), Steps, Dialogs.

A step is named after what the person is asked for. `ask` renders the question;
`answer` validates what came back and says where to go: the next step's name, `Retry`
(with a short explanation, then the same question again) or `FINISH`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from dispatch.classify import Classifier
from dispatch.clock import Clock
from dispatch.context import Ctx, Domain
from dispatch.messages import Button, Inbound, Reply
from dispatch.policy import Policy
from locales import text as render_text
from storage.database import Sessions
from storage.models import Identity, Person

FINISH = "__finish__"
NAV_ROW = (Button("button.back", "nav:back"), Button("button.cancel", "nav:cancel"))


@dataclass(frozen=True, slots=True)
class Services:
    """Long-lived resources, built once by the composition root."""

    sessions: Sessions
    domain: Domain
    classifier: Classifier
    default_locale: str = "zh_CN"

    @property
    def clock(self) -> Clock:
        return self.domain.clock

    @property
    def zone(self) -> ZoneInfo:
        return self.domain.zone

    @property
    def policy(self) -> Policy:
        return self.domain.policy


@dataclass(frozen=True, slots=True)
class Answer:
    """What the adapter sends back to the person who wrote, and in which language."""

    replies: list[Reply]
    locale: str
    person_id: int | None = None


@dataclass(frozen=True, slots=True)
class Retry:
    """Explain (message key) and ask the same question again."""

    key: str
    params: dict[str, Any] = field(default_factory=dict)


Outcome = str | Retry


@dataclass(slots=True)
class Turn:
    """One handled message: its unit of work, who sent it, and what we answer."""

    services: Services
    session: AsyncSession
    person: Person
    identity: Identity
    inbound: Inbound
    replies: list[Reply] = field(default_factory=list)

    @property
    def clock(self) -> Clock:
        return self.services.clock

    @property
    def ctx(self) -> Ctx:
        """This turn's unit of work, for domain operations."""
        return self.services.domain.within(self.session)

    @property
    def locale(self) -> str:
        return self.person.locale or self.services.default_locale

    def say(self, key: str, buttons: Sequence[Sequence[Button]] = (), **params: Any) -> None:
        self.replies.append(Reply(key, params, tuple(tuple(row) for row in buttons)))

    def words(self, key: str) -> str:
        """A message as the person reads it (to match typed answers against button labels)."""
        return render_text(key, self.locale)


class Step:
    name: str = ""

    async def ask(self, turn: Turn, data: dict[str, Any], nonce: int) -> Reply:
        raise NotImplementedError

    async def answer(self, turn: Turn, data: dict[str, Any], inbound: Inbound) -> Outcome:
        raise NotImplementedError


def choice_payload(nonce: int, value: str) -> str:
    # The nonce ties a button to the question it was sent with (Telegram allows 64 bytes).
    return f"{nonce}.{value}"


def parse_choice(payload: str) -> tuple[int, str] | None:
    nonce, _, value = payload.partition(".")
    if not value or not nonce.isdigit():
        return None
    return int(nonce), value


@dataclass(frozen=True, slots=True)
class Choice:
    value: str
    label_key: str
    label_params: dict[str, Any] = field(default_factory=dict)
    kind: str = "choice"


def choice_rows(nonce: int, choices: Sequence[Choice], per_row: int) -> list[tuple[Button, ...]]:
    buttons = [
        Button(c.label_key, choice_payload(nonce, c.value), c.kind, c.label_params)  # type: ignore[arg-type]
        for c in choices
    ]
    return [tuple(buttons[i : i + per_row]) for i in range(0, len(buttons), per_row)]


def matched_choice(
    turn: Turn, inbound: Inbound, choices: Sequence[Choice], nonce_ok: bool
) -> Choice | None:
    """A choice by button, by its number ("1"), or by its words ("确认")."""
    if inbound.kind == "choice" and inbound.choice is not None and nonce_ok:
        parsed = parse_choice(inbound.choice)
        value = parsed[1] if parsed else inbound.choice
        return next((c for c in choices if c.value == value), None)
    if inbound.kind != "text":
        return None
    typed = inbound.text.strip().strip("。.!！").lower()
    # Numbers count the plain choices only: a location or contact request is a phone's
    # button, never offered as a number (WeChat shows the rest as "回复 1 …, 2 …").
    numbered = [c for c in choices if c.kind == "choice"]
    if typed.isdigit() and 1 <= int(typed) <= len(numbered):
        return numbered[int(typed) - 1]
    for c in choices:
        label = render_text(c.label_key, turn.locale, c.label_params).lower()
        # Labels may carry an emoji; compare the words.
        if typed and (typed == label or typed == label.split(" ", 1)[-1].strip()):
            return c
    return None


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
        rows = choice_rows(nonce, await self.choices(turn, data), self.per_row)
        if self.nav:
            rows.append(NAV_ROW)
        params = await self._params(turn, data) if self._params else {}
        return Reply(self.prompt, params, tuple(rows))

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
        rows = choice_rows(nonce, self.shortcuts, 2)
        if self.nav:
            rows.append(NAV_ROW)
        return Reply(self.prompt, {"max": self.max_len}, tuple(rows))

    async def answer(self, turn: Turn, data: dict[str, Any], inbound: Inbound) -> Outcome:
        if self.shortcuts and self.on_choice is not None:
            picked = matched_choice(turn, inbound, self.shortcuts, nonce_ok=True)
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
