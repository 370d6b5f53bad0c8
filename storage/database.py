"""Engine and session factory. Built once by the composition root (bot/), never at import."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.ext.asyncio import AsyncSession as AsyncSession

DEFAULT_URL = "sqlite+aiosqlite:///./var/pingan.db"
READ_ONLY = "pingan_read_only"


def normalise_url(url: str) -> str:
    """Accept the URLs people paste (postgres://, postgresql://) and pick the async driver."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url.removeprefix("postgres://")
    parsed = make_url(url)
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+asyncpg")
    elif parsed.drivername == "sqlite":
        parsed = parsed.set(drivername="sqlite+aiosqlite")
    return parsed.render_as_string(hide_password=False)


def _sqlite_connect(dbapi_connection: Any, _record: Any, foreign_keys: bool = True) -> None:
    # We issue BEGIN ourselves (see _sqlite_begin); the driver must not.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    # WAL lets readers go on while one writer commits; busy_timeout makes a second writer
    # wait instead of failing with "database is locked" (two mediators accepting at once).
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute(f"PRAGMA foreign_keys={'ON' if foreign_keys else 'OFF'}")
    cursor.close()


def _sqlite_begin(conn: Any) -> None:
    # BEGIN IMMEDIATE takes the write lock at the start of a unit of work. With a plain
    # (deferred) BEGIN, a transaction that read before a concurrent commit fails at its
    # first write with SQLITE_BUSY, which busy_timeout cannot wait out; two mediators
    # tapping Accept at once would then get an error instead of "someone took it".
    # Read-only sessions (Sessions.read) begin deferred: in WAL mode they never block.
    if conn.get_execution_options().get(READ_ONLY):
        conn.exec_driver_sql("BEGIN")
    else:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def create_engine(url: str, *, echo: bool = False, foreign_keys: bool = True) -> AsyncEngine:
    """The async engine. `foreign_keys=False` is for migrations only: SQLite rebuilds a table
    to alter it, and dropping the old copy would trip the references to it."""
    url = normalise_url(url)
    parsed = make_url(url)
    kwargs: dict[str, Any] = {"echo": echo}
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        kwargs["connect_args"] = {"timeout": 10}
    else:
        kwargs["pool_pre_ping"] = True
    engine = create_async_engine(url, **kwargs)
    if parsed.get_backend_name() == "sqlite":
        event.listen(
            engine.sync_engine,
            "connect",
            lambda conn, record: _sqlite_connect(conn, record, foreign_keys),
        )
        event.listen(engine.sync_engine, "begin", _sqlite_begin)
    return engine


class Sessions:
    """Opens units of work: `async with sessions() as session, session.begin(): ...`.

    On SQLite a unit of work holds the database's one write lock (BEGIN IMMEDIATE), and a
    connection that finds it taken sleeps in SQLite's busy handler for up to 100 ms at a
    time, in no order. So units of work in this process queue for it on an asyncio.Lock
    instead (first come, first served, woken the moment it is free); other processes still
    meet at SQLite's lock.
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        # expire_on_commit=False: objects read in a unit of work stay usable after it.
        self._factory = async_sessionmaker(engine, expire_on_commit=False)
        self._readers = async_sessionmaker(
            engine.execution_options(**{READ_ONLY: True}), expire_on_commit=False
        )
        self._turn = asyncio.Lock() if is_sqlite(engine) else None

    def __call__(self) -> AbstractAsyncContextManager[AsyncSession]:
        return self._unit()

    def read(self) -> AbstractAsyncContextManager[AsyncSession]:
        """A session for reading only (reports, statistics, polls): it takes no turn and no
        write lock, so a long report does not hold up conversations. Writing in it fails."""
        return self._readers()

    @asynccontextmanager
    async def _unit(self) -> AsyncIterator[AsyncSession]:
        if self._turn is None:
            async with self._factory() as session:
                yield session
            return
        async with self._turn, self._factory() as session:
            yield session


def session_factory(engine: AsyncEngine) -> Sessions:
    return Sessions(engine)


def is_sqlite(engine: AsyncEngine) -> bool:
    return engine.dialect.name == "sqlite"
