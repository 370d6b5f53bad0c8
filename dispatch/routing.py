"""Where a case goes: by risk to a level, by category to a unit, by load to a person.

general → village, significant → township, major → county (docs/architecture.md, "The
case life cycle"). A level with no unit that handles the category, or with nobody left to
take it, passes it up.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from dispatch.org import ancestors, root_region
from dispatch.rows import fetch_rows
from dispatch.vocab import LEVELS
from storage.models import Case, CaseOffer, Person, Region, Unit

TARGET_LEVEL = {"general": "village", "significant": "township", "major": "county"}


@dataclass(frozen=True, slots=True)
class Target:
    unit: Unit
    person: Person
    as_dispatcher: bool  # nobody in the handling units was left; the centre triages it


def handles(unit: Unit, category: str) -> bool:
    return "all" in unit.categories or category in unit.categories


def _unit_order(unit: Unit, category: str) -> tuple[int, int, str]:
    # A unit that names the category (人社局 for wages) before one that takes everything,
    # and a mediation committee or department before the centre, which is the triage desk.
    specific = 0 if category in unit.categories else 1
    kind = {"department": 0, "mediation": 0, "center": 1}.get(unit.kind, 2)
    return (specific, kind, unit.code)


async def _least_loaded(
    session: AsyncSession, unit_code: str, role: str, exclude: set[int]
) -> Person | None:
    """The person of `role` in the unit with the fewest open cases and open offers."""
    open_cases = (
        select(func.count(Case.id))
        .where(Case.assignee_id == Person.id, Case.status == "in_progress")
        .scalar_subquery()
    )
    open_offers = (
        select(func.count(CaseOffer.id))
        .where(CaseOffer.person_id == Person.id, CaseOffer.state == "open")
        .scalar_subquery()
    )
    stmt = (
        select(Person)
        .where(Person.unit_code == unit_code, Person.role == role, Person.disabled_at.is_(None))
        .order_by((open_cases + open_offers).asc(), Person.id.asc())
        .limit(1)
    )
    if exclude:
        stmt = stmt.where(Person.id.not_in(exclude))
    return await session.scalar(stmt)


def candidate_regions(chain: list[Region], risk: str, above_level: str | None) -> list[Region]:
    """Regions to try, nearest first, at the risk's level or higher (and above `above_level`)."""
    ceiling = LEVELS.index(TARGET_LEVEL.get(risk, "village"))
    if above_level is not None:
        ceiling = min(ceiling, LEVELS.index(above_level) - 1)
    return [r for r in chain if LEVELS.index(r.level) <= ceiling]


async def choose_target(
    session: AsyncSession,
    case: Case,
    *,
    exclude: Iterable[int] = (),
    above_level: str | None = None,
) -> Target | None:
    """The person to offer `case` to next, or None when nobody anywhere can take it.

    Outcomes, level by level from the risk's level upwards:
    - a unit there handles the category and has a mediator not yet tried → that mediator
      (fewest open cases first);
    - units handle it but every mediator was tried (or there are none) → a dispatcher of
      that level's centre;
    - no unit or nobody at all → the next level up; past the top → None.
    """
    excluded = set(exclude)
    region = await session.get(Region, case.region_code) if case.region_code else None
    if region is None:
        region = await root_region(session)
        if region is None:
            return None
    chain = await ancestors(session, region)
    for level_region in candidate_regions(chain, case.risk, above_level):
        units = (
            await session.scalars(select(Unit).where(Unit.region_code == level_region.code))
        ).all()
        handling = sorted(
            (u for u in units if handles(u, case.category)),
            key=lambda u: _unit_order(u, case.category),
        )
        for unit in handling:
            mediator = await _least_loaded(session, unit.code, "mediator", excluded)
            if mediator is not None:
                return Target(unit, mediator, as_dispatcher=False)
        for centre in (u for u in units if u.kind == "center"):
            dispatcher = await _least_loaded(session, centre.code, "dispatcher", excluded)
            if dispatcher is not None:
                return Target(centre, dispatcher, as_dispatcher=True)
    return None


async def _case_region(session: AsyncSession, case: Case) -> Region | None:
    """Where the case happened; the top region when it has no place."""
    region = await session.get(Region, case.region_code) if case.region_code else None
    return region if region is not None else await root_region(session)


async def nearest_centre(
    session: AsyncSession, region: Region, exclude: Iterable[int] = ()
) -> Target | None:
    """A dispatcher (not in `exclude`) of the centre nearest `region`, walking up its
    ancestors through every level; None when no centre on the way has one."""
    excluded = set(exclude)
    for level_region in await ancestors(session, region):
        centres = await fetch_rows(
            session,
            Unit,
            Unit.region_code == level_region.code,
            Unit.kind == "center",
            order_by=Unit.code,
        )
        for centre in centres:
            dispatcher = await _least_loaded(session, centre.code, "dispatcher", excluded)
            if dispatcher is not None:
                return Target(centre, dispatcher, as_dispatcher=True)
    return None


async def centre_target(session: AsyncSession, case: Case) -> Target | None:
    """The dispatcher of the centre over the case's last unit (or its place), nearest first:
    where a reopened case goes back to."""
    region = None
    if case.unit_code is not None:
        unit = await session.get(Unit, case.unit_code)
        region = await session.get(Region, unit.region_code) if unit else None
    if region is None:
        region = await _case_region(session, case)
        if region is None:
            return None
    return await nearest_centre(session, region)


async def fallback_centre(
    session: AsyncSession, case: Case, exclude: Iterable[int] = ()
) -> Target | None:
    """When routing names nobody at the risk's level or above: the dispatcher of the centre
    nearest the case's place, at any level (a village centre triages a major case rather
    than nobody at all)."""
    region = await _case_region(session, case)
    return await nearest_centre(session, region, exclude) if region is not None else None


async def top_centre(session: AsyncSession, case: Case) -> Unit | None:
    """The centre whose queue holds a case nobody can take: the highest level over the
    case's place that has a centre; None when the organisation has no centre at all."""
    region = await _case_region(session, case)
    if region is None:
        return None
    for level_region in reversed(await ancestors(session, region)):
        centre = await session.scalar(
            select(Unit)
            .where(Unit.region_code == level_region.code, Unit.kind == "center")
            .order_by(Unit.code)
            .limit(1)
        )
        if centre is not None:
            return centre
    return None


def could_take(person: Person, unit: Unit, unit_region: Region, case: Case) -> bool:
    """Would routing ever offer `case` to `person` (of `unit`, at `unit_region`)?

    A mediator: their unit handles the category and sits over the case's place at the
    risk's level or higher. A dispatcher: their unit is a centre over the case's place, at
    any level (fallback_centre). Nobody else takes cases.
    """
    if not case.region_path.startswith(unit_region.path):
        return False
    if person.role == "dispatcher":
        return unit.kind == "center"
    if person.role != "mediator" or not handles(unit, case.category):
        return False
    return LEVELS.index(unit_region.level) <= LEVELS.index(TARGET_LEVEL.get(case.risk, "village"))
