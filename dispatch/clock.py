"""The one source of "now" for domain code.

Every deadline, case number year and digest day is computed from a Clock handed in at
start-up, so tests and `pingan jobs run NAME --at ISO` can move time.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo


class Clock(Protocol):
    def now(self) -> datetime:
        """The current instant, timezone-aware, in UTC."""
        ...


class FrozenClock:
    """A clock that only moves when told to (tests, replays)."""

    def __init__(self, at: datetime) -> None:
        if at.tzinfo is None:
            raise ValueError("FrozenClock needs an aware datetime")
        self._at = at.astimezone(UTC)

    def now(self) -> datetime:
        return self._at

    def set(self, at: datetime) -> None:
        self._at = at.astimezone(UTC)

    def advance(self, delta: timedelta) -> None:
        self._at += delta


def local(at: datetime, zone: ZoneInfo) -> datetime:
    """An instant shown in the centre's zone (times are stored in UTC)."""
    return at.astimezone(zone)


def as_utc(at: datetime) -> datetime:
    """Normalise a datetime read back from the database.

    SQLite returns naive datetimes for UTC columns; PostgreSQL returns aware ones.
    """
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
