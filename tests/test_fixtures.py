"""The database fixtures: every test starts from a pristine database, whatever the test
before it wrote, even though each backend is migrated only once per session."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from dialogs.base import Services
from dispatch.orgfile import DEMO_ORG_PATH, load_org_file
from storage.database import session_factory
from storage.models import Base, Case, Person, Region, Unit
from tests.conftest import VILLAGE_MEDIATION, make_staff
from tests.test_workflow import report


@pytest.mark.parametrize("run", ["first", "second"])
async def test_ids_and_case_numbers_start_afresh(services: Services, person, run: str) -> None:
    """Run twice: the second run must not see the first one's case or people."""
    await make_staff(services, "mediator", "mediator", VILLAGE_MEDIATION)
    assert await report(person("citizen")) == "2026-000001"
    async with services.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Case)) == 1
        assert list(await session.scalars(select(Person.id).order_by(Person.id))) == [1, 2]
        assert await session.scalar(select(func.max(Case.id))) == 1


async def test_services_come_with_the_demo_organisation(services: Services) -> None:
    org = load_org_file(DEMO_ORG_PATH)
    async with services.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Region)) == len(org.regions)
        assert await session.scalar(select(func.count()).select_from(Unit)) == len(org.units)


async def test_the_engine_alone_is_migrated_and_empty(engine: AsyncEngine) -> None:
    async with session_factory(engine)() as session:
        for table in Base.metadata.sorted_tables:
            count = await session.scalar(select(func.count()).select_from(table))
            assert count == 0, f"{table.name} has {count} rows"
