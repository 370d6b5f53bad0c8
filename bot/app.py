"""The composition root: every long-lived resource is built here, once, and passed in."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

from bot.settings import Settings
from bot.wallclock import SystemClock
from dialogs.base import Services
from dispatch.classify import Classifier
from dispatch.clock import Clock
from storage.database import create_engine, session_factory


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
        clock=clock or SystemClock(),
        classifier=classifier or Classifier.load(),
        zone=settings.zone,
        default_locale=settings.default_locale,
    )
    return App(settings, engine, services)
