"""The organisation in the database: import, region tree queries, jurisdiction."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from dispatch.orgfile import OrgFile
from dispatch.vocab import LEVELS
from storage.models import Case, CaseEvent, CaseOffer, Person, Region, Unit


@dataclass(frozen=True, slots=True)
class ImportSummary:
    regions_added: int
    regions_updated: int
    units_added: int
    units_updated: int

    @property
    def changed(self) -> bool:
        return any((self.regions_added, self.regions_updated, self.units_added, self.units_updated))


async def import_org(session: AsyncSession, org: OrgFile) -> ImportSummary:
    """Insert or update regions and units by code. Importing the same file twice changes nothing.

    Regions and units missing from the file are kept: cases and people still refer to them.
    """
    regions = {r.code: r for r in (await session.scalars(select(Region))).all()}
    paths: dict[str, str] = {code: r.path for code, r in regions.items()}
    region_changes: list[str | None] = []
    for spec in org.regions:  # parents come before children
        path = (paths[spec.parent] if spec.parent else "/") + spec.code + "/"
        paths[spec.code] = path
        fields = {"name": spec.name, "level": spec.level, "parent_code": spec.parent, "path": path}
        region_changes.append(_put(session, Region, regions.get(spec.code), spec.code, fields))
    await session.flush()
    units = {u.code: u for u in (await session.scalars(select(Unit))).all()}
    unit_changes: list[str | None] = []
    for unit in org.units:
        values: dict[str, Any] = {
            "name": unit.name,
            "kind": unit.kind,
            "region_code": unit.region,
            "categories": list(unit.categories),
        }
        unit_changes.append(_put(session, Unit, units.get(unit.code), unit.code, values))
    await session.flush()
    return ImportSummary(
        region_changes.count("added"),
        region_changes.count("updated"),
        unit_changes.count("added"),
        unit_changes.count("updated"),
    )


def _put(
    session: AsyncSession,
    model: type[Region] | type[Unit],
    row: Region | Unit | None,
    code: str,
    values: dict[str, Any],
) -> str | None:
    """Add the row `code` with `values`, or bring the existing `row` up to them: "added",
    "updated", or None when it already reads so."""
    if row is None:
        session.add(model(code=code, **values))
        return "added"
    if all(getattr(row, name) == value for name, value in values.items()):
        return None
    for name, value in values.items():
        setattr(row, name, value)
    return "updated"


async def ancestors(session: AsyncSession, region: Region) -> list[Region]:
    """The region and its ancestors, nearest first."""
    codes = [c for c in region.path.strip("/").split("/") if c]
    rows = {
        r.code: r for r in (await session.scalars(select(Region).where(Region.code.in_(codes))))
    }
    return [rows[c] for c in reversed(codes) if c in rows]


async def children(session: AsyncSession, parent_code: str | None) -> list[Region]:
    stmt = select(Region).where(
        Region.parent_code.is_(None) if parent_code is None else Region.parent_code == parent_code
    )
    return list((await session.scalars(stmt.order_by(Region.code))).all())


async def root_region(session: AsyncSession) -> Region | None:
    roots = await children(session, None)
    return roots[0] if roots else None


async def jurisdiction_path(session: AsyncSession, person: Person) -> str | None:
    """The region path a staff member answers for (their unit's subtree), or None."""
    if person.unit_code is None:
        return None
    unit = await session.get(Unit, person.unit_code)
    if unit is None:
        return None
    region = await session.get(Region, unit.region_code)
    return region.path if region is not None else None


async def may_read(session: AsyncSession, person: Person, case: Case) -> bool:
    """Need-to-know (docs/architecture.md, "Privacy"): who may open a case.

    - its reporter;
    - nobody else who is a citizen, and nobody disabled (`pingan staff disable`);
    - the people on it: its assignee and anyone it was ever offered to;
    - the staff of a unit that holds or held it (the case's unit, a unit it was offered
      to, a centre whose queue it waited in);
    - the dispatchers and leaders (and admins) of a centre over the case's place, at any
      level above it;
    - the staff of a department: the cases of its categories in its region (those referred
      or escalated to it are "held" above).

    A county line department thus reads labour disputes in its county, not neighbours'
    quarrels; a village committee reads what it was given, not its neighbour village's.
    """
    if case.reporter_id == person.id:
        return True
    if person.role == "citizen" or person.disabled_at is not None:
        return False
    if case.assignee_id == person.id:
        return True
    offers = (
        await session.execute(
            select(CaseOffer.person_id, CaseOffer.unit_code).where(CaseOffer.case_id == case.id)
        )
    ).all()
    if any(row.person_id == person.id for row in offers):
        return True
    if person.unit_code is None:
        return False
    held = {row.unit_code for row in offers}
    if case.unit_code is not None:
        held.add(case.unit_code)
    if person.unit_code in held:
        return True
    if person.unit_code in await _queued_at(session, case):
        return True
    unit = await session.get(Unit, person.unit_code)
    if unit is None:
        return False
    region = await session.get(Region, unit.region_code)
    if region is None or not case.region_path.startswith(region.path):
        return False
    if unit.kind == "center":
        return person.role in CENTRE_READERS
    if unit.kind == "department":
        return "all" in unit.categories or case.category in unit.categories
    return False


# Who, in a centre over a case's place, reads it: those who triage, chase and supervise.
CENTRE_READERS = frozenset({"dispatcher", "leader", "admin"})


async def _queued_at(session: AsyncSession, case: Case) -> set[str]:
    """The centres whose queue the case waited in (`unroutable` events name them)."""
    rows = await session.scalars(
        select(CaseEvent.data).where(CaseEvent.case_id == case.id, CaseEvent.kind == "unroutable")
    )
    return {str(data["to"]) for data in rows if isinstance(data, dict) and data.get("to")}


def level_index(level: str) -> int:
    return LEVELS.index(level)
