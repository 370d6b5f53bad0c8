"""The demo office: staff for one grid of the demo organisation, each with a console
identity that `pingan chat --as ROLE` (or `--user NAME`) plays.

Idempotent: a person whose console identity exists already is left as they are.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select

from dispatch import people
from dispatch.context import Ctx
from dispatch.datafile import DataModel, parse_model, read_text
from storage.models import Identity

DEMO_STAFF_PATH = Path(__file__).parent / "data" / "demo_staff.yaml"


@dataclass(frozen=True, slots=True)
class DemoStaff:
    part: str  # what `pingan chat --as PART` names
    name: str  # the console identity and the display name
    role: str
    unit_code: str
    region_code: str | None = None


class _Member(DataModel):
    part: str
    name: str
    role: str
    unit: str
    region: str | None = None


class _DemoFile(DataModel):
    grid: str
    staff: list[_Member]


def _load() -> tuple[str, tuple[DemoStaff, ...]]:
    # The names are data, like the demo organisation itself (dispatch/data/).
    demo = parse_model(_DemoFile, read_text(DEMO_STAFF_PATH), str(DEMO_STAFF_PATH))
    staff = tuple(DemoStaff(m.part, m.name, m.role, m.unit, m.region) for m in demo.staff)
    return demo.grid, staff


DEMO_GRID, DEMO_STAFF = _load()
CONSOLE = "console"


def demo_name(part: str) -> str | None:
    """The console name of the demo staff member playing `part` (mediator, dispatcher,
    leader), or None."""
    return next((s.name for s in DEMO_STAFF if s.part == part), None)


async def ensure_demo_staff(ctx: Ctx) -> list[tuple[DemoStaff, bool]]:
    """Create the demo staff who are missing, bound the way an invite binds them (so that a
    queued case they could take is offered to them). Returns each with whether it was new."""
    session = ctx.session
    done: list[tuple[DemoStaff, bool]] = []
    for staff in DEMO_STAFF:
        exists = await session.scalar(
            select(Identity.id).where(Identity.channel == CONSOLE, Identity.user_ref == staff.name)
        )
        if exists is not None:
            done.append((staff, False))
            continue
        person, _ = await people.person_for(
            session, ctx.clock, CONSOLE, staff.name, staff.name, staff.name
        )
        invite = await people.create_invite(
            session, ctx.clock, staff.role, staff.unit_code, staff.name, staff.region_code
        )
        await people.redeem_invite(ctx, person, invite.code)
        done.append((staff, True))
    return done
