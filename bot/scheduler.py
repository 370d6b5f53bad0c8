"""APScheduler as a ticker: one interval or cron trigger per job in dispatch.jobs.

Nothing is scheduled per case. `coalesce` folds runs missed while the process was down into
one, and the jobs themselves read what is due from the database, so that one run catches up.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from dispatch.jobs import JOBS, Job, JobContext, run_job

log = logging.getLogger(__name__)


def trigger(job: Job, zone: ZoneInfo) -> BaseTrigger:
    kind, spec = job.trigger
    if kind == "interval":
        return IntervalTrigger(timezone=zone, **spec)
    return CronTrigger(timezone=zone, **spec)


def next_runs(zone: ZoneInfo, now: datetime) -> dict[str, datetime | None]:
    return {name: trigger(job, zone).get_next_fire_time(None, now) for name, job in JOBS.items()}


def build_scheduler(ctx: JobContext, *, catch_up: bool = False) -> AsyncIOScheduler:
    """The ticker. `catch_up`: the interval jobs (the sweep, follow-ups, digests,
    housekeeping) run once at start, then on their interval: a worker that takes over from
    one that died sweeps at once instead of an interval later."""
    scheduler = AsyncIOScheduler(timezone=ctx.zone)

    async def tick(name: str) -> None:
        try:
            result = await run_job(name, ctx)
        except Exception:  # a failing tick is logged; the next one tries again
            log.exception("job %s failed", name)
            return
        if result and "nothing due" not in result and not result.startswith("0 "):
            log.info("job %s: %s", name, result)

    for name, job in JOBS.items():
        options: dict[str, Any] = {
            "id": name,
            "name": name,
            "args": [name],
            "coalesce": True,
            "max_instances": 1,
            "misfire_grace_time": None,
        }
        if catch_up and job.trigger[0] == "interval":
            options["next_run_time"] = ctx.clock.now()
        scheduler.add_job(tick, trigger(job, ctx.zone), **options)
    return scheduler
