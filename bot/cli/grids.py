"""`pingan grids`: graded grids (网格分级分类) — each grid's grade, indicators, score and this
month's patrols against its quota; the key places a centre enters for a grid."""

from __future__ import annotations

import asyncio
import json

import click

from bot.cli.root import fail, get_settings, main, open_database

GRADES = ("key", "concern", "normal")


@main.group()
def grids() -> None:
    """Graded grids (网格分级分类)."""


@grids.command("list")
@click.option("--grade", type=click.Choice(GRADES), default=None, help="Only grids of this grade.")
@click.option("--region", "region", default=None, help="A region code: the grids below it.")
@click.option("--json", "as_json", is_flag=True, help="One JSON array.")
def grids_list(grade: str | None, region: str | None, as_json: bool) -> None:
    """Grids with grade, indicator values, score and this month's patrols against the quota."""
    from bot.app import build_domain
    from bot.wallclock import SystemClock
    from dispatch.grids import grid_lines
    from locales import text

    settings = get_settings()
    domain = build_domain(SystemClock(), settings.zone)
    loc = settings.default_locale

    async def go() -> None:
        async with open_database(settings) as db, db.sessions() as session:
            lines = await grid_lines(session, domain, domain.grids, grade=grade, region=region)
        if as_json:
            rows = [
                {
                    "grid": line.code,
                    "name": line.name,
                    "grade": line.grade,
                    "score": line.score,
                    "indicators": line.values,
                    "patrols_this_month": line.patrols,
                    "quota": line.quota,
                    "proposed": line.proposed,
                }
                for line in lines
            ]
            click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
            return
        if not lines:
            click.echo("no grids")
            return
        for line in lines:
            values = " ".join(f"{k}={v}" for k, v in line.values.items() if v)
            proposed = f" → {text(f'grid.grade_{line.proposed}', loc)}?" if line.proposed else ""
            click.echo(
                f"{line.code}\t{line.name}\t{text(f'grid.grade_{line.grade}', loc)}{proposed}\t"
                f"{line.score:g}\t{line.patrols}/{line.quota}\t{values or '-'}"
            )

    asyncio.run(go())


@grids.command("places")
@click.argument("grid")
@click.argument("count", type=click.IntRange(0, 999))
def grids_places(grid: str, count: int) -> None:
    """Set the number of key places (重点场所) a centre knows in GRID: an indicator of the model."""
    from dispatch.grids import GridRefused, set_key_places

    settings = get_settings()

    async def go() -> None:
        async with open_database(settings) as db, db.sessions() as session, session.begin():
            try:
                await set_key_places(session, grid, count)
            except GridRefused:
                fail(f"no grid {grid!r}", 1)

    asyncio.run(go())
    click.echo(f"{grid}: {count} key places")
