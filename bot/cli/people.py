"""`pingan invite`: one-time binding codes that make a chat account a staff member; `pingan
staff`: who is on the staff, and disabling someone who left (dispatch/staff.py)."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from zoneinfo import ZoneInfo

import click

from bot.cli.root import fail, get_settings, main, open_database, when


@main.group()
def invite() -> None:
    """One-time binding codes for staff."""


@invite.command("create")
@click.option(
    "--role",
    required=True,
    type=click.Choice(["grid_worker", "mediator", "dispatcher", "leader", "dept_staff", "admin"]),
)
@click.option("--unit", "unit_code", required=True, help="Unit code, e.g. U532801001001-TJ.")
@click.option("--name", default="", help="The staff member's name.")
@click.option("--region", "region_code", default=None, help="Home grid (for grid workers).")
@click.option("--days", default=7, show_default=True, type=click.IntRange(1, 90), help="Valid for.")
def invite_create(role: str, unit_code: str, name: str, region_code: str | None, days: int) -> None:
    """Create a binding code; the code is the last line printed."""
    from datetime import timedelta

    from bot.wallclock import SystemClock
    from dispatch.people import InviteError, create_invite
    from locales import text
    from storage.models import Unit

    settings = get_settings()

    async def go() -> None:
        async with open_database(settings) as db:
            async with db.sessions() as session, session.begin():
                try:
                    created = await create_invite(
                        session,
                        SystemClock(),
                        role,
                        unit_code,
                        name,
                        region_code,
                        timedelta(days=days),
                    )
                except InviteError as exc:
                    fail(
                        f"{text(exc.reason, 'en')}: "
                        f"{region_code if 'region' in exc.reason else unit_code}"
                    )
                unit = await session.get_one(Unit, unit_code)
            click.echo(
                f"role: {role}\nunit: {unit.name} ({unit.code})\n"
                f"expires: {when(datetime.fromisoformat(created.expires_at_iso), settings.zone)}"
            )
            click.echo("the person sends: /bind CODE  (or 绑定 CODE) to the bot")
            click.echo(created.code)

    asyncio.run(go())


def _when(at: datetime | None, zone: ZoneInfo) -> str:
    return when(at, zone)


@invite.command("list")
@click.option("--all", "all_", is_flag=True, help="Also used, revoked and expired invites.")
@click.option("--json", "as_json", is_flag=True, help="One JSON array instead of a table.")
def invite_list(all_: bool, as_json: bool) -> None:
    """Invites that can still be redeemed (never their codes: only a hash is kept)."""
    from bot.wallclock import SystemClock
    from dispatch.staff import list_invites

    settings = get_settings()

    async def go() -> None:
        async with open_database(settings) as db, db.sessions() as session:
            rows = await list_invites(session, SystemClock(), all_=all_)
        if as_json:
            click.echo(json.dumps([r.to_json() for r in rows], ensure_ascii=False, indent=2))
            return
        if not rows:
            click.echo("no invites" if all_ else "no open invites (--all shows every one)")
            return
        click.echo("id\trole\tunit\tname\tcreated\texpires\tstate")
        for r in rows:
            state = f"{r.state} (link)" if r.link else r.state
            click.echo(
                f"{r.id}\t{r.role}\t{r.unit}\t{r.name or '-'}\t"
                f"{_when(r.created_at, settings.zone)}\t"
                f"{_when(r.expires_at, settings.zone)}\t{state}"
            )

    asyncio.run(go())


@invite.command("revoke")
@click.argument("code_id", type=int)
def invite_revoke(code_id: int) -> None:
    """Revoke the invite CODE_ID (the id `pingan invite list` shows): it can no longer be
    redeemed."""
    from bot.wallclock import SystemClock
    from dispatch.staff import StaffError, revoke_invite
    from locales import text

    settings = get_settings()

    async def go() -> None:
        async with open_database(settings) as db, db.sessions() as session, session.begin():
            try:
                revoked = await revoke_invite(session, SystemClock(), code_id)
            except StaffError as exc:
                fail(text(exc.reason, "en", exc.params))
            click.echo(f"invite {revoked.id} ({revoked.role}, {revoked.unit_code}) revoked")

    asyncio.run(go())


@main.group()
def staff() -> None:
    """Staff members: list them, disable one who left."""


@staff.command("list")
@click.option("--unit", "unit_code", default=None, help="Only this unit, e.g. U532801-RS.")
@click.option("--json", "as_json", is_flag=True, help="One JSON array instead of a table.")
def staff_list(unit_code: str | None, as_json: bool) -> None:
    """Everyone on the staff, disabled people marked (no phone numbers)."""
    from dispatch.staff import StaffError, list_staff
    from locales import text

    settings = get_settings()

    async def go() -> None:
        async with open_database(settings) as db, db.sessions() as session:
            try:
                rows = await list_staff(session, unit_code)
            except StaffError as exc:
                fail(f"{text(exc.reason, 'en', exc.params)}: {unit_code}")
        if as_json:
            click.echo(json.dumps([r.to_json() for r in rows], ensure_ascii=False, indent=2))
            return
        if not rows:
            click.echo("no staff")
            return
        click.echo("id\tname\trole\tunit\tchannels\tstate")
        for r in rows:
            state = f"disabled {_when(r.disabled_at, settings.zone)}" if r.disabled_at else "active"
            click.echo(
                f"{r.id}\t{r.name or '-'}\t{r.role}\t{r.unit or '-'}\t"
                f"{','.join(r.channels) or '-'}\t{state}"
            )

    asyncio.run(go())


@staff.command("disable")
@click.argument("person_ref", metavar="PERSON")
def staff_disable(person_ref: str) -> None:
    """Disable PERSON (an id, or CHANNEL:USER_REF such as telegram:12345) who left: their
    chat accounts are unbound, they are told, and their open offers and cases go on to the
    next person or the centre's dispatcher."""
    import re

    from bot.app import build_domain
    from bot.wallclock import SystemClock
    from dispatch.personal_data import UnknownPerson, find_person
    from dispatch.staff import StaffError, disable
    from locales import text

    settings = get_settings()
    if re.fullmatch(r"\d{4}-\d+", person_ref.strip()):
        fail(f"{person_ref} is a case number; give a person id or CHANNEL:USER_REF")

    async def go() -> None:
        domain = build_domain(SystemClock(), settings.zone)
        async with open_database(settings) as db, db.sessions() as session, session.begin():
            try:
                found = await find_person(session, person_ref)
                done = await disable(domain.within(session), found)
            except UnknownPerson as exc:
                fail(text(exc.reason, "en", exc.params))
            except StaffError as exc:
                params = {**exc.params, "ref": person_ref}
                if "at" in params:
                    params["at"] = _when(params["at"], settings.zone)
                fail(text(exc.reason, "en", params))
        click.echo(
            f"person {done.person_id} disabled: {done.identities} chat identities unbound; "
            f"offers passed on: {', '.join(done.offers_passed) or 'none'}; "
            f"cases handed to the centre: {', '.join(done.cases_handed) or 'none'}; "
            + ("told on their chat" if done.told else "not told (no reachable chat)")
        )

    asyncio.run(go())
