"""`pingan init` and `pingan org`: the database's schema and the organisation in it."""

from __future__ import annotations

import asyncio
from pathlib import Path

import click

from bot.cli.root import Database, fail, get_settings, main, open_database


@main.command()
@click.option("--demo", is_flag=True, help="Also import the demo organisation (西双版纳).")
def init(demo: bool) -> None:
    """Create or upgrade the database (and optionally load the demo organisation)."""
    from dispatch.orgfile import DEMO_ORG_PATH, OrgFileError
    from storage.migrate import upgrade

    settings = get_settings()

    async def go() -> None:
        async with open_database(settings, migrated=False) as db:
            await upgrade(db.engine)
            click.echo("database is at the latest schema")
            if demo:
                await _import(db, DEMO_ORG_PATH)

    try:
        asyncio.run(go())
    except OrgFileError as exc:
        fail(f"{DEMO_ORG_PATH}:\n{exc}")


async def _import(db: Database, path: Path) -> None:
    from dispatch.org import import_org
    from dispatch.orgfile import load_org_file

    org = load_org_file(path)
    async with db.sessions() as session, session.begin():
        summary = await import_org(session, org)
    click.echo(
        f"organisation {path.name}: {len(org.regions)} regions ({summary.regions_added} new,"
        f" {summary.regions_updated} changed), {len(org.units)} units ({summary.units_added} new,"
        f" {summary.units_updated} changed)"
    )


@main.group()
def org() -> None:
    """The organisation: regions and units."""


@org.command("import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
def org_import(file: Path) -> None:
    """Import or update an organisation file (idempotent; codes are the keys)."""
    from dispatch.orgfile import OrgFileError

    settings = get_settings()

    async def go() -> None:
        async with open_database(settings) as db:
            await _import(db, file)

    try:
        asyncio.run(go())
    except OrgFileError as exc:
        fail(f"{file}: nothing imported; {len(exc.errors)} error(s):\n{exc}")
