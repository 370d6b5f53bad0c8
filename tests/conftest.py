"""Shared fixtures: a real database (SQLite file, or PostgreSQL when PINGAN_TEST_DATABASE_URL
is set) at the head migration, with the demo organisation for tests that use `services`,
a frozen clock, and helpers to play people.

Each backend is migrated once per test session (tests/test_migrations.py proves upgrade and
downgrade); every test still starts from a pristine database: on SQLite a copy of a prepared
file, on PostgreSQL the same tables truncated and refilled from a snapshot."""

from __future__ import annotations

import os
import shutil
import sqlite3
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import insert, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from bot.app import build_domain
from dialogs.base import Answer, Services
from dialogs.router import handle
from dispatch import outbox
from dispatch.classify import Classifier
from dispatch.clock import FrozenClock
from dispatch.context import Domain
from dispatch.messages import Inbound, Location, Reply
from dispatch.people import create_invite
from locales import text as render
from storage.database import create_engine, session_factory
from storage.migrate import head_revision, upgrade
from storage.models import Base, Case, CaseEvent
from tests.schema import empty_public_schema, import_demo_org

ZONE = ZoneInfo("Asia/Shanghai")
# A village grid, its village mediation committee and centre, in 景洪市 允景洪街道 曼听社区.
GRID = "532801001001G01"
VILLAGE_MEDIATION = "U532801001001-TJ"
VILLAGE_CENTRE = "U532801001001-ZZ"
TOWNSHIP_CENTRE = "U532801001-ZZ"
TOWNSHIP_MEDIATION = "U532801001-TJ"
COUNTY_CENTRE = "U532801-ZZ"
COUNTY_LABOR = "U532801-RS"


def _database_of_this_worker() -> None:
    """Under pytest-xdist (`-n 2`) each worker process gets a PostgreSQL database of its own,
    named after the one given plus the worker's id, created empty: workers truncate and refill
    their tables per test, so two of them must never share one."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    given = os.environ.get("PINGAN_TEST_DATABASE_URL")
    if not worker or not given:
        return
    import asyncio

    import asyncpg
    from sqlalchemy.engine import make_url

    url = make_url(given)
    mine = f"{url.database}_{worker}"

    async def create() -> None:
        server = await asyncpg.connect(
            host=url.host, port=url.port or 5432, user=url.username, database=url.database
        )
        try:
            await server.execute(f'DROP DATABASE IF EXISTS "{mine}" WITH (FORCE)')
            await server.execute(f'CREATE DATABASE "{mine}"')
        finally:
            await server.close()

    asyncio.run(create())
    os.environ["PINGAN_TEST_DATABASE_URL"] = url.set(database=mine).render_as_string(
        hide_password=False
    )


_database_of_this_worker()

# Every database test runs on SQLite, and on PostgreSQL too when CI (or you) names one.
# Late evening, the small hours and mid-afternoon: two quiet hours and a working one, for
# what must arrive whatever the hour (parametrises `local_time`).
AT_ANY_HOUR = pytest.mark.parametrize("local_time", [time(23, 0), time(3, 0), time(15, 0)], ids=str)

BACKENDS = ["sqlite"] + (["postgresql"] if os.environ.get("PINGAN_TEST_DATABASE_URL") else [])


def database_url(backend: str, tmp_path: Path) -> str:
    if backend == "postgresql":
        return os.environ["PINGAN_TEST_DATABASE_URL"]
    return f"sqlite+aiosqlite:///{tmp_path}/test.db"


@pytest.fixture(scope="session")
def classifier() -> Classifier:
    return Classifier.load()


Rows = dict[str, list[dict[str, object]]]


def _emptying() -> str:
    """One round trip that empties every table (children first) and puts every sequence back
    to its start, as TRUNCATE ... RESTART IDENTITY would, but several times faster on tables
    this small."""
    deletes = "".join(
        f'    DELETE FROM "{table.name}";\n' for table in reversed(Base.metadata.sorted_tables)
    )
    return (
        "DO $$\nDECLARE s record;\nBEGIN\n"
        + deletes
        + "    FOR s IN SELECT sequencename FROM pg_sequences WHERE schemaname = 'public' LOOP\n"
        "        EXECUTE format('ALTER SEQUENCE %I RESTART', s.sequencename);\n"
        "    END LOOP;\n"
        "END $$"
    )


class _NotAtHead(Exception):
    pass


@dataclass(frozen=True)
class Snapshot:
    """Every table's rows and every used sequence's position on PostgreSQL."""

    rows: Rows
    sequences: dict[str, int]

    @classmethod
    async def take(cls, conn: AsyncConnection) -> Snapshot:
        # Rows come back in the order they went in (a fresh heap), so parents before children.
        rows = {
            table.name: [dict(row._mapping) for row in await conn.execute(select(table))]
            for table in Base.metadata.sorted_tables
        }
        used = await conn.execute(
            text(
                "SELECT sequencename, last_value FROM pg_sequences "
                "WHERE schemaname = 'public' AND last_value IS NOT NULL"
            )
        )
        return cls(rows, {name: value for name, value in used})

    async def restore(self, conn: AsyncConnection) -> None:
        """Raises _NotAtHead (or a database error) when the schema is not the migrated one."""
        found = (await conn.execute(text("SELECT version_num FROM alembic_version"))).all()
        if [row[0] for row in found] != [head_revision()]:
            raise _NotAtHead(found)
        await conn.execute(text(_emptying()))
        for name, value in self.sequences.items():
            await conn.execute(text("SELECT setval(:name, :value)"), {"name": name, "value": value})
        for table in Base.metadata.sorted_tables:
            if rows := self.rows[table.name]:
                # One statement: foreign keys are checked at its end, whatever the order.
                await conn.execute(insert(table).values(rows))


@dataclass
class Templates:
    """What a test starts from, built on first use in the session: "empty" is migrated to head,
    "demo" is that plus the demo organisation."""

    directory: Path
    sqlite_files: dict[str, Path] = field(default_factory=dict)
    postgresql_snapshots: dict[str, Snapshot] = field(default_factory=dict)

    async def sqlite(self, kind: str) -> Path:
        if kind not in self.sqlite_files:
            path = self.directory / f"{kind}.db"
            if kind == "empty":
                engine = create_engine(f"sqlite+aiosqlite:///{path}")
                await upgrade(engine)
            else:
                shutil.copyfile(await self.sqlite("empty"), path)
                engine = create_engine(f"sqlite+aiosqlite:///{path}")
                await import_demo_org(engine)
            await engine.dispose()
            # Fold the write-ahead log into the file, so that copying the file alone is whole.
            with sqlite3.connect(path) as conn:
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            conn.close()
            wal = path.with_name(path.name + "-wal")
            assert not wal.exists() or wal.stat().st_size == 0, f"{wal} was not checkpointed"
            self.sqlite_files[kind] = path
        return self.sqlite_files[kind]

    async def postgresql(self, engine: AsyncEngine, kind: str) -> None:
        """Make the database exactly what a fresh migration (and import) would give."""
        if not self.postgresql_snapshots:
            await empty_public_schema(engine)
            await upgrade(engine)
            async with engine.begin() as conn:
                self.postgresql_snapshots["empty"] = await Snapshot.take(conn)
            await import_demo_org(engine)
            async with engine.begin() as conn:
                self.postgresql_snapshots["demo"] = await Snapshot.take(conn)
        try:
            async with engine.begin() as conn:
                await self.postgresql_snapshots[kind].restore(conn)
        except (DBAPIError, _NotAtHead):
            # A test downgraded, or dropped the schema (test_cli): build it again.
            await empty_public_schema(engine)
            await upgrade(engine)
            async with engine.begin() as conn:
                await self.postgresql_snapshots[kind].restore(conn)


@pytest.fixture(scope="session")
def templates(tmp_path_factory: pytest.TempPathFactory) -> Templates:
    return Templates(tmp_path_factory.mktemp("templates"))


@pytest.fixture(params=BACKENDS)
async def engine(
    request: pytest.FixtureRequest, tmp_path: Path, templates: Templates
) -> AsyncIterator[AsyncEngine]:
    """A database at head; with the demo organisation when the test also uses `services`
    (which always came with it), empty otherwise."""
    kind = "demo" if "services" in request.fixturenames else "empty"
    url = database_url(request.param, tmp_path)
    if request.param == "sqlite":
        shutil.copyfile(await templates.sqlite(kind), tmp_path / "test.db")
    engine = create_engine(url)
    if request.param == "postgresql":
        await templates.postgresql(engine, kind)
    yield engine
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
    # The `engine` fixture brought the demo organisation along.
    return Services(sessions=session_factory(engine), domain=domain, classifier=classifier)


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


async def case_of(services: Services, number: str) -> Case:
    """The case with that number, which must exist."""
    async with services.sessions() as session:
        case = await session.scalar(select(Case).where(Case.number == number))
        assert case is not None
        return case


async def event_kinds(session: AsyncSession, case_id: int) -> list[str]:
    """The kinds of a case's events, in the order they were recorded."""
    query = select(CaseEvent.kind).where(CaseEvent.case_id == case_id).order_by(CaseEvent.id)
    return list((await session.scalars(query)).all())


async def queued_notice(services: Services, person_id: int, reply: Reply, **kw: Any) -> int:
    """A notice put in the outbox in its own transaction (``kw`` as ``outbox.enqueue`` takes
    them); its id."""
    async with services.sessions() as session, session.begin():
        notice_id = await outbox.enqueue(session, services.clock, person_id, reply, **kw)
    assert notice_id is not None
    return notice_id


async def assigned_case(
    services: Services,
    reporter_id: int,
    *,
    number: str,
    risk: str,
    description: str,
    unit_code: str | None = None,
) -> int:
    """A neighbour case stored straight away as assigned (no dialog), for tests about what
    happens to its notices; returns its id."""
    now = services.clock.now()
    async with services.sessions() as session, session.begin():
        case = Case(
            number=number,
            status="assigned",
            source="citizen",
            category="neighbor",
            risk=risk,
            description=description,
            region_path="/",
            reporter_id=reporter_id,
            unit_code=unit_code,
            created_at=now,
            updated_at=now,
        )
        session.add(case)
        await session.flush()
        return case.id


async def answer_up_to_contact(citizen: Person, text: str, people: str = "2人") -> None:
    """A report from a grid's QR code, answered up to the contact question: the category the
    classifier offers (its best guess when unsure, 其他 when it cannot offer one; a text that
    is not a dispute is reported anyway), `people` involved, no photos."""
    await citizen.says(f"/start g_{GRID}")
    await citizen.says(text)
    if citizen.said()[-1] == "report.ask_confirm_category":
        await citizen.taps("对，是这类")
    elif citizen.said()[-1] == "report.ask_likely_category":
        assert citizen.last is not None
        await citizen.taps(citizen.last.replies[-1].buttons[0][0].payload)
    elif citizen.said()[-1] == "report.ask_pick_category":
        await citizen.taps("其他")
    elif citizen.said()[-1].startswith("report.not_dispute_"):
        await citizen.taps("仍要反映这件事")
    await citizen.taps(people)
    await citizen.taps("没有")
    await citizen.taps("完成")


async def file_report(
    citizen: Person, text: str, *, phone: str | None = None, people: str = "2人"
) -> str:
    """A report filed to the end: anonymous unless `phone` is typed in. Returns the case
    number from the receipt."""
    await answer_up_to_contact(citizen, text, people)
    assert citizen.said()[-1] == "report.ask_contact", citizen.texts()
    if phone is None:
        await citizen.taps("匿名反映")
    else:
        await citizen.says(phone)
    await citizen.taps("提交")
    assert citizen.said()[0] == "report.receipt", citizen.texts()
    assert citizen.last is not None
    return str(citizen.last.replies[0].params["number"])


async def close_as_mediated(handler: Person, case_id: int, summary: str = "双方和解") -> None:
    """The handler closes a case from the close button on its card: mediated, with
    `summary` as the outcome and a verbal agreement."""
    await handler.presses(f"c:{case_id}")
    await handler.taps("调解成功")
    await handler.says(summary)
    await handler.taps("口头协议")
    await handler.taps("确认结案")
