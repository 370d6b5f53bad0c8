"""`pingan jobs`: the scheduled jobs, listed or run by hand (also as if at another time)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import click

from bot.cli.root import fail, get_settings, main, open_database, when

if TYPE_CHECKING:
    from dispatch.clock import Clock


@main.group()
def jobs() -> None:
    """Scheduled jobs: the sweep, follow-ups, daily reports, rankings, key persons."""


@jobs.command("list")
def jobs_list() -> None:
    """The jobs, their schedule, next run and last run."""
    from sqlalchemy import select

    from bot.scheduler import next_runs
    from bot.wallclock import SystemClock
    from dispatch.jobs import JOBS
    from storage.models import JobRun

    settings = get_settings()

    async def go() -> None:
        async with open_database(settings) as db, db.sessions() as session:
            last = {r.name: r for r in (await session.scalars(select(JobRun))).all()}
        upcoming = next_runs(settings.zone, SystemClock().now())
        for name, job in JOBS.items():
            kind, spec = job.trigger
            every = ", ".join(f"{k}={v}" for k, v in spec.items())
            nxt = upcoming[name]
            ran = last.get(name)
            click.echo(f"{name:<9} {kind} {every}")
            click.echo(f"          {job.description}")
            click.echo(f"          next: {when(nxt, settings.zone, seconds=True)}")
            if ran is not None:
                # When it really ran; a run replayed with --at says the time it ran as.
                replayed = f" (as of {when(ran.as_of, settings.zone)})" if ran.as_of else ""
                # Which process ran it: with several on one database, the active worker.
                by = f" (by {ran.ran_by})" if ran.ran_by else ""
                click.echo(
                    f"          last: {when(ran.last_run_at, settings.zone, seconds=True)}"
                    f"{replayed} — {ran.last_result}{by}"
                )
            else:
                click.echo("          last: never")

    asyncio.run(go())


@jobs.command("run")
@click.argument("name")
@click.option(
    "--at", "at", default=None, help="Run as if the clock read this ISO time (local if no zone)."
)
def jobs_run(name: str, at: str | None) -> None:
    """Run one job now, or as if the clock read --at."""
    from datetime import datetime

    from bot.app import build_domain
    from bot.wallclock import SystemClock
    from dispatch.clock import FrozenClock
    from dispatch.datafile import DataFileError
    from dispatch.jobs import JOBS, JobContext, run_job

    if name not in JOBS:
        fail(f"unknown job {name!r}; one of: {', '.join(JOBS)}", 2)
    settings = get_settings()
    clock: Clock = SystemClock()
    if at is not None:
        try:
            moment = datetime.fromisoformat(at)
        except ValueError:
            fail(
                f"--at {at!r} is not an ISO time like 2026-12-01T09:00 or 2026-12-01T09:00+08:00", 2
            )
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=settings.zone)
        clock = FrozenClock(moment)

    try:
        domain = build_domain(clock, settings.zone)
    except DataFileError as exc:  # an edited data file (sla, points, retention) is broken
        fail(str(exc))

    async def go() -> str:
        async with open_database(settings) as db:
            wall = SystemClock() if at is not None else None
            ctx = JobContext(db.sessions, domain, runner="pingan jobs run")
            return await run_job(name, ctx, wall=wall)

    as_of = when(clock.now(), settings.zone, seconds=True)
    click.echo(f"{name} at {as_of}: {asyncio.run(go())}")
