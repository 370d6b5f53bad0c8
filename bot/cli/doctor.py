"""`pingan doctor`: what breaks "nothing waits silently", for an operator or for monitoring
(exit 1 when anything is found). The checks are in dispatch/health.py."""

from __future__ import annotations

import asyncio
import json
import sys

import click

from bot.cli.root import get_settings, main, open_database


@main.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON object per finding.")
def doctor(as_json: bool) -> None:
    """Open cases with no next step, notices failed, stuck or in doubt, expired leases,
    offers to people we cannot reach. Exit status 1 when there is any."""
    from bot.wallclock import SystemClock
    from dispatch.health import Finding, check

    settings = get_settings()

    async def go() -> list[Finding]:
        async with open_database(settings) as db, db.sessions.read() as session:
            # The wall clock, always: doctor reports the state of the world now.
            return await check(session, SystemClock().now())

    findings = asyncio.run(go())
    for finding in findings:
        if as_json:
            click.echo(
                json.dumps(
                    {
                        "check": finding.check,
                        "count": finding.count,
                        "ids": list(finding.ids),
                        "what": finding.what,
                    },
                    ensure_ascii=False,
                )
            )
        else:
            shown = ", ".join(finding.ids)
            more = (
                f" (+{finding.count - len(finding.ids)} more)"
                if finding.count > len(finding.ids)
                else ""
            )
            click.echo(f"{finding.check}: {finding.count} — {finding.what}")
            click.echo(f"  {shown}{more}")
    if not findings and not as_json:
        click.echo("all open cases have a next step; no notice is failed, stuck or in doubt")
    sys.exit(1 if findings else 0)
