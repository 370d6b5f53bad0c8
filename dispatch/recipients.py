"""Who is told: the dispatchers of a unit's centre, the leaders of a level, the people on a case."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from dispatch.org import ancestors
from storage.models import Case, CaseOffer, Person, Region, Unit


async def people_at(
    session: AsyncSession, region_codes: Iterable[str], roles: Iterable[str]
) -> list[Person]:
    """Staff with one of `roles` whose unit sits at one of the regions."""
    codes = list(region_codes)
    if not codes:
        return []
    stmt = (
        select(Person)
        .join(Unit, Unit.code == Person.unit_code)
        .where(
            Unit.region_code.in_(codes),
            Person.role.in_(list(roles)),
            Person.disabled_at.is_(None),
        )
        .order_by(Person.id)
    )
    return list((await session.scalars(stmt)).all())


async def unit_region(session: AsyncSession, unit_code: str | None) -> Region | None:
    if unit_code is None:
        return None
    unit = await session.get(Unit, unit_code)
    return await session.get(Region, unit.region_code) if unit else None


async def centre_dispatchers(session: AsyncSession, unit_code: str | None) -> list[Person]:
    """The dispatchers of the centre at the unit's level (the 综治中心 that chases it)."""
    region = await unit_region(session, unit_code)
    if region is None:
        return []
    return await people_at(session, [region.code], ["dispatcher"])


async def leaders_of(session: AsyncSession, region: Region | None) -> list[Person]:
    if region is None:
        return []
    return await people_at(session, [region.code], ["leader"])


async def township_and_county(session: AsyncSession, case: Case) -> list[str]:
    """Region codes of the township and county a case happened in (for major-risk alerts)."""
    if case.region_code is None:
        region = await session.scalar(select(Region).where(Region.parent_code.is_(None)))
        return [region.code] if region else []
    region = await session.get(Region, case.region_code)
    if region is None:
        return []
    chain = await ancestors(session, region)
    return [r.code for r in chain if r.level in ("township", "county")]


async def open_offer_holders(session: AsyncSession, case: Case) -> list[tuple[CaseOffer, Person]]:
    rows = await session.execute(
        select(CaseOffer, Person)
        .join(Person, Person.id == CaseOffer.person_id)
        .where(CaseOffer.case_id == case.id, CaseOffer.state == "open")
    )
    return [(offer, person) for offer, person in rows.all()]


def unique(people: Iterable[Person | None]) -> list[Person]:
    seen: dict[int, Person] = {}
    for person in people:
        if person is not None:
            seen.setdefault(person.id, person)
    return list(seen.values())
