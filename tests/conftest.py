"""Shared fixtures: a real database (SQLite file, or PostgreSQL when PINGAN_TEST_DATABASE_URL
is set) migrated to head before each test and back to base after, the demo organisation,
a frozen clock, and helpers to play people."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.app import build_domain
from dialogs.base import Answer, Services
from dialogs.router import handle
from dispatch.classify import Classifier
from dispatch.clock import FrozenClock
from dispatch.context import Domain
from dispatch.messages import Inbound, Location
from dispatch.org import import_org
from dispatch.orgfile import DEMO_ORG_PATH, load_org_file
from dispatch.people import create_invite
from locales import text as render
from storage.database import create_engine, session_factory
from storage.migrate import downgrade, upgrade

ZONE = ZoneInfo("Asia/Shanghai")
# A village grid, its village mediation committee and centre, in 景洪市 允景洪街道 曼听社区.
GRID = "532801001001G01"
VILLAGE_MEDIATION = "U532801001001-TJ"
VILLAGE_CENTRE = "U532801001001-ZZ"
TOWNSHIP_CENTRE = "U532801001-ZZ"
TOWNSHIP_MEDIATION = "U532801001-TJ"
COUNTY_CENTRE = "U532801-ZZ"
COUNTY_LABOR = "U532801-RS"


# Every database test runs on SQLite, and on PostgreSQL too when CI (or you) names one.
BACKENDS = ["sqlite"] + (["postgresql"] if os.environ.get("PINGAN_TEST_DATABASE_URL") else [])


def database_url(backend: str, tmp_path: Path) -> str:
    if backend == "postgresql":
        return os.environ["PINGAN_TEST_DATABASE_URL"]
    return f"sqlite+aiosqlite:///{tmp_path}/test.db"


@pytest.fixture(scope="session")
def classifier() -> Classifier:
    return Classifier.load()


@pytest.fixture(params=BACKENDS)
async def engine(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url(request.param, tmp_path))
    if engine.dialect.name == "postgresql":
        # A test that died half-way must not poison the next: start from an empty schema.
        async with engine.begin() as conn:
            await conn.execute(text("DROP SCHEMA public CASCADE"))
            await conn.execute(text("CREATE SCHEMA public"))
    await upgrade(engine)
    yield engine
    await downgrade(engine)
    await engine.dispose()


@pytest.fixture
def clock() -> FrozenClock:
    # A Tuesday morning in 西双版纳 (01:30 UTC = 09:30 local).
    return FrozenClock(datetime(2026, 11, 24, 1, 30, tzinfo=UTC))


@pytest.fixture
def domain(clock: FrozenClock) -> Domain:
    """The shipped SLA policy and points rules, notices and charts as in production."""
    return build_domain(clock, ZONE)


@pytest.fixture
async def services(engine: AsyncEngine, domain: Domain, classifier: Classifier) -> Services:
    sessions = session_factory(engine)
    async with sessions() as session, session.begin():
        await import_org(session, load_org_file(DEMO_ORG_PATH))
    return Services(sessions=sessions, domain=domain, classifier=classifier)


@dataclass
class Person:
    """Someone talking to the bot through the channel-neutral entry point."""

    services: Services
    user_ref: str
    channel: str = "console"
    language: str = "zh-hans"
    last: Answer | None = None

    def _inbound(self, **kw: object) -> Inbound:
        return Inbound(
            channel=self.channel,
            user_ref=self.user_ref,
            chat_ref=self.user_ref,
            display_name=self.user_ref,
            language=self.language,
            **kw,  # type: ignore[arg-type]
        )

    async def says(self, words: str, reply_to: str | None = None) -> Answer:
        self.last = await handle(
            self.services, self._inbound(kind="text", text=words, reply_to=reply_to)
        )
        return self.last

    async def taps(self, label_or_payload: str) -> Answer:
        """Tap a button of the last answer, by its rendered label (or raw payload)."""
        assert self.last is not None, "nothing to tap yet"
        payload = None
        for reply in reversed(self.last.replies):
            for row in reply.buttons:
                for button in row:
                    label = render(button.text_key, self.last.locale, button.params)
                    if label_or_payload in (label, button.payload) or label_or_payload in label:
                        payload = button.payload
                        break
                if payload:
                    break
            if payload:
                break
        assert payload is not None, f"no button {label_or_payload!r} in {self.texts()}"
        self.last = await handle(self.services, self._inbound(kind="choice", choice=payload))
        return self.last

    async def presses(self, payload: str) -> Answer:
        """Press a button by its payload (one on a notice, or a forged one)."""
        self.last = await handle(self.services, self._inbound(kind="choice", choice=payload))
        return self.last

    async def sends(self, kind: str, **kw: object) -> Answer:
        if kind == "location":
            at = kw.pop("at")
            assert isinstance(at, tuple)
            kw["location"] = Location(float(at[0]), float(at[1]))
        self.last = await handle(self.services, self._inbound(kind=kind, **kw))
        return self.last

    @property
    def id(self) -> int:
        """The person's id in the database (known once they have written)."""
        assert self.last is not None and self.last.person_id is not None, "has not written yet"
        return self.last.person_id

    def texts(self) -> list[str]:
        assert self.last is not None
        return [render(r.text_key, self.last.locale, r.params) for r in self.last.replies]

    def text(self) -> str:
        return "\n".join(self.texts())

    def said(self) -> list[str]:
        """The message keys of the last answer, in order."""
        assert self.last is not None
        return [r.text_key for r in self.last.replies]


@pytest.fixture
def person(services: Services) -> Iterator[type[Person]]:
    def make(user_ref: str, **kw: object) -> Person:
        return Person(services, user_ref, **kw)  # type: ignore[arg-type]

    yield make  # type: ignore[misc]


async def make_staff(
    services: Services, user_ref: str, role: str, unit: str, region: str | None = None
) -> Person:
    async with services.sessions() as session, session.begin():
        invite = await create_invite(session, services.clock, role, unit, user_ref, region)
    staff = Person(services, user_ref)
    answer = await staff.says(f"/bind {invite.code}")
    assert answer.replies[0].text_key == "bind.done", staff.texts()
    return staff
