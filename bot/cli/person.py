"""`pingan person`: a person's rights over their data, exercised by the centre on request
(dispatch/personal_data.py does the work; the README's "Personal information" says what
each command covers)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import click

from bot.cli.root import fail, get_settings, main, open_database

REF_HELP = (
    "REF is a person id (12), a chat identity CHANNEL:USER_REF (telegram:12345, wechat:OPENID) "
    "or a case number (2026-000001, meaning its reporter)."
)


@main.group()
def person() -> None:
    """A person's data: export it, erase it."""


@person.command("export", epilog=REF_HELP)
@click.argument("ref")
@click.option(
    "--out",
    "out",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    default=None,
    help="Write the JSON to this file (readable by its owner only) instead of standard output.",
)
def person_export(ref: str, out: Path | None) -> None:
    """Everything held about a person, as JSON."""
    from bot.wallclock import SystemClock
    from dispatch.personal_data import UnknownPerson, export, find_person
    from locales import text

    settings = get_settings()

    async def go() -> dict[str, object]:
        async with open_database(settings) as db, db.sessions() as session, session.begin():
            try:
                found = await find_person(session, ref)
            except UnknownPerson as exc:
                fail(text(exc.reason, "en", exc.params))
            return await export(session, SystemClock(), found)

    document = json.dumps(asyncio.run(go()), ensure_ascii=False, indent=2, sort_keys=False)
    if out is None:
        click.echo(document)
        return
    # Created for the owner only: the file holds phone numbers and descriptions.
    out.touch(mode=0o600, exist_ok=True)
    out.chmod(0o600)
    out.write_text(document + "\n", encoding="utf-8")
    click.echo(f"written to {out}", err=True)


@person.command("erase", epilog=REF_HELP)
@click.argument("ref")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def person_erase(ref: str, yes: bool) -> None:
    """Remove or redact everything about a person (refused while they have an open case)."""
    from sqlalchemy import func, select

    from bot.wallclock import SystemClock
    from dispatch.personal_data import (
        ErasureRefused,
        UnknownPerson,
        erase,
        find_person,
        open_ties,
    )
    from locales import text
    from storage.models import Case, Identity

    settings = get_settings()

    async def go() -> str:
        async with open_database(settings) as db:
            async with db.sessions() as session:
                try:
                    found = await find_person(session, ref)
                except UnknownPerson as exc:
                    fail(text(exc.reason, "en", exc.params))
                ties = await open_ties(session, found)
                identities = await session.scalar(
                    select(func.count()).where(Identity.person_id == found.id)
                )
                reported = await session.scalar(
                    select(func.count()).where(Case.reporter_id == found.id)
                )
                person_id = found.id
            # Asked before anything is written; refused early so nobody confirms in vain.
            refusals = {
                "reported": "privacy.erase_open_reported",
                "held": "privacy.erase_open_held",
            }
            for tie, key in refusals.items():
                if ties[tie]:
                    fail(text(key, "en", {"cases": ", ".join(ties[tie])}))
            if not yes and not click.confirm(
                f"Erase person {person_id} ({identities} chat identities, {reported} cases "
                "reported)? Their cases keep only the facts counted in the statistics.",
                err=True,
            ):
                fail("nothing erased")
            async with db.sessions() as session, session.begin():
                target = await session.get_one(type(found), person_id)
                try:
                    done = await erase(session, SystemClock(), target)
                except ErasureRefused as exc:
                    fail(text(exc.reason, "en", exc.params))
            return (
                f"person {person_id} erased: {done['identities']} chat identities deleted, "
                f"{done['cases']} cases redacted, {done['notices']} notices redacted or "
                f"cancelled, {done['dialogs']} dialogs deleted"
            )

    click.echo(asyncio.run(go()))
