"""Work statistics for leaders (每日工作情况): every figure is computed from `case_events`.

`cases` is read only for `region_path` (jurisdiction: a prefix test), `source` and `number`, so
a report for any past period can be regenerated later with the same numbers — the status
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
Nothing scans history; every query goes through one index, whatever the planner knows:
- a period's events are read through the (kind, at) index; the jurisdiction, number and
  source of each come from its case by primary key (correlated scalar subqueries — a join
  would let PostgreSQL hash-join all of `cases` once a period holds a few thousand events);
- the outcome-based rates also read the history of the cases that had an outcome in the
  period, by case_id;
- "overdue at T" and "open at T" never anti-join all history. A case open at T is either
  still open now (the workflow keeps `cases.status` in step) or has a closing event after
  T. So the candidates are the cases open now (the status index) plus those with a closing
  event after T (the (kind, at) index; few when T is recent — for overdue, only those with
  an overdue event by T), and the event rule is applied to those alone, ranked by a window
  function in the database. A report for a long-past T still gives the same numbers; it
  reads the cases closed since then, so it takes longer.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from sqlalchemy import (
    ColumnElement,
    SQLColumnExpression,
    case,
    func,
    or_,
    select,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncSession

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
CHUNK = 900  # case ids per IN list: below the 999 parameters of older SQLite builds
# Which event, of which case, what and when: the columns every history read starts with.
_EVENT_KEY = (CaseEvent.id, CaseEvent.case_id, CaseEvent.kind, CaseEvent.at)


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
        difference: float | int = now - before
        return difference


@dataclass(frozen=True, slots=True)
class _Event:
    id: int
    case_id: int
    kind: str
    at: datetime
    data: dict[str, Any]


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
#
# Plans that stay the same on PostgreSQL and SQLite, with or without statistics:
# - events of a period are read by kind and time, through the (kind, at) index;
# - the case an event belongs to is read by a correlated scalar subquery on the primary key
#   (never decorrelated into a join: a join lets PostgreSQL read all of `cases` for a hash
#   join once a period holds a few thousand events);
# - events of chosen cases are read by `case_id IN (subquery)` with the kind filter made
#   unindexable (see _not_indexed), so only the case_id index applies.


def _of_case(column: Any, case_id: Any) -> Any:
    """`column` of the case with id `case_id`, as a correlated scalar subquery."""
    return select(column).where(Case.id == case_id).scalar_subquery()


def _within(region_path: str, case_id: Any) -> ColumnElement[bool]:
    """The case `case_id` lies under `region_path` (a prefix test on its region_path)."""
    within: ColumnElement[bool] = _of_case(Case.region_path, case_id).startswith(
        region_path, autoescape=True
    )
    return within


def _not_indexed(column: SQLColumnExpression[str]) -> ColumnElement[str]:
    """`column || ''`: the same value, but no index applies to it.

    Without statistics (no ANALYZE has run) SQLite would serve `case_id IN (...) AND
    kind IN (...) AND at <= ...` from the (kind, at) index — every event of those kinds in
    history — instead of the few events per case that the case_id index finds.
    """
    return column.concat("")


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
                _not_indexed(CaseEvent.kind).in_(kinds),
                CaseEvent.at <= until,
            )
            .order_by(CaseEvent.case_id, CaseEvent.at, CaseEvent.id)
        )
        for id_, case_id, kind, at, data in rows:
            found[case_id].append(_Event(id_, case_id, kind, as_utc(at), data or {}))
    return found


def _candidates(at: datetime, had: str | None = None) -> Any:
    """The ids of the cases that may have been open at instant `at`: those open now, and
    those with a closing event after `at` (few when `at` is recent) — when `had` is given,
    only those of them with a `had` event at or before `at`.

    A case open at `at` is still open now or was closed since (the workflow keeps
    `cases.status` in step), so no other case needs to be read. Only `cases.id` is read
    for the open ones, so the status index covers that part.
    """
    open_now = select(Case.id).where(Case.status.in_(OPEN_STATES))
    closed_after = select(CaseEvent.case_id).where(CaseEvent.kind.in_(CLOSING), CaseEvent.at > at)
    if had is not None:
        # Start from the `had` events instead (the (kind, at) index): the cases that were
        # ever overdue are far fewer than the open ones, whose events would all be ranked.
        with_had = select(CaseEvent.case_id).where(CaseEvent.kind == had, CaseEvent.at <= at)
        return select(Case.id).where(
            Case.id.in_(with_had),
            or_(Case.status.in_(OPEN_STATES), Case.id.in_(closed_after)),
        )
    return union_all(open_now, closed_after)


async def _latest(
    session: AsyncSession,
    region_path: str,
    at: datetime,
    kinds: Sequence[str],
    pick: Sequence[str],
    had: str | None = None,
    candidates: Any = None,
) -> list[tuple[int, str, datetime, str | None]]:
    """(case id, number, at, category) of the cases under `region_path`, among
    _candidates(at, had), whose latest event of `kinds` at or before `at` — in (at, id)
    order — is one of `pick`; category is the report's when `kinds` include the report.

    Ranked in the database (window functions: PostgreSQL, SQLite ≥ 3.25), so one row per
    case that qualifies comes back.
    """
    category = CaseEvent.data["category"].as_string()
    ranked = (
        select(
            CaseEvent.case_id,
            CaseEvent.kind,
            CaseEvent.at,
            func.max(case((CaseEvent.kind == "report", category)))
            .over(partition_by=CaseEvent.case_id)
            .label("category"),
            func.row_number()
            .over(
                partition_by=CaseEvent.case_id,
                order_by=(CaseEvent.at.desc(), CaseEvent.id.desc()),
            )
            .label("rank"),
        )
        .where(
            CaseEvent.case_id.in_(_candidates(at, had) if candidates is None else candidates),
            _not_indexed(CaseEvent.kind).in_(kinds),
            CaseEvent.at <= at,
        )
        .subquery()
    )
    rows = await session.execute(
        select(
            ranked.c.case_id,
            _of_case(Case.number, ranked.c.case_id),
            ranked.c.at,
            ranked.c.category,
        ).where(
            ranked.c.rank == 1,
            ranked.c.kind.in_(pick),
            _within(region_path, ranked.c.case_id),
        )
    )
    return [(case_id, number, as_utc(t), cat) for case_id, number, t, cat in rows]


def _share(hits: int, total: int) -> float | None:
    return hits / total if total else None


# ---------------------------------------------------------------- figures


@dataclass(frozen=True, slots=True)
class _PeriodEvent:
    id: int
    case_id: int
    kind: str
    at: datetime
    number: str | None  # these four for reports only
    source: str | None
    category: str | None
    risk: str | None
    rating: str | None

    @property
    def key(self) -> tuple[datetime, int]:
        return (self.at, self.id)


PERIOD_KINDS = ("report", "accept", *OUTCOME, "followup")


async def figures(
    session: AsyncSession, region_path: str, start: datetime, end: datetime
) -> Figures:
    """Every figure for the cases under `region_path` over [start, end)."""
    start, end = _utc(start), _utc(end)
    in_period = (
        CaseEvent.kind.in_(PERIOD_KINDS),
        CaseEvent.at >= start,
        CaseEvent.at < end,
        _within(region_path, CaseEvent.case_id),
    )
    is_report = CaseEvent.kind == "report"
    rows = await session.execute(
        select(
            *_EVENT_KEY,
            # CASE is evaluated lazily: the lookups and JSON reads only for the rows that
            # need them (a `json` column is parsed again for every ->>).
            case((is_report, _of_case(Case.number, CaseEvent.case_id))),
            case((is_report, _of_case(Case.source, CaseEvent.case_id))),
            case((is_report, CaseEvent.data["category"].as_string())),
            case((is_report, CaseEvent.data["risk"].as_string())),
            case((CaseEvent.kind == "followup", CaseEvent.data["rating"].as_string())),
        )
        .where(*in_period)
        .order_by(CaseEvent.at, CaseEvent.id)
    )
    events = [_PeriodEvent(i, c, kind, as_utc(at), *rest) for i, c, kind, at, *rest in rows]
    by_source: dict[str, int] = defaultdict(int)
    by_category: dict[str, int] = defaultdict(int)
    major: list[str] = []
    counts: dict[str, int] = defaultdict(int)
    answered = satisfied = 0
    for event in events:
        counts[event.kind] += 1
        if event.kind == "report":
            by_source[event.source or ""] += 1
            by_category[event.category or "other"] += 1
            if event.risk == "major":
                major.append(event.number or "")
        elif event.kind == "followup":
            answered += 1
            satisfied += event.rating in SATISFIED
    first, once, hours = await _outcome_rates(
        session, [e for e in events if e.kind in OUTCOME], end
    )
    overdue_count, overdue_oldest = await overdue_at(session, region_path, end, OLDEST)
    return Figures(
        new_total=counts["report"],
        new_by_source=_largest_first(by_source),
        new_by_category=_largest_first(by_category),
        accepted=counts["accept"],
        resolved=sum(counts[kind] for kind in SUCCESS),
        failed=counts["fail"],
        overdue_count=overdue_count,
        overdue_oldest=tuple(overdue_oldest),
        major=tuple(major),
        first_mediation_success=first,
        one_time_closure=once,
        avg_handling_hours=hours,
        satisfaction=_share(satisfied, answered),
        followups_answered=answered,
    )


def _largest_first(counts: dict[str, int]) -> dict[str, int]:
    return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))


async def _outcome_rates(
    session: AsyncSession, outcomes: list[_PeriodEvent], end: datetime
) -> tuple[float | None, float | None, float | None]:
    """(初次调解成功率, 一次性办结率, 平均办理时长 in hours) over the period's outcomes."""
    if not outcomes:
        return None, None, None
    history: dict[int, list[tuple[tuple[datetime, int], str, float | None]]] = defaultdict(list)
    for chunk in _chunks({o.case_id for o in outcomes}):
        rows = await session.execute(
            select(
                *_EVENT_KEY,
                CaseEvent.data["paused_seconds"].as_float(),
            ).where(
                CaseEvent.case_id.in_(chunk),
                _not_indexed(CaseEvent.kind).in_(HISTORY),
                CaseEvent.at < end,
            )
        )
        for id_, case_id, kind, at, paused in rows:
            history[case_id].append(((as_utc(at), id_), kind, paused))
    first = once = 0
    hours: list[float] = []
    for outcome in outcomes:
        events = history.get(outcome.case_id, [])
        before = [(kind, paused) for key, kind, paused in events if key < outcome.key]
        kinds = {kind for kind, _ in before}
        if outcome.kind in SUCCESS and not kinds & NOT_FIRST_SUCCESS:
            first += 1
        if not kinds & NOT_ONE_TIME:
            once += 1
        # The report is the case's first event; resolve_on_spot shares its instant.
        reported = [key[0] for key, kind, _ in events if kind == "report" and key[0] <= outcome.at]
        if reported:
            paused = sum(p or 0.0 for kind, p in before if kind == "resume")
            seconds = (outcome.at - min(reported)).total_seconds() - paused
            hours.append(seconds / 3600)
    mean = sum(hours) / len(hours) if hours else None
    return first / len(outcomes), once / len(outcomes), mean


# ---------------------------------------------------------------- overdue at an instant


async def overdue_at(
    session: AsyncSession, region_path: str, at: datetime, limit: int | None = None
) -> tuple[int, list[OverdueCase]]:
    """How many cases under `region_path` are overdue at instant `at`, and the `limit`
    longest overdue of them (all when None), oldest first."""
    at = _utc(at)
    found = sorted(
        (since, number, case_id)
        for case_id, number, since, _ in await _latest(
            session, region_path, at, OVERDUE_RULE, ("overdue",), had="overdue"
        )
    )
    # Units only for the cases listed; counting needs none.
    shown = found if limit is None else found[:limit]
    history = await _events_of(
        session, {case_id for _, _, case_id in shown}, ("offer", "reoffer", "accept"), at
    )
    return len(found), [
        OverdueCase(number, _unit(history.get(case_id, [])), since)
        for since, number, case_id in shown
    ]


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
    """The cases under `region_path` open at instant `at`, by category, largest first.

    Two parts, so that a report about today costs what changed since, not what is open:
    a case open now with no report, reopen or closing event after `at` was open at `at`
    exactly when it was reported by then (its latest such event is its latest overall, and
    the workflow keeps `cases.status` in step) — those are counted with one grouped query;
    only the cases with such an event after `at` need their history (the window rule).
    """
    at = _utc(at)
    moved = select(CaseEvent.case_id).where(CaseEvent.kind.in_(OPEN_RULE), CaseEvent.at > at)
    counts: dict[str, int] = defaultdict(int)
    quiet = await session.execute(
        select(Case.category, func.count())
        .where(
            Case.status.in_(OPEN_STATES),
            Case.created_at <= at,
            Case.region_path.startswith(region_path, autoescape=True),
            Case.id.not_in(moved),
        )
        .group_by(Case.category)
    )
    for unchanged, count in quiet.all():
        counts[unchanged or "other"] += int(count)
    for *_, category in await _latest(
        session, region_path, at, OPEN_RULE, ("report", "reopen"), candidates=moved
    ):
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
    rows = await session.execute(
        select(CaseEvent.kind, CaseEvent.at).where(
            CaseEvent.kind.in_(("report", *SUCCESS)),
            CaseEvent.at >= bounds[0],
            CaseEvent.at < bounds[-1],
            _within(region_path, CaseEvent.case_id),
        )
    )
    new, resolved = [0] * days, [0] * days
    for kind, at in rows:
        day = bisect_right(bounds, as_utc(at)) - 1
        (new if kind == "report" else resolved)[day] += 1
    return list(zip(dates, new, resolved, strict=True))
