"""What leaders read: the daily (weekly, monthly) work report with its chart, and the
monthly red and black lists. Figures come from dispatch.stats (case_events); this module
only chooses recipients, formats and queues.

The chart is an image, so its labels are rendered here in the reader's language and drawn
by the chart renderer the composition root gave the Domain; every other word reaches the
reader as a message key and parameters, as everywhere else.
"""

from __future__ import annotations

import asyncio
import base64
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from dispatch import grids, keypersons, outbox, points, stats
from dispatch.context import Ctx, DailyChart, DailyPoint, Domain
from dispatch.messages import Reply, t
from dispatch.org import jurisdiction_path
from dispatch.policy import Policy
from locales import text as render
from storage.database import Sessions
from storage.models import OutboxMessage, Person, Region, Unit

SOURCES = ("citizen", "grid_worker", "dept_staff")


def _signed(value: float | None, *, rate: bool = False, hours: bool = False) -> dict[str, Any]:
    """A change from the day before, as a message parameter."""
    if value is None:
        return t("digest.change_none")
    if rate:
        return t("digest.change_points", value=f"{value * 100:+.1f}")
    if hours:
        return t("digest.change_hours", value=f"{value:+.1f}")
    return t("digest.change_count", value=f"{int(value):+d}")


def _rate(value: float | None) -> str | dict[str, str]:
    return "—" if value is None else f"{value * 100:.1f}%"


def _hours(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}"


async def digest_reply(
    ctx: Ctx, leader: Person, day: date, span: stats.Span = "day"
) -> Reply | None:
    """The report for `leader`'s jurisdiction for the period containing `day`, chart included.

    None when the person has no jurisdiction (not bound to a unit)."""
    session, zone = ctx.session, ctx.zone
    path = await jurisdiction_path(session, leader)
    unit = await session.get(Unit, leader.unit_code) if leader.unit_code else None
    if path is None or unit is None:
        return None
    region = await session.get_one(Region, unit.region_code)
    report = await stats.report(session, path, zone, day, span)
    now = report.now
    overdue_lines = [
        {
            "$t": "digest.overdue_line",
            "number": o.number,
            "unit": await _unit_name(session, o.unit),
            "since": o.overdue_since.astimezone(zone).strftime("%m-%d %H:%M"),
        }
        for o in now.overdue_oldest
    ]
    params: dict[str, Any] = {
        "region": region.name,
        "period": _period_label(report, zone),
        "new": now.new_total,
        "new_change": _signed(report.change("new_total")),
        "by_source": render("digest.separator", leader.locale).join(
            f"{render(f'source.{s}', leader.locale)} {now.new_by_source.get(s, 0)}" for s in SOURCES
        ),
        "by_type": render("digest.separator", leader.locale).join(
            f"{render(f'cat.{c}', leader.locale)} {n}" for c, n in now.new_by_category.items()
        )
        or "—",
        "accepted": now.accepted,
        "accepted_change": _signed(report.change("accepted")),
        "resolved": now.resolved,
        "resolved_change": _signed(report.change("resolved")),
        "failed": now.failed,
        "overdue": now.overdue_count,
        "overdue_list": overdue_lines or "—",
        "major": len(now.major),
        "major_list": "、".join(now.major) or "—",
        "fms": _rate(now.first_mediation_success),
        "fms_change": _signed(report.change("first_mediation_success"), rate=True),
        "otc": _rate(now.one_time_closure),
        "otc_change": _signed(report.change("one_time_closure"), rate=True),
        "aht": _hours(now.avg_handling_hours),
        "aht_change": _signed(report.change("avg_handling_hours"), hours=True),
        "sat": _rate(now.satisfaction),
        "sat_change": _signed(report.change("satisfaction"), rate=True),
        "answered": now.followups_answered,
    }
    if span == "month":
        params["prevention"] = await _prevention(ctx, path, day.replace(day=1))
    chart = await _chart(ctx, leader, path, region.name, day)
    return Reply(f"digest.{span}", params, media=(chart,))


async def _prevention(ctx: Ctx, path: str, month: date) -> dict[str, Any]:
    """The month's graded grids and key persons (counts only): 网格分级分类, 包保帮扶."""
    grid = await grids.month_figures(ctx.session, ctx.domain, path, month)
    kept = await keypersons.month_figures(ctx.session, ctx.domain, path, month)
    return {
        "$t": "digest.prevention",
        **{f"grid_{k}": v for k, v in grid.items()},
        **{f"kp_{k}": v for k, v in kept.items()},
    }


async def _unit_name(session: AsyncSession, code: str | None) -> str:
    unit = await session.get(Unit, code) if code else None
    return unit.name if unit else "—"


def _period_label(report: stats.Report, zone: ZoneInfo) -> str:
    first = report.start.astimezone(zone).date()
    last = (report.end - timedelta(seconds=1)).astimezone(zone).date()
    return first.isoformat() if first == last else f"{first.isoformat()} ~ {last.isoformat()}"


async def _chart(ctx: Ctx, leader: Person, path: str, name: str, day: date) -> str:
    session, zone = ctx.session, ctx.zone
    series = await stats.daily_series(session, path, zone, day, 14)
    end_of_day = datetime.combine(day + timedelta(days=1), time(), zone)
    opened = await stats.open_by_category(session, path, end_of_day)
    locale = leader.locale
    # Rendering takes 0.3-0.7 s of CPU: off the event loop, so chats keep flowing meanwhile.
    png = await asyncio.to_thread(
        ctx.domain.charts.daily_chart,
        DailyChart(
            render("chart.title", locale, {"region": name, "day": day.isoformat()}),
            [DailyPoint(d, new, resolved) for d, new, resolved in series],
            [(render(f"cat.{c}", locale), n) for c, n in opened],
            new_label=render("chart.new", locale),
            resolved_label=render("chart.resolved", locale),
            open_title=render("chart.open_by_type", locale),
            no_days_label=render("chart.no_days", locale),
            no_open_label=render("chart.no_open", locale),
        ),
    )
    return "png:" + base64.b64encode(png).decode()


def local_digest_time(person: Person, policy: Policy) -> time:
    if person.digest_time:
        try:
            return time.fromisoformat(person.digest_time)
        except ValueError:
            pass
    return policy.digest_time


@dataclass(slots=True)
class Sent:
    queued: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return f"{len(self.queued)} reports queued" + (
            f" ({', '.join(self.queued[:5])}{'…' if len(self.queued) > 5 else ''})"
            if self.queued
            else ""
        )


async def send_due_digests(sessions: Sessions, domain: Domain) -> Sent:
    """Every leader whose local report time has come today gets today's report once; on
    Mondays also last week's, on the 1st also last month's. A process that was down at
    18:00 sends today's when it is back, once (the dedupe key is the leader and the day)."""
    sent = Sent()
    clock, zone = domain.clock, domain.zone
    now_local = clock.now().astimezone(zone)
    today = now_local.date()
    async with sessions() as session:
        leaders = list(
            (
                await session.scalars(
                    select(Person).where(Person.role == "leader", Person.disabled_at.is_(None))
                )
            ).all()
        )
    for leader in leaders:
        if now_local.time() < local_digest_time(leader, domain.policy):
            continue
        wanted: list[tuple[stats.Span, date]] = [("day", today)]
        if today.weekday() == 0:
            wanted.append(("week", today - timedelta(days=7)))
        if today.day == 1:
            wanted.append(("month", today - timedelta(days=1)))
        for span, day in wanted:
            start, _ = stats.period(day, span, zone)
            key = f"digest:{span}:{leader.id}:{start.astimezone(zone).date().isoformat()}"
            # Built in a read-only session: a prefecture's report takes seconds, and on
            # SQLite a writing unit of work would hold every conversation up meanwhile.
            async with sessions.read() as session:
                if await session.scalar(
                    select(OutboxMessage.id).where(OutboxMessage.dedupe_key == key)
                ):
                    continue
                reply = await digest_reply(domain.within(session), leader, day, span)
            if reply is None:
                continue
            async with sessions() as session, session.begin():
                queued = await outbox.enqueue(
                    session, clock, leader.id, reply, purpose="digest", dedupe_key=key
                )
            if queued:
                sent.queued.append(f"{leader.display_name or leader.id}/{span}")
    return sent


# red and black lists ---------------------------------------------------------------------------


def ranking_reply(ranking: points.Ranking, month: date) -> Reply:
    def lines(scores: tuple[points.UnitScore, ...]) -> list[dict[str, Any]]:
        return [
            {
                "$t": "ranking.line",
                "place": i + 1,
                "unit": s.unit_name,
                "points": s.points,
                "entries": s.entries,
            }
            for i, s in enumerate(scores)
        ]

    if not ranking.red and not ranking.black:
        # Nothing earned or lost yet this month: say so, rather than two lists of dashes.
        return Reply(
            "ranking.empty",
            {
                "parent": ranking.parent_name,
                "month": f"{month.year}-{month.month:02d}",
                "level": t(f"level.{ranking.level}"),
            },
        )
    return Reply(
        "ranking.monthly",
        {
            "parent": ranking.parent_name,
            "month": f"{month.year}-{month.month:02d}",
            "level": t(f"level.{ranking.level}"),
            "red": lines(ranking.red) or "—",
            "black": lines(ranking.black) or "—",
            "count": len(ranking.scores),
        },
    )


async def push_rankings(sessions: Sessions, domain: Domain, month: date) -> Sent:
    """The month's red and black lists: to the leaders of each parent region and to the
    people of every unit named, each list once per person and month."""
    sent = Sent()
    async with sessions.read() as session:
        rankings = await points.rank(session, domain.rules, domain.zone, month)
    label = f"{month.year}-{month.month:02d}"
    for ranking in rankings:
        named = {s.region_code for s in (*ranking.red, *ranking.black)}
        async with sessions() as session, session.begin():
            people = list(
                (
                    await session.scalars(
                        select(Person)
                        .join(Unit, Unit.code == Person.unit_code)
                        .where(
                            ((Unit.region_code == ranking.parent_code) & (Person.role == "leader"))
                            | (Unit.region_code.in_(named) & (Person.role != "citizen"))
                        )
                        .where(Person.disabled_at.is_(None))
                    )
                ).all()
            )
            reply = ranking_reply(ranking, month)
            for person in people:
                queued = await outbox.enqueue(
                    session,
                    domain.clock,
                    person.id,
                    reply,
                    purpose="ranking",
                    dedupe_key=f"ranking:{label}:{ranking.parent_code}:{person.id}",
                )
                if queued:
                    sent.queued.append(f"{ranking.parent_name}→{person.display_name or person.id}")
    return sent


async def ranking_for(ctx: Ctx, person: Person, month: date) -> points.Ranking | None:
    """The ranking a person is part of: leaders see the one of their own region (their
    townships or villages); everyone else the one their unit appears in."""
    session = ctx.session
    unit = await session.get(Unit, person.unit_code) if person.unit_code else None
    if unit is None:
        return None
    region = await session.get_one(Region, unit.region_code)
    rankings = await points.rank(session, ctx.rules, ctx.zone, month)
    for ranking in rankings:
        if ranking.parent_code == region.code:
            return ranking
    for ranking in rankings:
        if any(s.region_code == region.code for s in ranking.scores):
            return ranking
    return None
