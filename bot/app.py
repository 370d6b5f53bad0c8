"""The composition root: every long-lived resource is built here, once, and passed in."""

from __future__ import annotations

from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncEngine

from bot.settings import Settings
from bot.wallclock import SystemClock
from dialogs.base import Services
from dispatch import notifications
from dispatch.classify import Classifier
from dispatch.clock import Clock
from dispatch.context import Domain
from dispatch.grids import GridModel, default_grid_model
from dispatch.keyperson_policy import KeyPersonPolicy, default_keyperson_policy
from dispatch.limits import MessageLimiter
from dispatch.points import PointRules, default_rules
from dispatch.policy import Policy, default_policy
from dispatch.retention import RetentionPolicy, default_retention
from handlers.charts import MatplotlibCharts
from storage.database import create_engine, session_factory


def build_domain(
    clock: Clock,
    zone: ZoneInfo,
    *,
    policy: Policy | None = None,
    rules: PointRules | None = None,
    retention: RetentionPolicy | None = None,
    keypersons: KeyPersonPolicy | None = None,
    grids: GridModel | None = None,
) -> Domain:
    """The domain's long-lived parts: the shipped SLA policy, points rules and retention
    policy unless given, notices through dispatch.notifications, charts drawn with
    matplotlib."""
    return Domain(
        clock=clock,
        zone=zone,
        policy=policy if policy is not None else default_policy(),
        rules=rules if rules is not None else default_rules(),
        notify=notifications.handle,
        charts=MatplotlibCharts(),
        retention=retention if retention is not None else default_retention(),
        keypersons=keypersons if keypersons is not None else default_keyperson_policy(),
        grids=grids if grids is not None else default_grid_model(),
    )


@dataclass(slots=True)
class App:
    settings: Settings
    engine: AsyncEngine
    services: Services

    async def close(self) -> None:
        await self.engine.dispose()


def build(
    settings: Settings,
    *,
    clock: Clock | None = None,
    classifier: Classifier | None = None,
    deferred_dictionary: bool = False,
) -> App:
    """`deferred_dictionary`: the classifier's jieba dictionary is built once
    `classifier.warm_up()` is called (by `pingan run`, after it reports ready)."""
    engine = create_engine(settings.database_url)
    services = Services(
        sessions=session_factory(engine),
        domain=build_domain(clock or SystemClock(), settings.zone),
        classifier=classifier or Classifier.load(deferred=deferred_dictionary),
        default_locale=settings.default_locale,
        limiter=MessageLimiter(settings.messages_per_minute),
        reports_per_day=settings.reports_per_day,
    )
    return App(settings, engine, services)
