"""Read-only look-ups behind the administrator's listings (`pingan cases list`, `pingan qr`,
`pingan chat`): each reads, none writes, so any session will do."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from dispatch.cases import place_name
from storage.models import Case, Identity, Person, Region, Unit


@dataclass(frozen=True, slots=True)
class CaseLine:
    """A case with the names a listing shows beside it."""

    case: Case
    region_name: str | None  # None: no region, or one no longer in the organisation
    assignee_name: str | None  # None: nobody holds it


async def latest_cases(
    session: AsyncSession, *, status: str | None = None, limit: int = 50
) -> list[CaseLine]:
    """Cases newest first, at most `limit`, only those in `status` if given; an empty list
    when there are none."""
    stmt = (
        select(Case, Region.name, Person.display_name)
        .outerjoin(Region, Region.code == Case.region_code)
        .outerjoin(Person, Person.id == Case.assignee_id)
        .order_by(Case.id.desc())
        .limit(limit)
    )
    if status:
        stmt = stmt.where(Case.status == status)
    rows = (await session.execute(stmt)).all()
    return [CaseLine(case, region, assignee) for case, region, assignee in rows]


@dataclass(frozen=True, slots=True)
class GridPlace:
    """A grid as its 一码通 poster names it."""

    code: str
    name: str
    place: str  # the names above the grid, below the prefecture ("勐海县 勐海镇 曼贺村")
    centre: str  # the name of the centre (综治中心) at the grid's parent; "" if it has none


async def grid_places(session: AsyncSession, grid_code: str | None = None) -> list[GridPlace]:
    """Every grid by code, or only `grid_code`; an empty list when there is no such grid
    (or no organisation yet)."""
    stmt = select(Region).where(Region.level == "grid").order_by(Region.code)
    if grid_code:
        stmt = stmt.where(Region.code == grid_code)
    grids = list((await session.scalars(stmt)).all())
    places = {g.code: await place_name(session, g.parent_code) for g in grids}
    centres = {}
    for g in grids:
        centre = await session.scalar(
            select(Unit).where(Unit.region_code == g.parent_code, Unit.kind == "center")
        )
        centres[g.code] = centre.name if centre else ""
    return [GridPlace(g.code, g.name, places[g.code], centres[g.code]) for g in grids]


async def person_id_by_identity(session: AsyncSession, channel: str, user_ref: str) -> int | None:
    """The person behind a channel identity, or None if that identity has never written."""
    return await session.scalar(
        select(Identity.person_id).where(Identity.channel == channel, Identity.user_ref == user_ref)
    )
