"""Dialect-aware statements that SQLAlchemy Core spells differently on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import CaseCounter, JobRun


def _insert(session: AsyncSession, table: Table) -> Any:
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    return postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)


def _ignoring_conflict(
    session: AsyncSession, table: Table, values: dict[str, Any], key: str
) -> Any:
    return _insert(session, table).values(**values).on_conflict_do_nothing(index_elements=[key])


async def insert_ignoring_conflict(
    session: AsyncSession, table: Table, values: dict[str, Any], *, key: str
) -> int | None:
    """INSERT unless a row with the same unique `key` exists; returns the new id or None.

    This is how a notice is enqueued exactly once however often the cause is replayed.
    """
    stmt = _ignoring_conflict(session, table, values, key)
    result = await session.execute(stmt.returning(table.c.id))
    return result.scalar_one_or_none()


async def insert_once(
    session: AsyncSession, table: Table, values: dict[str, Any], *, key: str
) -> bool:
    """INSERT a row keyed by `key` (its primary key) unless it exists; True if this call
    wrote it. How a platform's message is handled once however often it is delivered."""
    stmt = _ignoring_conflict(session, table, values, key)
    result = await session.execute(stmt.returning(table.c[key]))
    return result.scalar_one_or_none() is not None


async def next_in_sequence(session: AsyncSession, year: int) -> int:
    """The next case serial for `year`, atomically, without gaps under concurrency."""
    table = cast(Table, CaseCounter.__table__)
    stmt = _insert(session, table).values(year=year, last=1)
    stmt = stmt.on_conflict_do_update(index_elements=["year"], set_={"last": table.c.last + 1})
    result = await session.execute(stmt.returning(table.c.last))
    return int(result.scalar_one())


async def upsert_job_run(
    session: AsyncSession,
    name: str,
    at: datetime,
    result: str,
    as_of: datetime | None = None,
    ran_by: str = "",
) -> None:
    """Note that job `name` ran at `at` (the wall clock), as of `as_of` if it was replayed,
    in process `ran_by`."""
    table = cast(Table, JobRun.__table__)
    values = {"last_run_at": at, "last_result": result, "as_of": as_of, "ran_by": ran_by[:100]}
    stmt = _insert(session, table).values(name=name, **values)
    stmt = stmt.on_conflict_do_update(index_elements=["name"], set_=values)
    await session.execute(stmt)
