"""Building a test or benchmark database from nothing, shared by the fixtures, the CLI tests
and the benchmarks."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from dispatch.org import import_org
from dispatch.orgfile import DEMO_ORG_PATH, load_org_file
from storage.database import session_factory


async def empty_public_schema(engine: AsyncEngine) -> None:
    """PostgreSQL only: drop everything in the public schema, migrations' version table too."""
    async with engine.begin() as conn:
        await conn.execute(text("DROP SCHEMA public CASCADE"))
        await conn.execute(text("CREATE SCHEMA public"))


async def import_demo_org(engine: AsyncEngine) -> None:
    async with session_factory(engine)() as session, session.begin():
        await import_org(session, load_org_file(DEMO_ORG_PATH))
