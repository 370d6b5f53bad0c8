"""Per-person inbound limits: how fast anyone may write, and how many reports a citizen
files before the centre looks at the next one first.

Messages (`MessageLimiter`): a token bucket per person (channel and platform id), kept in
this process's memory, checked before the message touches the database, so a flood costs
a dictionary look-up per message and holds nobody else up. A person past the limit is told
once ("too fast, please wait a moment") and then dropped silently, at most one such answer a
minute: a flood must not become a flood of replies. Staff get STAFF_FACTOR times the rate
(a dispatcher working through offers taps quickly); the limiter learns who is staff from the
messages it lets through. With several web workers each counts its own share, so a person
may get up to that many times the limit through: the message limit protects a process's
time, not a count that must be exact.

Reports (`reports_filed`): counted in the database (the cases a citizen filed in the last 24
hours, a rolling window: no midnight at which the count resets for a burst), so the count
holds across workers and restarts. The report past the limit is still filed and held for the
centre's dispatcher (dispatch.cases.file_report, `held`).

The message bucket runs on a monotonic clock, not the domain's `Clock`: a flood is a matter
of real seconds, and a test's frozen clock must not make every message after the twentieth
look like one.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Case

WINDOW = 60.0  # seconds: the rate is per minute, and at most one warning a minute
STAFF_FACTOR = 3
REPORT_WINDOW = timedelta(hours=24)
MAX_TRACKED = 50_000  # people remembered at once; idle ones are forgotten first


class Verdict(enum.Enum):
    HANDLE = "handle"
    WARN = "warn"  # past the limit: answer once that they are too fast, handle nothing
    DROP = "drop"  # past the limit and told already: no answer at all


@dataclass(slots=True)
class _Bucket:
    tokens: float
    at: float
    staff: bool = False
    warned_at: float | None = None


class MessageLimiter:
    """Messages per minute per person; `per_minute=0` lets everything through."""

    def __init__(self, per_minute: int = 0, *, now: Callable[[], float] = time.monotonic):
        self.per_minute = per_minute
        self._now = now
        self._buckets: dict[str, _Bucket] = {}

    def _capacity(self, bucket: _Bucket) -> float:
        return float(self.per_minute * (STAFF_FACTOR if bucket.staff else 1))

    def admit(self, who: str) -> Verdict:
        """Take one message from `who`'s allowance."""
        if self.per_minute <= 0:
            return Verdict.HANDLE
        now = self._now()
        bucket = self._buckets.get(who)
        if bucket is None:
            if len(self._buckets) >= MAX_TRACKED:
                self._forget_idle(now)
            bucket = self._buckets[who] = _Bucket(float(self.per_minute), now)
        capacity = self._capacity(bucket)
        bucket.tokens = min(capacity, bucket.tokens + (now - bucket.at) * capacity / WINDOW)
        bucket.at = now
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return Verdict.HANDLE
        if bucket.warned_at is None or now - bucket.warned_at >= WINDOW:
            bucket.warned_at = now
            return Verdict.WARN
        return Verdict.DROP

    def learn(self, who: str, staff: bool) -> None:
        """Whether `who` is staff (known once a message of theirs was handled)."""
        bucket = self._buckets.get(who)
        if bucket is not None and bucket.staff != staff:
            bucket.staff = staff
            bucket.tokens = min(bucket.tokens, self._capacity(bucket))

    def _forget_idle(self, now: float) -> None:
        # A bucket idle for a whole window is full again: forgetting it changes nothing.
        for who in [w for w, b in self._buckets.items() if now - b.at >= WINDOW]:
            del self._buckets[who]
        while len(self._buckets) >= MAX_TRACKED:
            del self._buckets[next(iter(self._buckets))]


async def reports_filed(session: AsyncSession, person_id: int, now: datetime) -> int:
    """Reports `person_id` filed as a citizen in the REPORT_WINDOW before `now`."""
    count = await session.scalar(
        select(func.count())
        .select_from(Case)
        .where(
            Case.reporter_id == person_id,
            Case.source == "citizen",
            Case.created_at > now - REPORT_WINDOW,
        )
    )
    return int(count or 0)
