"""The scheduled jobs. APScheduler only ticks (bot/scheduler.py); every job reads what is
due from the database, so running one twice, late, or from two processes does no harm,
and `pingan jobs run NAME --at ISO` can replay any of them as if the clock read that time."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import delete

from dispatch import digests, grids, keypersons, retention, sweep
from dispatch.clock import Clock
from dispatch.context import Domain, WithDomain
from storage.database import Sessions
from storage.models import InboundSeen
from storage.upserts import upsert_job_run


@dataclass(frozen=True, slots=True)
class JobContext(WithDomain):
    """What every job runs with: the session factory (a job opens its own units of work)
    and the domain the composition root built."""

    sessions: Sessions
    domain: Domain
    # Who runs the jobs (host:pid, or "pingan jobs run"), noted in `job_runs.ran_by`: with
    # several processes on one database, which of them ran each job.
    runner: str = ""


Runner = Callable[[JobContext], Awaitable[str]]


@dataclass(frozen=True, slots=True)
class Job:
    name: str
    description: str
    run: Runner
    # APScheduler trigger: ("interval", {"seconds": 30}) or ("cron", {"day": 1, "hour": 9}).
    trigger: tuple[str, dict[str, Any]]


async def _sweep(ctx: JobContext) -> str:
    return (await sweep.sweep(ctx.sessions, ctx.domain)).summary()


async def _followup(ctx: JobContext) -> str:
    return (await sweep.followups(ctx.sessions, ctx.domain)).summary()


async def _digest(ctx: JobContext) -> str:
    return (await digests.send_due_digests(ctx.sessions, ctx.domain)).summary()


async def _housekeeping(ctx: JobContext) -> str:
    """Forget handled-message keys after a day: WeChat retries within seconds, not days."""
    cutoff = ctx.clock.now() - timedelta(days=1)
    async with ctx.sessions() as session, session.begin():
        result = await session.execute(delete(InboundSeen).where(InboundSeen.at < cutoff))
    return f"{result.rowcount} message keys forgotten"  # type: ignore[attr-defined]


async def _retention(ctx: JobContext) -> str:
    """dispatch/data/retention.yaml: abandoned dialogs, closed cases, old notices, inactive
    citizens (handled-message keys are the housekeeping job's)."""
    return (await retention.apply_retention(ctx.sessions, ctx.domain)).summary()


def previous_month(day: date) -> date:
    return (day.replace(day=1) - timedelta(days=1)).replace(day=1)


async def _rankings(ctx: JobContext) -> str:
    today = ctx.clock.now().astimezone(ctx.zone).date()
    month = previous_month(today)
    sent = await digests.push_rankings(ctx.sessions, ctx.domain, month)
    return f"{month:%Y-%m}: {sent.summary()}"


async def _visits(ctx: JobContext) -> str:
    """重点人员: this month's visits against each tier's quota, up the ladder."""
    return (await keypersons.check_visits(ctx.sessions, ctx.domain)).summary()


async def _reassess(ctx: JobContext) -> str:
    """重点人员: the quarterly re-assessment asked of each chain's lead, and chased."""
    return (await keypersons.ask_reassessments(ctx.sessions, ctx.domain)).summary()


async def _quotas(ctx: JobContext) -> str:
    """网格: each graded grid's patrols this month against its grade's quota."""
    return (await grids.check_quotas(ctx.sessions, ctx.domain, ctx.domain.grids)).summary()


async def _grading(ctx: JobContext) -> str:
    """网格: the model proposes every grid's grade; the county's dispatcher confirms."""
    return (await grids.propose_grades(ctx.sessions, ctx.domain, ctx.domain.grids)).summary()


JOBS: dict[str, Job] = {
    job.name: job
    for job in (
        Job(
            "sweep",
            "SLA reminders, overdue notices, escalation, hand-over of unaccepted offers, 挂牌督办",
            _sweep,
            ("interval", {"seconds": 30}),
        ),
        Job(
            "followup",
            "回访: ask reporters, close unanswered",
            _followup,
            ("interval", {"minutes": 5}),
        ),
        Job(
            "digest",
            "leaders' daily report at their local time (weekly on Monday, monthly on the 1st)",
            _digest,
            ("interval", {"minutes": 1}),
        ),
        Job(
            "housekeeping",
            "forget the keys of handled messages after a day",
            _housekeeping,
            ("interval", {"hours": 1}),
        ),
        Job(
            "retention",
            "personal data past dispatch/data/retention.yaml's periods, daily at 03:30",
            _retention,
            ("cron", {"hour": 3, "minute": 30}),
        ),
        Job(
            "rankings",
            "last month's red and black lists, on the 1st at 09:00",
            _rankings,
            ("cron", {"day": 1, "hour": 9, "minute": 0}),
        ),
        Job(
            "visits",
            "key persons' visits against the tier's monthly quota: reminder, 催办, leader; daily",
            _visits,
            ("cron", {"hour": 9, "minute": 10}),
        ),
        Job(
            "reassess",
            "key persons' quarterly re-assessment asked of the chain's lead, chased; daily",
            _reassess,
            ("cron", {"hour": 9, "minute": 20}),
        ),
        Job(
            "quotas",
            "graded grids' patrols against their grade's monthly quota (workers, township); daily",
            _quotas,
            ("cron", {"hour": 9, "minute": 30}),
        ),
        Job(
            "grading",
            "grid grades proposed by the model for the county's dispatcher, 1 January and 1 July",
            _grading,
            ("cron", {"month": "1,7", "day": 1, "hour": 8, "minute": 0}),
        ),
    )
}


async def run_job(name: str, ctx: JobContext, *, wall: Clock | None = None) -> str:
    """Run one job as the domain's clock says and note what it did and when it ran.

    `wall` is the real clock when the domain's is a replayed one (`pingan jobs run --at`):
    the job runs as of the replayed time, but `job_runs` keeps when it really ran (and the
    replayed time beside it, as `as_of`)."""
    as_of = ctx.clock.now()
    result = await JOBS[name].run(ctx)
    async with ctx.sessions() as session, session.begin():
        if wall is None:
            await upsert_job_run(session, name, ctx.clock.now(), result[:300], ran_by=ctx.runner)
        else:
            await upsert_job_run(
                session, name, wall.now(), result[:300], as_of=as_of, ran_by=ctx.runner
            )
    return result
