"""Alembic, driven from code: `pingan init` and the tests upgrade to head through here."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.database import create_engine

MIGRATIONS = Path(__file__).with_name("migrations")


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def _upgrade(connection: Connection, revision: str) -> None:
    command.upgrade(alembic_config(connection), revision)


def _downgrade(connection: Connection, revision: str) -> None:
    command.downgrade(alembic_config(connection), revision)


def _current(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def _migration_engine(engine: AsyncEngine) -> AsyncEngine:
    if engine.dialect.name != "sqlite":
        return engine
    url = engine.url.render_as_string(hide_password=False)
    return create_engine(url, foreign_keys=False)


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    await _migrate(engine, _upgrade, revision)


async def downgrade(engine: AsyncEngine, revision: str = "base") -> None:
    await _migrate(engine, _downgrade, revision)


async def _migrate(
    engine: AsyncEngine, step: Callable[[Connection, str], None], revision: str
) -> None:
    migrating = _migration_engine(engine)
    try:
        async with migrating.begin() as conn:
            await conn.run_sync(step, revision)
    finally:
        if migrating is not engine:
            await migrating.dispose()


async def current_revision(engine: AsyncEngine) -> str | None:
    async with engine.connect() as conn:
        return await conn.run_sync(_current)


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()
