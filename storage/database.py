"""Engine and session factory. Built once by the composition root (bot/), never at import."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import ExceptionContext, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.ext.asyncio import AsyncSession as AsyncSession

READ_ONLY = "pingan_read_only"
# A unit of work that sets `session.info[WAKE] = True` (dispatch.outbox does, when it queues
# a notice) calls `Sessions.on_queued` once it has committed: the sender is woken when there
# is something to send, not after every message.
WAKE = "pingan_wake"


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


def create_private_file(path: Path) -> None:
    """Create a SQLite database file, and the folders it goes in, for their owner alone (0600,
    0700), whatever the umask: the file holds reports, names and phone numbers. SQLite gives
    the -wal, -shm and -journal files it makes beside it the database file's permissions.
    An existing file or folder is left as its administrator set it; one that cannot be made
    is left for SQLite to report when it opens the file (`pingan` says so in one line)."""
    missing = [folder for folder in (path.parent, *path.parent.parents) if not folder.exists()]
    try:
        for folder in reversed(missing):
            try:
                folder.mkdir(mode=0o700)
            except FileExistsError:
                continue
            folder.chmod(0o700)  # the umask may have taken bits from mkdir's mode
        fd = os.open(path, os.O_RDONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError:  # FileExistsError included: someone else made it first
        return
    try:
        os.fchmod(fd, 0o600)
    finally:
        os.close(fd)


_KEY_DETAIL = re.compile(r"Key \(([^)]*)\)=")


def _hide_error_values(context: ExceptionContext) -> None:
    """PostgreSQL explains a failed statement with the values that failed it ("DETAIL: Key
    (phone)=(139…) already exists", "Failing row contains (…, description, phone, …)"), and
    asyncpg prints that detail with the exception, into whatever logs it. Keep the columns,
    hide the values; hide a detail of any other shape whole."""
    seen: set[int] = set()
    error: BaseException | None = context.original_exception
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        detail = getattr(error, "detail", None)
        if isinstance(detail, str) and detail:
            key = _KEY_DETAIL.match(detail)
            if key:
                hidden = f"Key ({key[1]})=(…) [values hidden]"
            elif detail.startswith("Failing row contains"):
                hidden = "Failing row contains (…) [values hidden]"
            else:
                hidden = "[detail hidden]"
            with contextlib.suppress(AttributeError):  # a read-only attribute: leave it
                error.detail = hidden  # type: ignore[attr-defined]
        error = error.__cause__ or error.__context__


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
    # A failed statement's message would otherwise carry its parameters (a dialog's saved
    # phone number, a description) into whatever logs the exception.
    kwargs: dict[str, Any] = {"echo": echo, "hide_parameters": True}
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if database and database != ":memory:" and not database.startswith("file:"):
            create_private_file(Path(database))
        kwargs["connect_args"] = {"timeout": 10}
    else:
        kwargs["pool_pre_ping"] = True
    engine = create_async_engine(url, **kwargs)
    event.listen(engine.sync_engine, "handle_error", _hide_error_values)
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
        self.on_queued: Callable[[], None] | None = None

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
        else:
            async with self._turn, self._factory() as session:
                yield session
        # Reached only when the block ended without an exception (its work committed).
        if session.info.get(WAKE) and self.on_queued is not None:
            self.on_queued()


def session_factory(engine: AsyncEngine) -> Sessions:
    return Sessions(engine)


def is_sqlite(engine: AsyncEngine) -> bool:
    return engine.dialect.name == "sqlite"
