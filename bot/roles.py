"""Process roles and the locks that keep once-only work in one process.

`pingan run --role web|worker|all`: a `web` process serves the Telegram webhook (or polls),
the WeChat callback and /healthz; a `worker` sends the outbox and ticks the scheduler (the
sweep, digests, rankings); `all` is both. Any number of web processes may run; the worker's
work is held by one process at a time, so that Telegram's global rate limit lives in one
sender and each scheduled job runs in one place.

The hold is a lock in the database's own terms:

* PostgreSQL: a session-level advisory lock (`pg_try_advisory_lock`) on a connection kept
  open for the process's life. A process that dies, even by SIGKILL, ends its session and
  PostgreSQL releases the lock; a standby tries again every few seconds and takes over.
* SQLite: an exclusive `flock` on a file beside the database. SQLite has one writer and is
  meant for one process; a second worker is refused with one line instead of waiting.

Polling has its own lock, keyed on a hash of the bot token: Telegram hands each update to one
`getUpdates` caller, and two pollers of one bot take updates from each other's offsets.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import logging
import os
import socket
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from dispatch.outbox import NOTIFY_CHANNEL

log = logging.getLogger(__name__)

Role = Literal["web", "worker", "all"]
ROLES: tuple[Role, ...] = ("web", "worker", "all")
WORKER_LOCK = "pingan:worker"
# A unit of work that queued a notice NOTIFYs this channel (dispatch/outbox.py); the active
# worker LISTENs on its lock connection and wakes its senders.
OUTBOX_CHANNEL = NOTIFY_CHANNEL


class RoleRefused(Exception):
    """This process may not take the role: one clear line for the operator."""


def this_process() -> str:
    """How logs, /healthz and `job_runs.ran_by` name this process: host:pid."""
    return f"{socket.gethostname()}:{os.getpid()}"


def polling_lock_name(token: str) -> str:
    # The token itself is a secret: only a hash of it goes into a lock name or a file name.
    return "pingan:polling:" + hashlib.sha256(token.encode()).hexdigest()[:16]


def advisory_key(name: str) -> int:
    """A signed 64-bit key for pg_try_advisory_lock, the same in every process."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


class ProcessLock(Protocol):
    #: True: a standby keeps trying (PostgreSQL); False: a taken lock is refused (SQLite).
    waits: bool

    async def try_acquire(self) -> bool: ...

    async def lost(self) -> None:
        """Return when the lock was lost (its database connection dropped)."""

    async def release(self) -> None: ...

    def holder(self) -> str:
        """Who holds it, as far as can be told (for the refusal line)."""


class AdvisoryLock:
    """A PostgreSQL session-level advisory lock on its own connection (autocommit, so that no
    transaction stays open while it is held)."""

    waits = True

    def __init__(self, engine: AsyncEngine, name: str, *, check_seconds: float = 5.0) -> None:
        self.engine = engine
        self.name = name
        self.key = advisory_key(name)
        self.check_seconds = check_seconds
        self._conn: AsyncConnection | None = None
        self._listeners: list[tuple[str, Callable[..., None]]] = []

    async def try_acquire(self) -> bool:
        try:
            if self._conn is None:
                conn = await self.engine.connect()
                self._conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            got = await self._conn.scalar(
                text("SELECT pg_try_advisory_lock(:key)"), {"key": self.key}
            )
        except Exception as exc:  # the database is away: not the holder, try later
            log.warning("lock %s: cannot ask the database (%s)", self.name, type(exc).__name__)
            await self._drop()
            return False
        if not got:
            return False
        for channel, callback in self._listeners:
            await self._listen(channel, callback)
        return True

    async def listen(self, channel: str, callback: Callable[[], None]) -> None:
        """Call `callback` on each NOTIFY on `channel` while the lock is held (re-subscribed
        after the connection is replaced)."""

        def on_notify(*_: Any) -> None:
            callback()

        self._listeners.append((channel, on_notify))
        if self._conn is not None:
            await self._listen(channel, on_notify)

    async def _listen(self, channel: str, callback: Callable[..., None]) -> None:
        assert self._conn is not None
        raw = await self._conn.get_raw_connection()
        driver = raw.driver_connection
        assert driver is not None
        await driver.add_listener(channel, callback)

    async def lost(self) -> None:
        while True:
            await asyncio.sleep(self.check_seconds)
            try:
                assert self._conn is not None
                await self._conn.execute(text("SELECT 1"))
            except Exception as exc:
                log.error(
                    "lock %s lost: its database connection failed (%s)",
                    self.name,
                    type(exc).__name__,
                )
                await self._drop()
                return

    async def release(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                await self._conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": self.key})
        await self._drop()

    async def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.invalidate()  # a possibly broken connection: not back to the pool
            with contextlib.suppress(Exception):
                await conn.close()

    def holder(self) -> str:
        return "another process on this database"


class FileLock:
    """An exclusive flock on a file: held until this process closes it or dies."""

    waits = False

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    async def try_acquire(self) -> bool:
        if self._fd is not None:
            return True
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.write(fd, this_process().encode())
        self._fd = fd
        return True

    async def lost(self) -> None:
        await asyncio.Event().wait()  # a file lock is not lost while the process lives

    async def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)  # closing the descriptor releases the flock

    def holder(self) -> str:
        try:
            who = self.path.read_text().strip()
        except OSError:
            who = ""
        return f"process {who}" if who else "another process"


class NoLock:
    """In-memory SQLite: nothing else can reach the database."""

    waits = False

    async def try_acquire(self) -> bool:
        return True

    async def lost(self) -> None:
        await asyncio.Event().wait()

    async def release(self) -> None:
        return None

    def holder(self) -> str:
        return "nobody"


def lock_for(engine: AsyncEngine, name: str) -> ProcessLock:
    """The lock named `name` for this engine's database."""
    if engine.dialect.name == "postgresql":
        return AdvisoryLock(engine, name)
    database = engine.url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return NoLock()
    sqlite_file = Path(database).absolute()
    suffix = name.removeprefix("pingan:").replace(":", "-")
    return FileLock(sqlite_file.with_name(f"{sqlite_file.name}.{suffix}.lock"))


@dataclass
class RoleStatus:
    """What /healthz says about this process."""

    role: Role
    process: str = field(default_factory=this_process)
    worker: Literal["active", "standby", "off"] = "off"

    def as_json(self) -> dict[str, str]:
        return {"role": self.role, "worker": self.worker, "process": self.process}


async def hold_worker(
    lock: ProcessLock,
    status: RoleStatus,
    work: Callable[[], Coroutine[Any, Any, None]],
    stop: asyncio.Event,
    *,
    retry_seconds: float = 5.0,
) -> None:
    """Do `work` while this process holds the worker lock, until `stop` is set.

    A standby (the lock is taken) tries again every `retry_seconds`; it takes over once the
    holder's session ends. A holder that loses its lock (the database connection dropped)
    stops its work, stands by and tries again. Where the lock does not wait (SQLite), a
    taken lock is refused with RoleRefused."""
    status.worker = "standby"
    told = False
    while not stop.is_set():
        if not await lock.try_acquire():
            if not lock.waits:
                raise RoleRefused(
                    f"{lock.holder()} already runs the worker (notice sender and scheduler)"
                    " on this SQLite database; SQLite serves one pingan process"
                )
            if not told:
                log.info(
                    "worker: standing by (another process holds the role); trying every %.0f s",
                    retry_seconds,
                )
                told = True
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(retry_seconds):
                    await stop.wait()
            continue
        status.worker = "active"
        log.info("worker: active (notice sender and scheduler run here)")
        try:
            # Whichever ends first (stop, a lost lock, failed work) ends the others; the
            # work gives back what it claimed before the lock is let go.
            async with asyncio.TaskGroup() as group:
                tasks: tuple[asyncio.Task[Any], ...] = (
                    group.create_task(work(), name="worker"),
                    group.create_task(lock.lost(), name="worker-lock"),
                    group.create_task(stop.wait(), name="worker-stop"),
                )
                await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
                for task in tasks:
                    task.cancel()
        finally:
            status.worker = "standby"
            await lock.release()
        told = False
    status.worker = "off"
