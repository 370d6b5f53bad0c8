"""Read-only look-ups behind the administrator's listings (`pingan cases list`, `pingan qr`,
`pingan org list/show`, `pingan chat`): each reads, none writes, so any session will do."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from dispatch.cases import place_name
from dispatch.org import ancestors
from dispatch.rows import fetch_rows
from dispatch.vocab import LEVELS, UNIT_KINDS
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
    centres = {g.code: await nearest_centre(session, g) for g in grids}
    return [GridPlace(g.code, g.name, places[g.code], centres[g.code]) for g in grids]


async def nearest_centre(session: AsyncSession, region: Region) -> str:
    """The name of the centre (综治中心) nearest above `region` (its own region's first,
    then its parent's, up to the prefecture); "" when there is none at any level. A village
    without a centre of its own is served by its township's."""
    chain = await ancestors(session, region)
    if not chain:
        return ""
    rank = {r.code: i for i, r in enumerate(chain)}
    centres = (
        await session.scalars(
            select(Unit).where(Unit.region_code.in_(list(rank)), Unit.kind == "center")
        )
    ).all()
    if not centres:
        return ""
    return min(centres, key=lambda u: (rank[u.region_code], u.code)).name


@dataclass(frozen=True, slots=True)
class OrgRow:
    """A region or a unit, as `pingan org list` shows it."""

    code: str
    name: str
    kind: str  # a region's level (LEVELS) or a unit's kind (UNIT_KINDS)
    parent: str | None  # a region's parent region; a unit's region
    is_unit: bool


async def org_rows(session: AsyncSession, kind: str | None = None) -> list[OrgRow]:
    """Regions (top down, each under its parent) then units (by code), only those of
    `kind` (a level or a unit kind) if given."""
    regions: list[OrgRow] = []
    units: list[OrgRow] = []
    if kind is None or kind in LEVELS:
        only = [Region.level == kind] if kind is not None else []
        regions = [
            OrgRow(r.code, r.name, r.level, r.parent_code, False)
            for r in await fetch_rows(session, Region, *only, order_by=Region.path)
        ]
    if kind is None or kind in UNIT_KINDS:
        only = [Unit.kind == kind] if kind is not None else []
        units = [
            OrgRow(u.code, u.name, u.kind, u.region_code, True)
            for u in await fetch_rows(session, Unit, *only, order_by=Unit.code)
        ]
    return regions + units


@dataclass(frozen=True, slots=True)
class UnitSummary:
    code: str
    name: str
    kind: str
    region: str
    categories: list[str]
    staff: dict[str, int]  # role -> active staff bound to the unit (disabled ones left out)


@dataclass(frozen=True, slots=True)
class OrgDetail:
    """One region or unit for `pingan org show`: no person is named, only counted."""

    code: str
    name: str
    kind: str  # level or unit kind
    is_unit: bool
    parents: list[tuple[str, str, str]]  # (code, name, level), nearest first
    children: list[tuple[str, str, str]]  # a region's child regions (code, name, level)
    units: list[UnitSummary]  # a region's own units, or the unit itself


async def _unit_summaries(session: AsyncSession, units: list[Unit]) -> list[UnitSummary]:
    codes = [u.code for u in units]
    counts: dict[str, dict[str, int]] = {c: {} for c in codes}
    if codes:
        rows = await session.execute(
            select(Person.unit_code, Person.role, func.count())
            .where(
                Person.unit_code.in_(codes),
                Person.role != "citizen",
                Person.disabled_at.is_(None),
            )
            .group_by(Person.unit_code, Person.role)
        )
        for unit_code, role, n in rows.all():
            if unit_code is not None:
                counts[unit_code][role] = int(n)
    return [
        UnitSummary(u.code, u.name, u.kind, u.region_code, list(u.categories), counts[u.code])
        for u in units
    ]


async def org_detail(session: AsyncSession, code: str) -> OrgDetail | None:
    """The region or unit `code`, or None when there is neither."""
    unit = await session.get(Unit, code)
    region = await session.get(Region, unit.region_code if unit else code)
    if unit is None and region is None:
        return None
    chain = await ancestors(session, region) if region is not None else []
    if unit is not None:
        return OrgDetail(
            unit.code,
            unit.name,
            unit.kind,
            True,
            [(r.code, r.name, r.level) for r in chain],
            [],
            await _unit_summaries(session, [unit]),
        )
    assert region is not None
    kids = await fetch_rows(
        session, Region, Region.parent_code == region.code, order_by=Region.code
    )
    own = await fetch_rows(session, Unit, Unit.region_code == region.code, order_by=Unit.code)
    return OrgDetail(
        region.code,
        region.name,
        region.level,
        False,
        [(r.code, r.name, r.level) for r in chain[1:]],
        [(r.code, r.name, r.level) for r in kids],
        await _unit_summaries(session, own),
    )


async def person_id_by_identity(session: AsyncSession, channel: str, user_ref: str) -> int | None:
    """The person behind a channel identity, or None if that identity has never written."""
    return await session.scalar(
        select(Identity.person_id).where(Identity.channel == channel, Identity.user_ref == user_ref)
    )
