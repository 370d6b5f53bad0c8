"""The composition root: every long-lived resource is built here, once, and passed in."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncEngine

from bot.settings import Settings
from bot.wallclock import SystemClock
from dialogs.base import Services
from dispatch import notifications
from dispatch.classify import Classifier
from dispatch.clock import Clock
from dispatch.context import DailyPoint, Domain
from dispatch.points import PointRules, default_rules
from dispatch.policy import Policy, default_policy
from storage.database import create_engine, session_factory


class MatplotlibCharts:
    """dispatch.context.ChartRenderer drawn by handlers.charts.

    matplotlib costs 40 MB and most of a second to import: only a process that draws a
    chart pays for it, when it first draws one.
    """

    def daily_chart(
        self,
        title: str,
        days: Sequence[DailyPoint],
        open_by_type: Sequence[tuple[str, int]],
        *,
        new_label: str,
        resolved_label: str,
        open_title: str,
    ) -> bytes:
        from handlers.charts import render_daily_chart

        return render_daily_chart(
            title,
            days,
            open_by_type,
            new_label=new_label,
            resolved_label=resolved_label,
            open_title=open_title,
        )


def build_domain(
    clock: Clock, zone: ZoneInfo, *, policy: Policy | None = None, rules: PointRules | None = None
) -> Domain:
    """The domain's long-lived parts: the shipped SLA policy and points rules unless given,
    notices through dispatch.notifications, charts drawn with matplotlib."""
    return Domain(
        clock=clock,
        zone=zone,
        policy=policy if policy is not None else default_policy(),
        rules=rules if rules is not None else default_rules(),
        notify=notifications.handle,
        charts=MatplotlibCharts(),
    )


@dataclass(slots=True)
class App:
    settings: Settings
    engine: AsyncEngine
    services: Services

    async def close(self) -> None:
        await self.engine.dispose()


def build(
    settings: Settings, *, clock: Clock | None = None, classifier: Classifier | None = None
) -> App:
    engine = create_engine(settings.database_url)
    services = Services(
        sessions=session_factory(engine),
        domain=build_domain(clock or SystemClock(), settings.zone),
        classifier=classifier or Classifier.load(),
        default_locale=settings.default_locale,
    )
    return App(settings, engine, services)
