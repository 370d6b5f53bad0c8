"""The root `pingan` group and what every command shares: settings, errors, and the one
place that opens the database (create the engine, check it answers and is migrated,
dispose of it)."""

from __future__ import annotations

import logging
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, NoReturn
from zoneinfo import ZoneInfo

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


ERROR_PREFIX = "error: "


def fail(message: str, code: int = 1) -> NoReturn:
    click.echo(f"{ERROR_PREFIX}{message}", err=True)
    sys.exit(code)


def when(at: datetime | None, zone: ZoneInfo, *, seconds: bool = False) -> str:
    """How the CLI prints a time, everywhere: in the configured zone with its offset
    ("2026-12-01 09:30 +08:00"); "-" for none. A naive time (SQLite) is UTC."""
    if at is None:
        return "-"
    local = (at.replace(tzinfo=UTC) if at.tzinfo is None else at).astimezone(zone)
    offset = local.strftime("%z")
    return local.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M") + (
        f" {offset[:3]}:{offset[3:]}"
    )


def label(group: str, code: str | None, locale: str) -> str:
    """The human name of a code in the configured language ("cat", "neighbor" -> 邻里纠纷);
    the code itself when the catalogue has none, "-" for none."""
    from locales import catalog, text

    if code is None:
        return "-"
    key = f"{group}.{code}"
    return text(key, locale) if key in catalog(locale) or key in catalog("zh_CN") else code


def _show_lowercase(exc: click.ClickException) -> None:
    """Make click's own errors (a wrong option, a missing argument) print as ours do:
    "error: …" on stderr, after the usage line for a usage error."""

    def show(file: Any = None) -> None:
        ctx = getattr(exc, "ctx", None)
        if isinstance(exc, click.UsageError) and ctx is not None:
            hint = f"Try '{ctx.command_path} {ctx.help_option_names[0]}' for help.\n"
            click.echo(f"{ctx.get_usage()}\n{hint}", err=True, color=ctx.color)
        click.echo(f"{ERROR_PREFIX}{exc.format_message()}", err=True)

    exc.show = show  # type: ignore[method-assign]


class _Group(click.Group):
    """The root group: click's errors get our "error:" prefix."""

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        try:
            return super().make_context(info_name, args, parent, **extra)
        except click.ClickException as exc:
            _show_lowercase(exc)
            raise

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.ClickException as exc:
            _show_lowercase(exc)
            raise


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
async def open_app(settings: Settings, *, deferred_dictionary: bool = False) -> AsyncIterator[App]:
    """The whole application (as `pingan run` serves it) over a migrated database."""
    from bot.app import build

    app = build(settings, deferred_dictionary=deferred_dictionary)
    try:
        await require_schema(app.engine)
        yield app
    finally:
        await app.close()


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
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
