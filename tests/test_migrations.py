"""The migrations build exactly the schema the models describe, and can be undone and redone."""

from __future__ import annotations

from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, func, inspect, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from dialogs.base import Services
from dispatch.org import import_org
from dispatch.orgfile import DEMO_ORG_PATH, load_org_file
from storage.database import session_factory
from storage.migrate import alembic_config, current_revision, downgrade, head_revision, upgrade
from storage.models import Base, Region
from tests.conftest import VILLAGE_MEDIATION, make_staff
from tests.test_workflow import report


def _differences(sync_conn: Connection) -> list[Any]:
    context = MigrationContext.configure(sync_conn, opts={"compare_type": True})
    return list(compare_metadata(context, Base.metadata))


def _tables(sync_conn: Connection) -> set[str]:
    return set(inspect(sync_conn).get_table_names())


async def test_models_match_migrations(engine: AsyncEngine) -> None:
    """A model change without a migration (or the reverse) shows up here, not in production."""
    async with engine.connect() as conn:
        differences = await conn.run_sync(_differences)
    assert differences == [], (
        "storage/models.py and storage/migrations disagree; add a migration:\n"
        + "\n".join(map(repr, differences))
    )


def test_one_linear_history() -> None:
    """Two migrations written at once give two heads; `pingan init` could not pick one."""
    script = ScriptDirectory.from_config(alembic_config())
    assert len(script.get_heads()) == 1, script.get_heads()
    assert len(script.get_bases()) == 1, script.get_bases()
    assert head_revision() == script.get_heads()[0]


async def test_downgrade_to_base_and_upgrade_again(engine: AsyncEngine) -> None:
    assert await current_revision(engine) == head_revision()

    await downgrade(engine, "base")
    assert await current_revision(engine) is None
    async with engine.connect() as conn:
        left = await conn.run_sync(_tables)
    assert left & set(Base.metadata.tables) == set(), f"downgrade left tables behind: {left}"

    await upgrade(engine)
    assert await current_revision(engine) == head_revision()
    async with engine.connect() as conn:
        assert set(Base.metadata.tables) <= await conn.run_sync(_tables)
        assert await conn.run_sync(_differences) == []

    # The rebuilt schema takes data: the demo organisation imports into it.
    org = load_org_file(DEMO_ORG_PATH)
    sessions = session_factory(engine)
    async with sessions() as session, session.begin():
        await import_org(session, org)
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Region)) == len(org.regions)


async def test_downgrade_to_base_with_cases_in_it(services: Services, person) -> None:
    """Undoing the migrations works on a database in use, not only on an empty one (each test
    used to prove this on its way out; the tests now share one migration per session)."""
    await make_staff(services, "mediator", "mediator", VILLAGE_MEDIATION)
    await report(person("citizen"))
    engine = services.sessions.engine

    await downgrade(engine, "base")
    assert await current_revision(engine) is None
    async with engine.connect() as conn:
        left = await conn.run_sync(_tables)
    assert left & set(Base.metadata.tables) == set(), f"downgrade left tables behind: {left}"


async def test_upgrade_at_head_is_a_no_op(engine: AsyncEngine) -> None:
    """`pingan init` runs on every deploy; a second upgrade must change nothing."""
    await upgrade(engine)
    assert await current_revision(engine) == head_revision()


@pytest.mark.parametrize("engine", ["sqlite"], indirect=True)
async def test_sqlite_runs_in_wal_mode(engine: AsyncEngine) -> None:
    """WAL lets the bot read while a mediator's accept commits (no "database is locked")."""
    async with engine.connect() as conn:
        assert (await conn.execute(text("PRAGMA journal_mode"))).scalar() == "wal"
        assert (await conn.execute(text("PRAGMA foreign_keys"))).scalar() == 1
        assert ((await conn.execute(text("PRAGMA busy_timeout"))).scalar() or 0) >= 1000
