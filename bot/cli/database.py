"""`pingan init` and `pingan org`: the database's schema and the organisation in it."""

from __future__ import annotations

import asyncio
from pathlib import Path

import click

from bot.cli.root import Database, fail, get_settings, main, open_app, open_database
from bot.settings import Settings


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
            where = settings.sqlite_file
            click.echo(f"database is at the latest schema: {where or 'PINGAN_DATABASE_URL'}")
            if demo:
                await _import(db, DEMO_ORG_PATH)
        if demo:
            await _demo_staff(settings)

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


async def _demo_staff(settings: Settings) -> None:
    """The demo office's staff for one grid, each a console identity `pingan chat` plays."""
    from dispatch.demo import DEMO_GRID, ensure_demo_staff

    async with open_app(settings) as app:
        domain = app.services.domain
        async with app.services.sessions() as session, session.begin():
            made = await ensure_demo_staff(domain.within(session))
    new = sum(1 for _, created in made if created)
    click.echo(f"demo staff for grid {DEMO_GRID}: {len(made)} ({new} new)")
    for staff, _ in made:
        click.echo(f"  pingan chat --as {staff.part:<10}  # {staff.name}, {staff.unit_code}")
    click.echo(f"  {'pingan chat':<29}# a resident: /start g_{DEMO_GRID}")


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
