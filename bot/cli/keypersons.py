"""`pingan keypersons`: key persons in assistance (重点人员包保帮扶), as the operator sees
them: names masked, each listing audited as a read."""

from __future__ import annotations

import asyncio
import json

import click

from bot.cli.root import get_settings, main, open_database, when


@main.group()
def keypersons() -> None:
    """Key persons in assistance (重点人员包保帮扶)."""


@keypersons.command("list")
@click.option("--tier", type=click.IntRange(1, 3), default=None, help="Only this tier (1-3).")
@click.option("--region", "region", default=None, help="A region code: it and all below it.")
@click.option("--all", "include_closed", is_flag=True, help="Closed assistance too.")
@click.option("--json", "as_json", is_flag=True, help="One JSON array.")
def keypersons_list(
    tier: int | None, region: str | None, include_closed: bool, as_json: bool
) -> None:
    """Key persons with tier, place and this month's visits against the quota; names masked."""
    from bot.app import build_domain
    from bot.wallclock import SystemClock
    from dispatch.keypersons import operator_list
    from locales import text

    settings = get_settings()
    domain = build_domain(SystemClock(), settings.zone)
    loc = settings.default_locale

    async def go() -> None:
        async with open_database(settings) as db, db.sessions() as session, session.begin():
            lines = await operator_list(
                session, domain, tier=tier, region=region, include_closed=include_closed
            )
        if as_json:
            rows = [
                {
                    "ref": line.ref,
                    "name": line.name,
                    "tier": line.tier,
                    "status": line.status,
                    "region": line.region,
                    "place": line.place,
                    "visits_this_month": line.visits,
                    "quota": line.quota,
                    "enrolled_at": line.enrolled_at.isoformat(),
                    "next_reassess_at": line.next_reassess_at.isoformat(),
                }
                for line in lines
            ]
            click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
            return
        if not lines:
            click.echo("no key persons")
            return
        heads = ("ref", "name", "tier", "place", "visits", "reassess")
        click.echo("\t".join(text(f"cli.keyperson_head.{h}", loc) for h in heads))
        for line in lines:
            tier_label = text(f"keyperson.tier_{line.tier}", loc)
            if line.status != "active":
                tier_label += f" ({text(f'keyperson.status_{line.status}', loc)})"
            click.echo(
                f"{line.ref}\t{line.name}\t{tier_label}\t{line.place}\t"
                f"{line.visits}/{line.quota}\t{when(line.next_reassess_at, settings.zone)}"
            )

    asyncio.run(go())
