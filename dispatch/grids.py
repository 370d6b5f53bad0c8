"""Graded grids (网格分级分类): each grid's indicators from what the system knows, the weighted
score and the grade it proposes (dispatch/data/grids.yaml), patrols and rectifications
(巡查/整治), the monthly patrol quota of each grade, and the half-yearly grading that the
county centre's dispatcher confirms in chat.

Grades: key 重点, concern 关注, normal 常态 (every grid is normal until graded).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, PlainValidator
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from dispatch import outbox, points
from dispatch.cases import OPEN_STATES
from dispatch.clock import Clock, as_utc
from dispatch.context import Ctx, Domain
from dispatch.datafile import DataFileError, DataModel, parse_model, read_text
from dispatch.keypersons import add_months, month_start, next_month, previous_month
from dispatch.messages import Button, Reply, t
from dispatch.org import CENTRE_READERS, ancestors
from dispatch.payloads import GridGrade
from dispatch.recipients import people_at
from storage.database import Sessions
from storage.models import (
    Case,
    CaseEvent,
    GridGradeChange,
    GridPatrol,
    GridState,
    KeyPerson,
    Person,
    Region,
    Unit,
)

GRADES = ("key", "concern", "normal")
INDICATORS = (
    "disputes_reported",
    "disputes_open",
    "major_risk",
    "overdue",
    "key_persons_tier1",
    "key_persons_tier2",
    "key_persons_tier3",
    "key_places",
    "patrols_done",
)
DEFAULT_GRIDS_PATH = Path(__file__).parent / "data" / "grids.yaml"


class GridRefused(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# -- the model file --------------------------------------------------------------------------


def _weight(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"expected a number, got {value!r}")
    return float(value)


Weight = Annotated[float, PlainValidator(_weight)]


class _Weights(DataModel):
    disputes_reported: Weight
    disputes_open: Weight
    major_risk: Weight
    overdue: Weight
    key_persons_tier1: Weight
    key_persons_tier2: Weight
    key_persons_tier3: Weight
    key_places: Weight
    patrols_done: Weight


class _Thresholds(DataModel):
    key: Weight
    concern: Weight


class _Quota(DataModel):
    key: int = Field(ge=0, le=31)
    concern: int = Field(ge=0, le=31)
    normal: int = Field(ge=0, le=31)


class _QuotaLadder(DataModel):
    remind_day: int = Field(ge=1, le=28)
    dispatcher_day: int = Field(ge=1, le=28)


class _GridsFile(DataModel):
    window_months: int = Field(ge=1, le=24)
    weights: _Weights
    thresholds: _Thresholds
    patrols_per_month: _Quota
    quota_ladder: _QuotaLadder


@dataclass(frozen=True, slots=True)
class GridModel:
    window_months: int
    weights: dict[str, float]
    key_at: float
    concern_at: float
    quota: dict[str, int]
    remind_day: int
    dispatcher_day: int

    @classmethod
    def load(cls, path: Path | None = None) -> GridModel:
        path = path or DEFAULT_GRIDS_PATH
        return cls.parse(read_text(path), source=str(path))

    @classmethod
    def parse(cls, text: str, *, source: str = "grids model") -> GridModel:
        model = parse_model(_GridsFile, text, source)
        if model.thresholds.key <= model.thresholds.concern:
            raise DataFileError([f"{source}: thresholds.key: must be above thresholds.concern"])
        return cls(
            window_months=model.window_months,
            weights={name: getattr(model.weights, name) for name in INDICATORS},
            key_at=model.thresholds.key,
            concern_at=model.thresholds.concern,
            quota={g: getattr(model.patrols_per_month, g) for g in GRADES},
            remind_day=model.quota_ladder.remind_day,
            dispatcher_day=model.quota_ladder.dispatcher_day,
        )

    def score(self, values: dict[str, int]) -> float:
        return round(sum(self.weights[name] * values.get(name, 0) for name in INDICATORS), 2)

    def grade_for(self, score: float) -> str:
        if score >= self.key_at:
            return "key"
        if score >= self.concern_at:
            return "concern"
        return "normal"


@cache
def default_grid_model() -> GridModel:
    return GridModel.load()


# -- indicators --------------------------------------------------------------------------------


async def _count(session: AsyncSession, stmt: Any) -> int:
    return int(await session.scalar(stmt) or 0)


async def indicators(
    session: AsyncSession, grid: str, since: datetime, key_places: int
) -> dict[str, int]:
    """What the system knows about a grid since `since` (open disputes and key persons:
    now)."""
    in_grid = Case.region_code == grid
    counted = select(func.count()).select_from(Case)
    values = {
        "disputes_reported": await _count(
            session, counted.where(in_grid, Case.created_at >= since)
        ),
        "disputes_open": await _count(
            session, counted.where(in_grid, Case.status.in_(OPEN_STATES))
        ),
        "major_risk": await _count(
            session, counted.where(in_grid, Case.risk == "major", Case.created_at >= since)
        ),
        "overdue": await _count(
            session,
            select(func.count(func.distinct(CaseEvent.case_id)))
            .join(Case, Case.id == CaseEvent.case_id)
            .where(in_grid, CaseEvent.kind == "overdue", CaseEvent.at >= since),
        ),
        "key_places": key_places,
        "patrols_done": await _count(
            session,
            select(func.count())
            .select_from(GridPatrol)
            .where(GridPatrol.region_code == grid, GridPatrol.at >= since),
        ),
    }
    for tier in (1, 2, 3):
        values[f"key_persons_tier{tier}"] = await _count(
            session,
            select(func.count())
            .select_from(KeyPerson)
            .where(
                KeyPerson.region_code == grid, KeyPerson.status == "active", KeyPerson.tier == tier
            ),
        )
    return values


async def state_of(session: AsyncSession, grid: str) -> GridState:
    """The grid's state row, created (normal, no key places) on first use."""
    state = await session.get(GridState, grid)
    if state is None:
        state = GridState(region_code=grid, grade="normal", key_places=0, proposal={}, version=1)
        session.add(state)
        await session.flush()
    return state


def _local_month(clock: Clock, domain_zone: Any) -> date:
    return month_start(clock.now().astimezone(domain_zone).date())


def _month_bounds(month: date, zone: Any) -> tuple[datetime, datetime]:
    start = datetime.combine(month, datetime.min.time(), zone)
    end = datetime.combine(next_month(month), datetime.min.time(), zone)
    return start, end


async def patrols_in(session: AsyncSession, grid: str, month: date, zone: Any) -> int:
    start, end = _month_bounds(month, zone)
    return await _count(
        session,
        select(func.count())
        .select_from(GridPatrol)
        .where(GridPatrol.region_code == grid, GridPatrol.at >= start, GridPatrol.at < end),
    )


# -- patrols -------------------------------------------------------------------------------------


@dataclass(slots=True)
class PatrolDraft:
    kind: str  # patrol | rectify
    done: str
    found: str
    photos: list[str] = field(default_factory=list)


async def grid_of(session: AsyncSession, person: Person) -> Region | None:
    """The grid a staff member patrols: their own grid (a grid worker's home region)."""
    if person.region_code is None:
        return None
    region = await session.get(Region, person.region_code)
    return region if region is not None and region.level == "grid" else None


async def record_patrol(ctx: Ctx, person: Person, draft: PatrolDraft) -> GridPatrol:
    """A patrol or rectification of the person's own grid; GridRefused "grid.no_grid" for
    someone without one."""
    grid = await grid_of(ctx.session, person)
    if grid is None or person.role == "citizen" or person.disabled_at is not None:
        raise GridRefused("grid.no_grid")
    patrol = GridPatrol(
        region_code=grid.code,
        person_id=person.id,
        kind=draft.kind,
        done=draft.done[:500],
        found=draft.found[:500],
        photos=list(draft.photos)[:9],
        at=ctx.clock.now(),
    )
    ctx.session.add(patrol)
    await ctx.session.flush()
    return patrol


# -- listing ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GridLine:
    code: str
    name: str
    grade: str
    score: float
    values: dict[str, int]
    patrols: int
    quota: int
    proposed: str | None


async def grid_lines(
    session: AsyncSession,
    domain: Domain,
    model: GridModel,
    *,
    grade: str | None = None,
    region: str | None = None,
    limit: int | None = None,
) -> list[GridLine]:
    """Every grid (under `region`, of `grade`) with its indicators, score and this month's
    patrols against its quota."""
    stmt = select(Region).where(Region.level == "grid")
    if region is not None:
        found = await session.get(Region, region)
        if found is None:
            return []
        stmt = stmt.where(Region.path.startswith(found.path))
    grids = list((await session.scalars(stmt.order_by(Region.code))).all())
    states = {s.region_code: s for s in (await session.scalars(select(GridState))).all()}
    now = domain.clock.now()
    since = add_months(now, -model.window_months)
    month = _local_month(domain.clock, domain.zone)
    lines = []
    for grid in grids:
        state = states.get(grid.code)
        current = state.grade if state else "normal"
        if grade is not None and current != grade:
            continue
        values = await indicators(session, grid.code, since, state.key_places if state else 0)
        lines.append(
            GridLine(
                code=grid.code,
                name=grid.name,
                grade=current,
                score=model.score(values),
                values=values,
                patrols=await patrols_in(session, grid.code, month, domain.zone),
                quota=model.quota[current],
                proposed=state.proposed_grade if state and state.proposed_at else None,
            )
        )
        if limit is not None and len(lines) >= limit:
            break
    return lines


async def may_enter_places(session: AsyncSession, person: Person, grid: Region) -> bool:
    """The dispatchers, leaders and admins of a centre over the grid, at any level."""
    if person.role not in CENTRE_READERS or person.disabled_at is not None:
        return False
    unit = await session.get(Unit, person.unit_code) if person.unit_code else None
    if unit is None or unit.kind != "center":
        return False
    region = await session.get(Region, unit.region_code)
    return region is not None and grid.path.startswith(region.path)


async def set_key_places(session: AsyncSession, grid: str, count: int) -> GridState:
    region = await session.get(Region, grid)
    if region is None or region.level != "grid":
        raise GridRefused("grid.unknown")
    state = await state_of(session, grid)
    state.key_places = count
    return state


# -- the monthly quota ---------------------------------------------------------------------------


@dataclass(slots=True)
class Tally:
    done: Counter[str] = field(default_factory=Counter)

    def summary(self) -> str:
        return ", ".join(f"{k} {v}" for k, v in sorted(self.done.items())) or "nothing due"


async def _workers_of(session: AsyncSession, grid: str) -> list[Person]:
    rows = await session.scalars(
        select(Person).where(
            Person.region_code == grid,
            Person.role == "grid_worker",
            Person.disabled_at.is_(None),
        )
    )
    return list(rows.all())


async def _centre_staff(
    session: AsyncSession, grid: str, level: str, roles: list[str]
) -> list[Person]:
    region = await session.get(Region, grid)
    if region is None:
        return []
    codes = [r.code for r in await ancestors(session, region) if r.level == level]
    return await people_at(session, codes, roles)


async def check_quotas(sessions: Sessions, domain: Domain, model: GridModel) -> Tally:
    """The `quotas` job: each graded grid's patrols this month against its grade's quota.

    From `remind_day` a month still short reminds the grid's workers; from `dispatcher_day`
    of the next month a month that ended short goes to the township centre's dispatchers.
    The month a grid was graded in is not counted.
    Each notice once per grid, month and person (its dedupe key)."""
    tally = Tally()
    today = domain.clock.now().astimezone(domain.zone).date()
    this_month, last_month = month_start(today), previous_month(today)
    due: list[tuple[date, str]] = []
    if today.day >= model.remind_day:
        due.append((this_month, "remind"))
    if today.day >= model.dispatcher_day:
        due.append((last_month, "dispatcher"))
    if not due:
        return tally
    async with sessions.read() as reading:
        graded = list(
            (await reading.scalars(select(GridState).where(GridState.grade != "normal"))).all()
        )
    for state in graded:
        quota = model.quota[state.grade]
        if quota <= 0:
            continue
        if state.graded_at is None:
            continue
        graded_on = as_utc(state.graded_at).astimezone(domain.zone).date()
        async with sessions() as session, session.begin():
            grid = await session.get_one(Region, state.region_code)
            for month, step in due:
                if graded_on > month:
                    continue  # graded during that month: its first, partial month is free
                done = await patrols_in(session, grid.code, month, domain.zone)
                # A month that is over goes into the points ledger, met or not.
                if step == "dispatcher" and await _award_month(
                    session, domain, grid, month, done >= quota
                ):
                    tally.done["points"] += 1
                if done >= quota:
                    continue
                if step == "remind":
                    people = await _workers_of(session, grid.code)
                    key = "grid.quota_remind"
                else:
                    people = await _centre_staff(session, grid.code, "township", ["dispatcher"])
                    key = "grid.quota_dispatcher"
                params = {
                    "grid": grid.name,
                    "grade": t(f"grid.grade_{state.grade}"),
                    "period": f"{month:%Y-%m}",
                    "patrols": done,
                    "quota": quota,
                }
                for person in people:
                    queued = await outbox.enqueue(
                        session,
                        domain.clock,
                        person.id,
                        Reply(key, params),
                        purpose="grid",
                        dedupe_key=f"grid-quota:{grid.code}:{month:%Y-%m}:{step}:{person.id}",
                    )
                    if queued is not None:
                        tally.done[step] += 1
    return tally


async def _award_month(
    session: AsyncSession, domain: Domain, grid: Region, month: date, met: bool
) -> bool:
    """patrol_quota_met or patrol_quota_missed to the nearest centre over the grid (the
    village's 综治中心 that runs its grid workers), once per grid and month."""
    codes = [r.code for r in await ancestors(session, grid)]
    centres = {
        u.region_code: u
        for u in await session.scalars(
            select(Unit).where(Unit.region_code.in_(codes), Unit.kind == "center")
        )
    }
    unit = next((centres[c] for c in codes if c in centres), None)
    if unit is None:
        return False
    # Dated the last moment of the month it is about, so it counts in that month's ranking.
    at = datetime.combine(next_month(month), datetime.min.time(), domain.zone) - timedelta(
        seconds=1
    )
    return await points.award(
        session,
        domain.rules,
        rule="patrol_quota_met" if met else "patrol_quota_missed",
        at=at,
        case_id=None,
        person_id=None,
        unit_code=unit.code,
        key=f"grid:{grid.code}:{month:%Y-%m}",
    )


# -- the half-yearly grading -------------------------------------------------------------------


async def propose_grades(sessions: Sessions, domain: Domain, model: GridModel) -> Tally:
    """The `grading` job: the model's grade for every grid. A proposal equal to the grade is
    kept at once (a history row); one that differs waits for the county centre's
    dispatchers, who get one list per county with a button for each grade of each grid."""
    tally = Tally()
    now = domain.clock.now()
    async with sessions() as session, session.begin():
        lines = await grid_lines(session, domain, model)
        changed: dict[str, list[GridLine]] = {}
        for line in lines:
            state = await state_of(session, line.code)
            proposed = model.grade_for(line.score)
            if proposed == state.grade:
                state.proposed_grade = None
                state.proposed_at = None
                state.version += 1
                session.add(
                    GridGradeChange(
                        region_code=line.code,
                        grade=proposed,
                        previous=state.grade,
                        proposed=proposed,
                        score=line.score,
                        indicators=line.values,
                        decided_by=None,
                        at=now,
                    )
                )
                tally.done["kept"] += 1
                continue
            state.proposed_grade = proposed
            state.proposed_score = line.score
            state.proposed_at = now
            state.proposal = line.values
            state.version += 1
            region = await session.get_one(Region, line.code)
            county = next(
                (r.code for r in await ancestors(session, region) if r.level == "county"), ""
            )
            changed.setdefault(county, []).append(line)
            tally.done["proposed"] += 1
        for county, proposals in changed.items():
            dispatchers = await people_at(session, [county], ["dispatcher"])
            reply = proposals_reply(proposals, model)
            for person in dispatchers:
                await outbox.enqueue(
                    session,
                    domain.clock,
                    person.id,
                    reply,
                    purpose="grid",
                    dedupe_key=f"grid-grading:{county}:{now.isoformat()}:{person.id}"[:128],
                )
    return tally


def proposals_reply(proposals: list[GridLine], model: GridModel) -> Reply:
    """The list the county's dispatcher confirms: each grid's current and proposed grade and
    score, and a row of three buttons per grid (the proposed one marked)."""
    lines = [
        {
            "$t": "grid.proposal_line",
            "grid": line.name,
            "current": t(f"grid.grade_{line.grade}"),
            "proposed": t(f"grid.grade_{model.grade_for(line.score)}"),
            "score": line.score,
        }
        for line in proposals
    ]
    rows = []
    for line in proposals[:30]:
        proposed = model.grade_for(line.score)
        rows.append(
            tuple(
                Button(
                    "grid.grade_button_proposed" if grade == proposed else "grid.grade_button",
                    GridGrade.of(line.code, grade).pack(),
                    params={"grid": line.name, "grade": t(f"grid.grade_{grade}")},
                )
                for grade in GRADES
            )
        )
    return Reply("grid.proposals", {"lines": lines, "count": len(proposals)}, tuple(rows))


async def may_grade(session: AsyncSession, person: Person, grid: Region) -> bool:
    """The dispatchers (and leaders, admins) of the county centre over the grid."""
    if person.role not in CENTRE_READERS or person.disabled_at is not None:
        return False
    unit = await session.get(Unit, person.unit_code) if person.unit_code else None
    if unit is None or unit.kind != "center":
        return False
    region = await session.get(Region, unit.region_code)
    return region is not None and region.level == "county" and grid.path.startswith(region.path)


async def decide_grade(ctx: Ctx, person: Person, grid_code: str, grade: str) -> GridState:
    """The county's dispatcher confirms the proposal or picks another grade: the grade set, a
    history row with the proposal and its figures. GridRefused "grid.not_yours" for anyone
    else, "grid.no_proposal" when nothing waits."""
    session = ctx.session
    grid = await session.get(Region, grid_code)
    if grid is None or grid.level != "grid" or not await may_grade(session, person, grid):
        raise GridRefused("grid.not_yours")
    state = await session.get(GridState, grid_code)
    if state is None or state.proposed_at is None:
        raise GridRefused("grid.no_proposal")
    session.add(
        GridGradeChange(
            region_code=grid_code,
            grade=grade,
            previous=state.grade,
            proposed=state.proposed_grade,
            score=state.proposed_score,
            indicators=dict(state.proposal or {}),
            decided_by=person.id,
            at=ctx.clock.now(),
        )
    )
    state.grade = grade
    state.graded_at = ctx.clock.now()
    state.proposed_grade = None
    state.proposed_at = None
    state.version += 1
    return state


def graded_at_text(state: GridState, zone: Any) -> str:
    return as_utc(state.graded_at).astimezone(zone).strftime("%Y-%m-%d") if state.graded_at else "-"


async def month_figures(
    session: AsyncSession, domain: Domain, path: str, month: date
) -> dict[str, int]:
    """For the leaders' monthly report: graded grids under `path` by grade, and of those
    graded before `month`, how many had the month's patrols."""
    rows = await session.execute(
        select(GridState)
        .join(Region, Region.code == GridState.region_code)
        .where(Region.path.startswith(path), GridState.grade != "normal")
    )
    figures = {"key": 0, "concern": 0, "due": 0, "met": 0}
    for (state,) in rows.all():
        figures[state.grade] += 1
        graded = state.graded_at
        if graded is None or as_utc(graded).astimezone(domain.zone).date() > month:
            continue
        figures["due"] += 1
        done = await patrols_in(session, state.region_code, month, domain.zone)
        if done >= domain.grids.quota[state.grade]:
            figures["met"] += 1
    return figures
