"""The SLA policy: per risk (and optionally category) windows, reminders, escalation, quiet
hours and the daily times of scheduled notices. Read from `dispatch/data/sla.yaml`."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import datetime, time, timedelta
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml

from dispatch.vocab import CATEGORIES, RISKS
from dispatch.worktime import WorkingHours, add_time

DEFAULT_POLICY = (Path(__file__).parent / "data" / "sla").with_suffix(".yaml")
_DURATION = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?$")
_RULE_KEYS = {"accept", "resolve", "reminders", "escalate_after", "daily_progress", "working_time"}


@cache
def default_policy() -> Policy:
    """The shipped policy file, read once (a centre edits it and restarts)."""
    return Policy.load()


def parse_duration(value: object, where: str) -> timedelta:
    text = str(value).strip().replace(" ", "")
    match = _DURATION.match(text)
    if not text or match is None or not any(match.groups()):
        raise ValueError(f"{where}: {value!r} is not a duration like 30m, 4h, 3d or 1d12h")
    days, hours, minutes = (int(g) if g else 0 for g in match.groups())
    return timedelta(days=days, hours=hours, minutes=minutes)


def parse_clock(value: object, where: str) -> time:
    try:
        return time.fromisoformat(str(value))
    except ValueError:
        raise ValueError(f"{where}: {value!r} is not a time like 18:00") from None


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

    def deadline(self, start: datetime, window: timedelta, rule: Rule, zone: ZoneInfo) -> datetime:
        return add_time(start, window, zone, self.hours if rule.working_time else None)

    @classmethod
    def load(cls, path: Path | None = None) -> Policy:
        path = path or DEFAULT_POLICY
        try:
            document = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
            raise ValueError(f"{path}: cannot read the SLA policy: {exc}") from None
        try:
            return cls.parse(document)
        except ValueError as exc:
            raise ValueError(f"{path}: {exc}") from None

    @classmethod
    def parse(cls, document: Any) -> Policy:
        if not isinstance(document, dict):
            raise ValueError("top level: expected a mapping")
        risk_section = document.get("risk")
        if not isinstance(risk_section, dict) or set(risk_section) != set(RISKS):
            raise ValueError(f"risk: needs exactly {', '.join(RISKS)}")
        risk = {name: _rule(risk_section[name], None, f"risk.{name}") for name in RISKS}
        categories: dict[str, dict[str, Rule]] = {}
        for category, per_risk in (document.get("categories") or {}).items():
            if category not in CATEGORIES:
                raise ValueError(f"categories.{category}: unknown category")
            if not isinstance(per_risk, dict) or not set(per_risk) <= set(RISKS):
                raise ValueError(f"categories.{category}: expected risk levels as keys")
            categories[category] = {
                name: _rule(spec, risk[name], f"categories.{category}.{name}")
                for name, spec in per_risk.items()
            }
        quiet = None
        if document.get("quiet_hours"):
            start, _, end = str(document["quiet_hours"]).partition("-")
            quiet = QuietHours(parse_clock(start, "quiet_hours"), parse_clock(end, "quiet_hours"))
        hours = WorkingHours()
        if document.get("working_hours"):
            hours = WorkingHours.parse(str(document["working_hours"]))
        return cls(
            risk=risk,
            categories=categories,
            quiet=quiet,
            hours=hours,
            followup_after=parse_duration(document.get("followup_after", "3d"), "followup_after"),
            followup_expires=parse_duration(
                document.get("followup_expires", "7d"), "followup_expires"
            ),
            supervision_time=parse_clock(
                document.get("supervision_time", "09:00"), "supervision_time"
            ),
            digest_time=parse_clock(document.get("digest_time", "18:00"), "digest_time"),
        )


def _rule(spec: Any, base: Rule | None, where: str) -> Rule:
    if not isinstance(spec, dict):
        raise ValueError(f"{where}: expected a mapping")
    unknown = set(spec) - _RULE_KEYS
    if unknown:
        raise ValueError(f"{where}: unknown keys {sorted(unknown)}")
    values: dict[str, Any] = {}
    for key in ("accept", "resolve", "escalate_after"):
        if key in spec:
            values[key] = parse_duration(spec[key], f"{where}.{key}")
    if "reminders" in spec:
        reminders = spec["reminders"]
        if not isinstance(reminders, list) or not all(
            isinstance(r, int | float) and 0 < r < 1 for r in reminders
        ):
            raise ValueError(f"{where}.reminders: a list of fractions between 0 and 1")
        values["reminders"] = tuple(sorted(float(r) for r in reminders))
    for key in ("daily_progress", "working_time"):
        if key in spec:
            values[key] = bool(spec[key])
    if base is not None:
        return replace(base, **values)
    missing = {"accept", "resolve", "escalate_after"} - set(values)
    if missing:
        raise ValueError(f"{where}: missing {sorted(missing)}")
    values.setdefault("reminders", (0.5, 0.9))
    return Rule(**values)
