"""What a domain operation is given: the long-lived `Domain` and the per-unit-of-work `Ctx`.

The composition root (bot/, and the tests' fixtures) builds one `Domain` at start-up with
the clock, the zone, the SLA policy, the points rules and the retention policy it loaded,
the notification sink and the chart renderer; a handled message or a sweep step wraps it
with its own session in a `Ctx`. Nothing in dispatch/ loads a policy or rules file on its own.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Protocol
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from dispatch.clock import Clock
from dispatch.policy import Policy

if TYPE_CHECKING:
    from dispatch.events import Event
    from dispatch.grids import GridModel
    from dispatch.keyperson_policy import KeyPersonPolicy
    from dispatch.points import PointRules
    from dispatch.retention import RetentionPolicy


@dataclass(frozen=True, slots=True)
class DailyPoint:
    """One day of the leaders' chart: cases reported and cases resolved."""

    day: date
    new: int
    resolved: int


@dataclass(frozen=True, slots=True)
class DailyChart:
    """What the leaders' daily-report chart shows; every label already localised."""

    title: str
    days: Sequence[DailyPoint]  # drawn in this order, normally the last 14, oldest first
    open_by_type: Sequence[tuple[str, int]]  # (category label, open cases), top to bottom
    new_label: str
    resolved_label: str
    open_title: str
    # Written across a panel with nothing to draw, so an empty panel reads as news, not a fault.
    no_days_label: str = ""
    no_open_label: str = ""


class ChartRenderer(Protocol):
    """Draws the leaders' daily-report chart."""

    def daily_chart(self, chart: DailyChart) -> bytes:
        """PNG bytes."""
        ...


# Turns what happened into notices, in the same unit of work (dispatch.notifications.handle).
Notify = Callable[["Ctx", "Event"], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Domain:
    """Long-lived: built once by the composition root."""

    clock: Clock
    zone: ZoneInfo
    policy: Policy
    rules: PointRules
    notify: Notify
    charts: ChartRenderer
    retention: RetentionPolicy  # dispatch/data/retention.yaml, applied by the retention job
    keypersons: KeyPersonPolicy  # dispatch/data/keypersons.yaml: visits, ladder, risk words
    grids: GridModel  # dispatch/data/grids.yaml: indicators' weights, thresholds, quotas

    def within(self, session: AsyncSession) -> Ctx:
        return Ctx(self, session)


class WithDomain:
    """Reads the long-lived `Domain`'s clock, zone, policy and rules through, for whatever
    carries one: a `Ctx`, the dialogs' `Services`, the jobs' `JobContext`."""

    __slots__ = ()
    domain: Domain

    @property
    def clock(self) -> Clock:
        return self.domain.clock

    @property
    def zone(self) -> ZoneInfo:
        return self.domain.zone

    @property
    def policy(self) -> Policy:
        return self.domain.policy

    @property
    def rules(self) -> PointRules:
        return self.domain.rules


@dataclass(frozen=True, slots=True)
class Ctx(WithDomain):
    """One unit of work: the domain and the session that commits (or not) as a whole."""

    domain: Domain
    session: AsyncSession

    async def publish(self, event: Event) -> None:
        """Tell whoever must hear of `event`: its notices join this unit of work."""
        await self.domain.notify(self, event)
