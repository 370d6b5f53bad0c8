"""Working-time arithmetic for SLA deadlines.

A deadline may be counted in working time: only China's working days (statutory holidays
excluded, adjusted working days — 调休上班, a Saturday or Sunday worked in exchange — included)
and, within those days, only the office's working hours in the centre's local time zone.

Working days come from the `chinese-calendar` package, which knows each year's State Council
holiday notice only up to the year of its release. For a year it does not know, Monday to
Friday count as working days and a WARNING is logged once for that year.

Working periods are half-open, [start, end): 18:00 is not a working instant, 08:30 is. Nothing
here reads the wall clock; every instant is passed in and must be timezone-aware.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import chinese_calendar

logger = logging.getLogger(__name__)

_PERIOD = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")
_ONE_DAY = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class WorkingHours:
    """The daily working periods, in local time, in order and not overlapping."""

    periods: tuple[tuple[time, time], ...] = (
        (time(8, 30), time(12, 0)),
        (time(14, 30), time(18, 0)),
    )

    def __post_init__(self) -> None:
        if not self.periods:
            raise ValueError("working hours need at least one period")
        previous_end: time | None = None
        for start, end in self.periods:
            label = f"{start:%H:%M}-{end:%H:%M}"
            if start.tzinfo is not None or end.tzinfo is not None:
                raise ValueError(f"working period {label}: use local times without a time zone")
            if end <= start:
                raise ValueError(f"working period {label}: end must be after start")
            if previous_end is not None and start < previous_end:
                raise ValueError(
                    f"working period {label} overlaps or precedes the one ending at "
                    f"{previous_end:%H:%M}; list periods in order without overlaps"
                )
            previous_end = end

    @classmethod
    def parse(cls, spec: str) -> WorkingHours:
        """Parse "08:30-12:00,14:30-18:00" (comma-separated HH:MM-HH:MM periods, in order)."""
        if not spec or not spec.strip():
            raise ValueError("working hours are empty; expected e.g. '08:30-12:00,14:30-18:00'")
        periods: list[tuple[time, time]] = []
        for part in spec.split(","):
            match = _PERIOD.match(part)
            if match is None:
                raise ValueError(
                    f"bad working period {part.strip()!r}; expected HH:MM-HH:MM, "
                    "e.g. '08:30-12:00,14:30-18:00'"
                )
            h1, m1, h2, m2 = (int(g) for g in match.groups())
            for hour, minute in ((h1, m1), (h2, m2)):
                if hour > 23 or minute > 59:
                    raise ValueError(
                        f"bad working period {part.strip()!r}: "
                        f"{hour:02d}:{minute:02d} is not a time of day (00:00-23:59)"
                    )
            periods.append((time(h1, m1), time(h2, m2)))
        return cls(tuple(periods))


_warned_years: set[int] = set()
_warned_lock = threading.Lock()


@lru_cache(maxsize=8192)
def _calendar_workday(day: date) -> bool | None:
    """The package's answer, or None for a year it has no data for (cached: the package
    scans its whole table on every call)."""
    try:
        return bool(chinese_calendar.is_workday(day))
    except NotImplementedError:
        return None


def is_working_day(day: date) -> bool:
    """Whether `day` is a working day in mainland China (调休 working weekends included)."""
    if isinstance(day, datetime):
        day = day.date()
    known = _calendar_workday(day)
    if known is not None:
        return known
    with _warned_lock:
        first = day.year not in _warned_years
        _warned_years.add(day.year)
    if first:
        logger.warning("no holiday data for %d; counting weekends only", day.year)
    return day.weekday() < 5


def _require_aware(name: str, value: datetime) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime, got {value!r}")


def _periods_from(
    day: date, zone: ZoneInfo, hours: WorkingHours
) -> Iterator[tuple[datetime, datetime]]:
    """The working periods, as UTC instants, of working days from `day` on, in order."""
    while True:
        if is_working_day(day):
            for start, end in hours.periods:
                utc_start = datetime.combine(day, start, tzinfo=zone).astimezone(UTC)
                utc_end = datetime.combine(day, end, tzinfo=zone).astimezone(UTC)
                if utc_end > utc_start:  # a period swallowed by a DST change has no length
                    yield utc_start, utc_end
        day += _ONE_DAY


def add_working_time(
    start: datetime, duration: timedelta, zone: ZoneInfo, hours: WorkingHours
) -> datetime:
    """The instant (aware, UTC) after `duration` of working time counted from `start`.

    Outside working time the clock starts at the next working period; a zero duration gives
    the next working instant at or after `start`. Ending exactly at the close of a period
    gives that close (Friday 16:00 + 2 h = Friday 18:00), not the next opening.
    """
    _require_aware("start", start)
    if duration < timedelta(0):
        raise ValueError(f"duration must not be negative, got {duration}")
    start = start.astimezone(UTC)
    remaining = duration
    for period_start, period_end in _periods_from(start.astimezone(zone).date(), zone, hours):
        if period_end <= start:
            continue
        begin = max(period_start, start)
        available = period_end - begin
        if remaining <= available:
            return begin + remaining
        remaining -= available
    raise AssertionError("unreachable: working periods never run out")  # pragma: no cover


def working_time_between(
    start: datetime, end: datetime, zone: ZoneInfo, hours: WorkingHours
) -> timedelta:
    """The working time elapsed from `start` to `end` (zero if `end` is not after `start`)."""
    _require_aware("start", start)
    _require_aware("end", end)
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    total = timedelta(0)
    if end <= start:
        return total
    for period_start, period_end in _periods_from(start.astimezone(zone).date(), zone, hours):
        if period_start >= end:
            break
        overlap = min(period_end, end) - max(period_start, start)
        if overlap > timedelta(0):
            total += overlap
    return total


def add_time(
    start: datetime, duration: timedelta, zone: ZoneInfo, hours: WorkingHours | None
) -> datetime:
    """`start` + `duration`: wall-clock time when `hours` is None, else working time (UTC)."""
    if hours is None:
        _require_aware("start", start)
        return start.astimezone(UTC) + duration  # elapsed time, whatever the zone's DST does
    return add_working_time(start, duration, zone, hours)
