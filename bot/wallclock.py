"""The wall clock, for the running process only: the composition root hands it in, and
domain code never reads time any other way (tests and `pingan jobs run --at` use FrozenClock)."""

from __future__ import annotations

from datetime import UTC, datetime


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)  # noqa: TID251 - the only place that reads the wall clock
