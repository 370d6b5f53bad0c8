"""The SLA policy: per risk (and optionally category) windows, reminders, escalation, quiet
hours and the daily times of scheduled notices. Read from `dispatch/data/sla.yaml`."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import datetime, time, timedelta
from functools import cache
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from pydantic import BeforeValidator, Field, PlainValidator
from pydantic_core import PydanticUseDefault

from dispatch.datafile import (
    Category,
    DataFileError,
    DataModel,
    located,
    parse_model,
    read_text,
    validate,
)
from dispatch.vocab import RISKS
from dispatch.worktime import WorkingHours, add_time

DEFAULT_POLICY = (Path(__file__).parent / "data" / "sla").with_suffix(".yaml")
_DURATION = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?$")


@cache
def default_policy() -> Policy:
    """The shipped policy file, read once (a centre edits it and restarts)."""
    return Policy.load()


def parse_duration(value: object, where: str) -> timedelta:
    try:
        return _duration(value)
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None


def parse_clock(value: object, where: str) -> time:
    try:
        return _clock(value)
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None


def _duration(value: object) -> timedelta:
    text = str(value).strip().replace(" ", "")
    match = _DURATION.match(text)
    if not text or match is None or not any(match.groups()):
        raise ValueError(f"{value!r} is not a duration like 30m, 4h, 3d or 1d12h")
    days, hours, minutes = (int(g) if g else 0 for g in match.groups())
    return timedelta(days=days, hours=hours, minutes=minutes)


def _clock(value: object) -> time:
    try:
        return time.fromisoformat(str(value))
    except ValueError:
        raise ValueError(f"{value!r} is not a time like 18:00") from None


@dataclass(frozen=True, slots=True)
class Rule:
    accept: timedelta
    resolve: timedelta
    reminders: tuple[float, ...]
    escalate_after: timedelta
    daily_progress: bool = False
    working_time: bool = False


@dataclass(frozen=True, slots=True)
class QuietHours:
    start: time
    end: time

    def holds(self, at: datetime, zone: ZoneInfo) -> bool:
        """Is `at` inside quiet hours (which may span midnight)?"""
        local = at.astimezone(zone).time()
        if self.start <= self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end

    def end_after(self, at: datetime, zone: ZoneInfo) -> datetime:
        """The end of the quiet period `at` falls in; `at` itself when it is not quiet."""
        if not self.holds(at, zone):
            return at
        local = at.astimezone(zone)
        end = local.replace(hour=self.end.hour, minute=self.end.minute, second=0, microsecond=0)
        if end <= local:
            end += timedelta(days=1)
        return end.astimezone(at.tzinfo)


def urgent(risk: str) -> bool:
    """Urgent notices go out during quiet hours: those about major-risk (重大) cases."""
    return risk == "major"


@dataclass(frozen=True, slots=True)
class Policy:
    risk: dict[str, Rule]
    categories: dict[str, dict[str, Rule]] = field(default_factory=dict)
    quiet: QuietHours | None = None
    hours: WorkingHours = field(default_factory=WorkingHours)
    followup_after: timedelta = timedelta(days=3)
    followup_expires: timedelta = timedelta(days=7)
    supervision_time: time = time(9, 0)
    digest_time: time = time(18, 0)

    def rule(self, risk: str, category: str) -> Rule:
        return self.categories.get(category, {}).get(risk) or self.risk[risk]

    def reachable(self, at: datetime, zone: ZoneInfo, *, urgent: bool) -> datetime:
        """When a notice written at `at` can reach a person: at once when it is urgent or
        outside quiet hours, else when quiet hours end (the sender holds it until then)."""
        if urgent or self.quiet is None:
            return at
        return self.quiet.end_after(at, zone)

    def deadline(self, start: datetime, window: timedelta, rule: Rule, zone: ZoneInfo) -> datetime:
        return add_time(start, window, zone, self.hours if rule.working_time else None)

    @classmethod
    def load(cls, path: Path | None = None) -> Policy:
        """Read and validate a policy file (default ``dispatch/data/sla.yaml``); every problem
        raises one :class:`DataFileError` (a ValueError), a line each, as ``"file: path:
        message"``."""
        path = path or DEFAULT_POLICY
        return parse_model(_PolicyFile, read_text(path), str(path)).policy()

    @classmethod
    def parse(cls, document: Any) -> Policy:
        """An already parsed policy document; problems raise :class:`DataFileError`."""
        model, found = validate(_PolicyFile, document)
        if model is None:
            raise DataFileError(located(_PolicyFile, found))
        return model.policy()


# -- the policy file -----------------------------------------------------------------------------


def _reminders(value: object) -> tuple[float, ...]:
    if not isinstance(value, list) or not all(
        isinstance(r, int | float) and 0 < r < 1 for r in value
    ):
        raise ValueError("a list of fractions between 0 and 1")
    return tuple(sorted(float(r) for r in value))


def _quiet_hours(value: object) -> QuietHours:
    start, _, end = str(value).partition("-")
    return QuietHours(_clock(start), _clock(end))


def _working_hours(value: object) -> WorkingHours:
    return WorkingHours.parse(str(value))


def _unset_if_empty(value: object) -> object:
    """An empty value (``quiet_hours:`` with nothing, or "") leaves the default in place."""
    if not value:
        raise PydanticUseDefault()
    return value


Duration = Annotated[timedelta, PlainValidator(_duration)]
Clock = Annotated[time, PlainValidator(_clock)]
Reminders = Annotated[tuple[float, ...], PlainValidator(_reminders)]
Flag = Annotated[bool, PlainValidator(bool)]  # any value, read as true or false


class _Rule(DataModel):
    accept: Duration
    resolve: Duration
    escalate_after: Duration
    reminders: Reminders = (0.5, 0.9)
    daily_progress: Flag = False
    working_time: Flag = False

    def rule(self) -> Rule:
        return Rule(**dict(self))


class _Override(DataModel):
    """A category's changes to a risk level's rule: only the keys given."""

    accept: Duration | None = None
    resolve: Duration | None = None
    escalate_after: Duration | None = None
    reminders: Reminders | None = None
    daily_progress: Flag | None = None
    working_time: Flag | None = None

    def over(self, base: Rule) -> Rule:
        return replace(base, **{k: v for k, v in self if v is not None})


class _RiskRules(DataModel):
    general: _Rule
    significant: _Rule
    major: _Rule


class _RiskOverrides(DataModel):
    general: _Override | None = None
    significant: _Override | None = None
    major: _Override | None = None


class _PolicyFile(DataModel):
    quiet_hours: Annotated[
        QuietHours | None, PlainValidator(_quiet_hours), BeforeValidator(_unset_if_empty)
    ] = None
    working_hours: Annotated[
        WorkingHours, PlainValidator(_working_hours), BeforeValidator(_unset_if_empty)
    ] = WorkingHours()
    followup_after: Duration = timedelta(days=3)
    followup_expires: Duration = timedelta(days=7)
    supervision_time: Clock = time(9, 0)
    digest_time: Clock = time(18, 0)
    risk: _RiskRules
    categories: Annotated[
        dict[Category, _RiskOverrides],
        BeforeValidator(_unset_if_empty),
    ] = Field(default_factory=dict)

    def policy(self) -> Policy:
        risk = {name: getattr(self.risk, name).rule() for name in RISKS}
        categories = {
            category: {
                name: override.over(risk[name])
                for name in RISKS
                if (override := getattr(overrides, name)) is not None
            }
            for category, overrides in self.categories.items()
        }
        return Policy(
            risk=risk,
            categories=categories,
            quiet=self.quiet_hours,
            hours=self.working_hours,
            followup_after=self.followup_after,
            followup_expires=self.followup_expires,
            supervision_time=self.supervision_time,
            digest_time=self.digest_time,
        )
