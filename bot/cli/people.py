"""`pingan invite`: one-time binding codes that make a chat account a staff member."""

from __future__ import annotations

import asyncio

import click

from bot.cli.root import fail, get_settings, main, open_database


@main.group()
def invite() -> None:
    """One-time binding codes for staff."""


@invite.command("create")
@click.option(
    "--role",
    required=True,
    type=click.Choice(["grid_worker", "mediator", "dispatcher", "leader", "dept_staff", "admin"]),
)
@click.option("--unit", "unit_code", required=True, help="Unit code, e.g. U532801001001-TJ.")
@click.option("--name", default="", help="The staff member's name.")
@click.option("--region", "region_code", default=None, help="Home grid (for grid workers).")
@click.option("--days", default=7, show_default=True, type=click.IntRange(1, 90), help="Valid for.")
def invite_create(role: str, unit_code: str, name: str, region_code: str | None, days: int) -> None:
    """Create a binding code; the code is the last line printed."""
    from datetime import timedelta

    from bot.wallclock import SystemClock
    from dispatch.people import InviteError, create_invite
    from locales import text
    from storage.models import Unit

    settings = get_settings()

    async def go() -> None:
        async with open_database(settings) as db:
            async with db.sessions() as session, session.begin():
                try:
                    created = await create_invite(
                        session,
                        SystemClock(),
                        role,
                        unit_code,
                        name,
                        region_code,
                        timedelta(days=days),
                    )
                except InviteError as exc:
                    fail(
                        f"{text(exc.reason, 'en')}: "
                        f"{region_code if 'region' in exc.reason else unit_code}"
                    )
                unit = await session.get_one(Unit, unit_code)
            click.echo(
                f"role: {role}\nunit: {unit.name} ({unit.code})\nexpires: {created.expires_at_iso}"
            )
            click.echo("the person sends: /bind CODE  (or 绑定 CODE) to the bot")
            click.echo(created.code)

    asyncio.run(go())
