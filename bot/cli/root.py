"""The root `pingan` group and what every command shares: settings, errors, and the one
place that opens the database (create the engine, check it answers and is migrated,
dispose of it)."""

from __future__ import annotations

import logging
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, NoReturn

import click
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.settings import Settings, SettingsError, load_settings

if TYPE_CHECKING:
    from bot.app import App
    from storage.database import Sessions


def get_settings() -> Settings:
    """The settings, or exit 2 with the one line that names the bad variable."""
    try:
        return load_settings()
    except SettingsError as exc:
        fail(str(exc), 2)


def fail(message: str, code: int = 1) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


async def reach(engine: AsyncEngine) -> None:
    """Fail with one line (not a traceback) when the database cannot be reached."""
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except (OSError, DBAPIError) as exc:
        reason = str(exc.orig if isinstance(exc, DBAPIError) else exc).strip()
        fail(f"cannot reach the database (PINGAN_DATABASE_URL): {reason.splitlines()[0]}")


async def require_schema(engine: AsyncEngine) -> None:
    """Fail with one line when the database cannot be reached or is not at the latest schema."""
    from storage.migrate import current_revision, head_revision

    await reach(engine)
    if await current_revision(engine) != head_revision():
        fail("the database is not initialised or not up to date: run `pingan init` first")


@dataclass(frozen=True, slots=True)
class Database:
    engine: AsyncEngine
    sessions: Sessions


@asynccontextmanager
async def open_database(settings: Settings, *, migrated: bool = True) -> AsyncIterator[Database]:
    """The configured database, reachable and (unless `migrated=False`, for `init`) at the
    latest schema; the engine is disposed of on the way out, whatever happened."""
    from storage.database import create_engine, session_factory

    engine = create_engine(settings.database_url)
    try:
        await (require_schema(engine) if migrated else reach(engine))
        yield Database(engine, session_factory(engine))
    finally:
        await engine.dispose()


@asynccontextmanager
async def open_app(settings: Settings) -> AsyncIterator[App]:
    """The whole application (as `pingan run` serves it) over a migrated database."""
    from bot.app import build

    app = build(settings)
    try:
        await require_schema(app.engine)
        yield app
    finally:
        await app.close()


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", is_flag=True, help="Log more.")
def main(verbose: bool) -> None:
    """pingan-bot: report, route and mediate grassroots disputes in chat."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # aiogram logs every update at INFO; that is noise (and personal data) in our logs.
    logging.getLogger("aiogram.event").setLevel(logging.WARNING)
    if not verbose:
        # Alembic logs its plugin set-up and context at INFO on every command that looks at
        # the schema; errors must stay the one line on stderr.
        logging.getLogger("alembic").setLevel(logging.WARNING)
