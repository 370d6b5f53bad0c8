"""Work statistics for leaders (每日工作情况): every figure is computed from `case_events`.

`cases` is joined only for `region_path` (jurisdiction: a prefix test), `source` and `number`,
so a report for any past period can be regenerated later with the same numbers — the status
column is used only to narrow candidate sets, never to decide a figure.

Periods are half-open, [start, end), with UTC bounds computed from local days in the
centre's zone: a day, the ISO week (Monday to Sunday) or the calendar month containing a day.
"Before an event" means earlier in (at, id) order; `at` is UTC.

Definitions
-----------
- An *outcome* event is resolve, resolve_on_spot or fail. *Closing* events are the outcome
  events plus cancel and archive.
- 新增 new_total / new_by_source / new_by_category: report events in the period; the category
  (and risk) come from the report event's data ("other" when missing), the source from the case.
- 重大 major: numbers of the cases reported in the period with report data["risk"] == "major",
  in report order.
- 受理 accepted: accept events in the period. 化解 resolved: resolve + resolve_on_spot events.
  调解不成 failed: fail events.
- 初次调解成功率 first_mediation_success: among the outcome events in the period, the share
  that are resolve / resolve_on_spot on a case with no fail and no reopen event before that
  outcome. None when there is no outcome event.
- 一次性办结率 one_time_closure: among the outcome events in the period, the share on cases
  with no decline, reoffer, escalate or reopen event before that outcome (handled once, by the
  first unit, never bounced back). None when there is no outcome event.
- 平均办理时长 avg_handling_hours: the mean, over the outcome events in the period, of
  (outcome.at − the case's report.at − the sum of resume.data["paused_seconds"] of the case
  before the outcome), in hours. An outcome whose case has no report event is left out of
  this mean (and only of this one). None when there is nothing to average.
- 回访满意率 satisfaction: among the followup events in the period, the share rated
  "satisfied" or "basic". followups_answered is their count (followup_unanswered events are
  not answers). None when there is none.
- 超期 overdue at `end`: a case counts when its latest event among offer, reoffer, accept,
  overdue, escalate, reopen and the closing events, at or before `end`, is `overdue` (a new
  offer, acceptance or escalation starts a new clock; an outcome ends it). overdue_since is
  that overdue event's `at`; the unit is data["unit"] of the latest offer / reoffer / accept
  at or before `end` (for an accept without "unit", the unit of the offer it accepted).
  overdue_oldest: the five with the earliest overdue_since (then by number).
- 在办 open at an instant: the latest event among report, reopen and the closing events, at or
  before that instant, is report or reopen (a case reopened after an outcome is open again).

How the queries stay small
--------------------------
Period figures read the period's events through the (kind, at) index and join each to its
case by primary key. The outcome-based rates also read the history of the cases that had an
outcome in the period, by case_id, in chunks. "Overdue at end" and "open at an instant" never
anti-join all history: a case in that state at instant T either still has an open status now
(the workflow keeps `cases.status` in step) or has a closing event after T. So candidates are
the open cases of the jurisdiction plus the cases with a closing event after T (few when T is
recent), and the event rule is applied to those only. For "open", the open cases without a
closing or reopen event after T are open at T exactly when reported by T, which one grouped
query counts; only the rest go through the rule in Python.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from typing import Any, Literal
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, case, exists, func, select, union
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from dispatch.clock import as_utc
from dispatch.workflow import STATES
from storage.models import Case, CaseEvent

Span = Literal["day", "week", "month"]

SUCCESS = ("resolve", "resolve_on_spot")
OUTCOME = (*SUCCESS, "fail")
CLOSING = (*OUTCOME, "cancel", "archive")
CLOSED_STATES = frozenset({"resolved", "closed", "unresolved", "cancelled"})
# Derived from the workflow's own list, so a state added there (say "reopened") counts as open
# here: a candidate too many only costs time, a candidate missed would be a wrong figure.
OPEN_STATES = tuple(s for s in STATES if s not in CLOSED_STATES)

OVERDUE_RULE = ("offer", "reoffer", "accept", "overdue", "escalate", "reopen", *CLOSING)
OPEN_RULE = ("report", "reopen", *CLOSING)
NOT_FIRST_SUCCESS = frozenset({"fail", "reopen"})
NOT_ONE_TIME = frozenset({"decline", "reoffer", "escalate", "reopen"})
HISTORY = ("report", "resume", *NOT_FIRST_SUCCESS, *NOT_ONE_TIME)
SATISFIED = frozenset({"satisfied", "basic"})
OLDEST = 5
CHUNK = 500  # case ids per IN list: far below SQLite's and asyncpg's parameter limits


@dataclass(frozen=True, slots=True)
class OverdueCase:
    number: str
    unit: str | None
    overdue_since: datetime


@dataclass(frozen=True, slots=True)
class Figures:
    new_total: int
    new_by_source: dict[str, int]
    new_by_category: dict[str, int]
    accepted: int
    resolved: int
    failed: int
    overdue_count: int
    overdue_oldest: tuple[OverdueCase, ...]
    major: tuple[str, ...]
    first_mediation_success: float | None  # 初次调解成功率
    one_time_closure: float | None  # 一次性办结率
    avg_handling_hours: float | None  # 平均办理时长
    satisfaction: float | None  # 回访满意率
    followups_answered: int


@dataclass(frozen=True, slots=True)
class Report:
    span: Span
    day: date
    start: datetime
    end: datetime
    now: Figures
    before: Figures  # the previous period

    def change(self, name: str) -> float | int | None:
        """`now` minus `before` for figure `name`: the plain difference for counts and rates
        (0.80 − 0.75 = 0.05), the difference in length for `major` and `overdue_oldest`;
        None when either side is None."""
        now, before = getattr(self.now, name), getattr(self.before, name)
        if now is None or before is None:
            return None
        if isinstance(now, tuple):
            return len(now) - len(before)
        if isinstance(now, dict):
            raise TypeError(f"{name} is a breakdown; compare its entries")
        return now - before


@dataclass(frozen=True, slots=True)
class _Event:
    id: int
    case_id: int
    kind: str
    at: datetime
    data: dict[str, Any]

    @property
    def key(self) -> tuple[datetime, int]:
        return (self.at, self.id)


# ---------------------------------------------------------------- periods


def _utc(at: datetime) -> datetime:
    if at.tzinfo is None:
        raise ValueError("statistics need timezone-aware datetimes")
    return at.astimezone(UTC)


def _midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)


def _first_of_next_month(day: date) -> date:
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


def period(day: date, span: Span, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The UTC bounds [start, end) of the local day, ISO week (Mon–Sun) or calendar month
    that contains `day`."""
    if span == "day":
        first, after = day, day + timedelta(days=1)
    elif span == "week":
        first = day - timedelta(days=day.weekday())
        after = first + timedelta(days=7)
    elif span == "month":
        first, after = day.replace(day=1), _first_of_next_month(day)
    else:
        raise ValueError(f"unknown span {span!r}")
    return _midnight(first, zone), _midnight(after, zone)


def previous(day: date, span: Span) -> date:
    """A day in the period before the one that contains `day`."""
    if span == "day":
        return day - timedelta(days=1)
    if span == "week":
        return day - timedelta(days=7)
    if span == "month":
        return day.replace(day=1) - timedelta(days=1)
    raise ValueError(f"unknown span {span!r}")


# ---------------------------------------------------------------- query helpers


def _within(region_path: str) -> ColumnElement[bool]:
    return Case.region_path.startswith(region_path, autoescape=True)


def _chunks(ids: Iterable[int]) -> Iterable[list[int]]:
    ordered = sorted(ids)
    for i in range(0, len(ordered), CHUNK):
        yield ordered[i : i + CHUNK]


async def _events_of(
    session: AsyncSession, case_ids: Iterable[int], kinds: Sequence[str], until: datetime
) -> dict[int, list[_Event]]:
    """The events of `kinds` of these cases at or before `until`, per case in (at, id) order."""
    found: dict[int, list[_Event]] = defaultdict(list)
    for chunk in _chunks(case_ids):
        rows = await session.execute(
            select(CaseEvent.id, CaseEvent.case_id, CaseEvent.kind, CaseEvent.at, CaseEvent.data)
            .where(
                CaseEvent.case_id.in_(chunk),
                CaseEvent.kind.in_(kinds),
                CaseEvent.at <= until,
            )
            .order_by(CaseEvent.case_id, CaseEvent.at, CaseEvent.id)
        )
        for id_, case_id, kind, at, data in rows:
            found[case_id].append(_Event(id_, case_id, kind, as_utc(at), data or {}))
    return found


def _share(hits: int, total: int) -> float | None:
    return hits / total if total else None


# ---------------------------------------------------------------- figures


async def figures(
    session: AsyncSession, region_path: str, start: datetime, end: datetime
) -> Figures:
    """Every figure for the cases under `region_path` over [start, end)."""
    start, end = _utc(start), _utc(end)
    by_source, by_category, major = await _new(session, region_path, start, end)
    counts = await _count_kinds(session, region_path, start, end)
    first, once, hours = await _outcome_rates(session, region_path, start, end)
    answered, satisfied = await _followups(session, region_path, start, end)
    overdue = await overdue_at(session, region_path, end)
    return Figures(
        new_total=sum(by_source.values()),
        new_by_source=by_source,
        new_by_category=by_category,
        accepted=counts.get("accept", 0),
        resolved=sum(counts.get(kind, 0) for kind in SUCCESS),
        failed=counts.get("fail", 0),
        overdue_count=len(overdue),
        overdue_oldest=tuple(overdue[:OLDEST]),
        major=major,
        first_mediation_success=first,
        one_time_closure=once,
        avg_handling_hours=hours,
        satisfaction=_share(satisfied, answered),
        followups_answered=answered,
    )


async def _new(
    session: AsyncSession, region_path: str, start: datetime, end: datetime
) -> tuple[dict[str, int], dict[str, int], tuple[str, ...]]:
    in_period = (
        CaseEvent.kind == "report",
        CaseEvent.at >= start,
        CaseEvent.at < end,
        _within(region_path),
    )
    # Group in an outer query: a JSON expression repeated in GROUP BY would get its own
    # bind parameter on PostgreSQL and no longer match the one in the select list.
    reports = (
        select(
            Case.source.label("source"),
            CaseEvent.data["category"].as_string().label("category"),
        )
        .join(Case, Case.id == CaseEvent.case_id)
        .where(*in_period)
        .subquery()
    )
    by_source: dict[str, int] = defaultdict(int)
    by_category: dict[str, int] = defaultdict(int)
    rows = await session.execute(
        select(reports.c.source, reports.c.category, func.count()).group_by(
            reports.c.source, reports.c.category
        )
    )
    for source, category, n in rows:
        by_source[source] += n
        by_category[category or "other"] += n
    major = await session.scalars(
        select(Case.number)
        .join(CaseEvent, Case.id == CaseEvent.case_id)
        .where(*in_period, CaseEvent.data["risk"].as_string() == "major")
        .order_by(CaseEvent.at, CaseEvent.id)
    )
    return _largest_first(by_source), _largest_first(by_category), tuple(major)


def _largest_first(counts: dict[str, int]) -> dict[str, int]:
    return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))


async def _count_kinds(
    session: AsyncSession, region_path: str, start: datetime, end: datetime
) -> dict[str, int]:
    rows = await session.execute(
        select(CaseEvent.kind, func.count())
        .join(Case, Case.id == CaseEvent.case_id)
        .where(
            CaseEvent.kind.in_(("accept", *OUTCOME)),
            CaseEvent.at >= start,
            CaseEvent.at < end,
            _within(region_path),
        )
        .group_by(CaseEvent.kind)
    )
    return {kind: n for kind, n in rows}


async def _outcome_rates(
    session: AsyncSession, region_path: str, start: datetime, end: datetime
) -> tuple[float | None, float | None, float | None]:
    """(初次调解成功率, 一次性办结率, 平均办理时长 in hours) over the period's outcomes."""
    rows = await session.execute(
        select(CaseEvent.id, CaseEvent.case_id, CaseEvent.kind, CaseEvent.at)
        .join(Case, Case.id == CaseEvent.case_id)
        .where(
            CaseEvent.kind.in_(OUTCOME),
            CaseEvent.at >= start,
            CaseEvent.at < end,
            _within(region_path),
        )
    )
    outcomes = [_Event(id_, case_id, kind, as_utc(at), {}) for id_, case_id, kind, at in rows]
    if not outcomes:
        return None, None, None
    history = await _events_of(session, {o.case_id for o in outcomes}, HISTORY, end)
    first = once = 0
    hours: list[float] = []
    for outcome in outcomes:
        events = history.get(outcome.case_id, [])
        before = [e for e in events if e.key < outcome.key]
        kinds = {e.kind for e in before}
        if outcome.kind in SUCCESS and not kinds & NOT_FIRST_SUCCESS:
            first += 1
        if not kinds & NOT_ONE_TIME:
            once += 1
        # The report is the case's first event; resolve_on_spot shares its instant.
        reported = [e.at for e in events if e.kind == "report" and e.at <= outcome.at]
        if reported:
            paused = sum(
                float(e.data.get("paused_seconds") or 0) for e in before if e.kind == "resume"
            )
            seconds = (outcome.at - min(reported)).total_seconds() - paused
            hours.append(seconds / 3600)
    mean = sum(hours) / len(hours) if hours else None
    return first / len(outcomes), once / len(outcomes), mean


async def _followups(
    session: AsyncSession, region_path: str, start: datetime, end: datetime
) -> tuple[int, int]:
    """(answered, rated satisfied or basic) among the period's followup events."""
    ratings = (
        select(CaseEvent.data["rating"].as_string().label("rating"))
        .join(Case, Case.id == CaseEvent.case_id)
        .where(
            CaseEvent.kind == "followup",
            CaseEvent.at >= start,
            CaseEvent.at < end,
            _within(region_path),
        )
        .subquery()
    )
    rows = await session.execute(select(ratings.c.rating, func.count()).group_by(ratings.c.rating))
    answered = satisfied = 0
    for rating, n in rows:
        answered += n
        if rating in SATISFIED:
            satisfied += n
    return answered, satisfied


# ---------------------------------------------------------------- overdue at an instant


async def overdue_at(session: AsyncSession, region_path: str, at: datetime) -> list[OverdueCase]:
    """The cases under `region_path` overdue at instant `at`, longest overdue first."""
    at = _utc(at)
    late = aliased(CaseEvent)
    was_overdue = (
        exists()
        .where(late.case_id == Case.id, late.kind == "overdue", late.at <= at)
        .correlate(Case)
    )
    open_now = select(Case.id, Case.number).where(
        Case.status.in_(OPEN_STATES), _within(region_path), was_overdue
    )
    closed_after = (
        select(Case.id, Case.number)
        .join(CaseEvent, Case.id == CaseEvent.case_id)
        .where(CaseEvent.kind.in_(CLOSING), CaseEvent.at > at, _within(region_path), was_overdue)
    )
    numbers = {
        case_id: number for case_id, number in await session.execute(union(open_now, closed_after))
    }
    if not numbers:
        return []
    found: list[OverdueCase] = []
    for case_id, events in (await _events_of(session, numbers, OVERDUE_RULE, at)).items():
        last = events[-1]
        if last.kind != "overdue":
            continue
        found.append(OverdueCase(numbers[case_id], _unit(events), last.at))
    return sorted(found, key=lambda c: (c.overdue_since, c.number))


def _unit(events: list[_Event]) -> str | None:
    """data["unit"] of the latest offer / reoffer / accept; an accept without it names the
    unit of the offer it accepted."""
    offered: dict[Any, str | None] = {}
    unit: str | None = None
    for event in events:
        if event.kind in ("offer", "reoffer"):
            unit = event.data.get("unit")
            offered[event.data.get("offer_id")] = unit
        elif event.kind == "accept":
            unit = event.data.get("unit") or offered.get(event.data.get("offer_id"))
    return unit


# ---------------------------------------------------------------- open at an instant


async def open_by_category(
    session: AsyncSession, region_path: str, at: datetime
) -> list[tuple[str, int]]:
    """The cases under `region_path` open at instant `at`, by category, largest first."""
    at = _utc(at)
    counts: dict[str, int] = defaultdict(int)
    later = aliased(CaseEvent)
    changed_after = (
        exists()
        .where(later.case_id == Case.id, later.kind.in_((*CLOSING, "reopen")), later.at > at)
        .correlate(Case)
    )
    # Open now, reported by `at`, and neither closed nor reopened since: open at `at`.
    steady = (
        select(CaseEvent.data["category"].as_string().label("category"))
        .select_from(Case)
        .join(CaseEvent, Case.id == CaseEvent.case_id)
        .where(
            Case.status.in_(OPEN_STATES),
            _within(region_path),
            CaseEvent.kind == "report",
            CaseEvent.at <= at,
            ~changed_after,
        )
        .subquery()
    )
    for category, n in await session.execute(
        select(steady.c.category, func.count()).group_by(steady.c.category)
    ):
        counts[category or "other"] += n
    # The rest — closed or reopened after `at` — go through the event rule.
    moved = await session.scalars(
        select(CaseEvent.case_id)
        .join(Case, Case.id == CaseEvent.case_id)
        .where(CaseEvent.kind.in_((*CLOSING, "reopen")), CaseEvent.at > at, _within(region_path))
        .distinct()
    )
    for events in (await _events_of(session, set(moved), OPEN_RULE, at)).values():
        if events[-1].kind in ("report", "reopen"):
            report = next((e for e in events if e.kind == "report"), None)
            category = report.data.get("category") if report is not None else None
            counts[category or "other"] += 1
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))


# ---------------------------------------------------------------- reports


async def report(
    session: AsyncSession, region_path: str, zone: ZoneInfo, day: date, span: Span = "day"
) -> Report:
    """The figures of the period containing `day`, and of the period before it."""
    start, end = period(day, span, zone)
    now = await figures(session, region_path, start, end)
    before = await figures(session, region_path, *period(previous(day, span), span, zone))
    return Report(span=span, day=day, start=start, end=end, now=now, before=before)


async def daily_series(
    session: AsyncSession, region_path: str, zone: ZoneInfo, last_day: date, days: int = 14
) -> list[tuple[date, int, int]]:
    """(local day, new, resolved) for the `days` days ending with `last_day`, zeros included."""
    if days < 1:
        raise ValueError("days must be at least 1")
    first = last_day - timedelta(days=days - 1)
    dates = [first + timedelta(days=i) for i in range(days)]
    bounds = [_midnight(d, zone) for d in [*dates, last_day + timedelta(days=1)]]
    columns = []
    for lo, hi in pairwise(bounds):
        in_day = (CaseEvent.at >= lo) & (CaseEvent.at < hi)
        columns.append(func.count(case((in_day & (CaseEvent.kind == "report"), 1))))
        columns.append(func.count(case((in_day & CaseEvent.kind.in_(SUCCESS), 1))))
    row = (
        await session.execute(
            select(*columns)
            .select_from(CaseEvent)
            .join(Case, Case.id == CaseEvent.case_id)
            .where(
                CaseEvent.kind.in_(("report", *SUCCESS)),
                CaseEvent.at >= bounds[0],
                CaseEvent.at < bounds[-1],
                _within(region_path),
            )
        )
    ).one()
    return [(d, row[2 * i], row[2 * i + 1]) for i, d in enumerate(dates)]
