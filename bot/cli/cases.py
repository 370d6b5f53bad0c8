"""`pingan cases`, `pingan diagram` and `pingan classify`: looking at cases, the workflow
they follow, and how a text would be classified."""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

import click

from bot.cli.root import fail, get_settings, label, main, open_database, when
from dispatch.clock import as_utc


@main.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.argument("text")
def classify(as_json: bool, text: str) -> None:
    """Classify TEXT, or with - every line of standard input."""
    from dispatch.classify import Classifier

    classifier = Classifier.load()
    lines = sys.stdin if text == "-" else [text]
    for line in lines:
        line = line.rstrip("\n")
        if text == "-" and not line.strip():
            continue
        result = classifier.classify(line)
        if as_json or text == "-":
            click.echo(json.dumps(result.to_dict(), ensure_ascii=False))
        else:
            candidates = ", ".join(f"{code} {score:.2f}" for code, score in result.candidates)
            click.echo(
                f"category: {result.category}\nkind: {result.kind}\n"
                f"confidence: {result.confidence:.2f}"
                f"{'' if result.confident else ' (low: the dialog offers the best candidates)'}\n"
                f"candidates: {candidates}\n"
                f"risk: {result.risk}\ncues: {', '.join(result.cues) or '-'}"
            )


@main.group()
def cases() -> None:
    """Look at cases."""


@cases.command("list")
@click.option("--status", default=None, help="Only cases in this status.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10_000))
@click.option("--json", "as_json", is_flag=True, help="One JSON array (codes, not labels).")
def cases_list(status: str | None, limit: int, as_json: bool) -> None:
    """List cases, newest first, in the configured language (no phone numbers)."""
    from dispatch.queries import latest_cases
    from dispatch.workflow import STATES
    from locales import text

    if status is not None and status not in STATES:
        fail(f"unknown status {status!r}; one of: {', '.join(STATES)}", 2)
    settings = get_settings()
    loc = settings.default_locale

    async def go() -> None:
        async with open_database(settings) as db, db.sessions() as session:
            lines = await latest_cases(session, status=status, limit=limit)
        if as_json:
            rows = [
                {
                    "number": line.case.number,
                    "status": line.case.status,
                    "category": line.case.category,
                    "risk": line.case.risk,
                    "region": line.case.region_code,
                    "place": line.region_name,
                    "assignee": line.assignee_name,
                    "created_at": as_utc(line.case.created_at).isoformat(),
                }
                for line in lines
            ]
            click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
            return
        if not lines:
            click.echo("no cases")
            return
        heads = ("number", "status", "category", "risk", "place", "assignee")
        click.echo("\t".join(text(f"cli.head.{h}", loc) for h in heads))
        for line in lines:
            case = line.case
            click.echo(
                f"{case.number}\t{label('status', case.status, loc)}\t"
                f"{label('cat', case.category, loc)}\t{label('risk', case.risk, loc)}\t"
                f"{line.region_name or '-'}\t{line.assignee_name or '-'}"
            )

    asyncio.run(go())


def _masked(value: Any) -> Any:
    """Free text (and the strings inside an event's data) with phone and ID numbers masked."""
    from dispatch.masking import mask_text

    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, dict):
        return {k: _masked(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_masked(v) for v in value]
    return value


@cases.command("show")
@click.argument("number")
@click.option("--json", "as_json", is_flag=True, help="JSON with codes and UTC ISO times.")
@click.option(
    "--reveal",
    is_flag=True,
    help="Show the phone number, description and address whole (needs --as).",
)
@click.option(
    "--as",
    "reader_ref",
    default=None,
    metavar="PERSON",
    help="Who reads with --reveal: a staff member's id or CHANNEL:USER_REF, who may read the "
    "case; the read is recorded against them (case_reads), like a read in chat.",
)
def cases_show(number: str, as_json: bool, reveal: bool, reader_ref: str | None) -> None:
    """Show one case and its events; phone and ID numbers masked unless --reveal."""
    from bot.wallclock import SystemClock
    from dispatch.cases import TooManyLookUps, events_of, find_case, place_name, readable_case
    from dispatch.masking import mask_phone
    from dispatch.personal_data import UnknownPerson, find_person
    from locales import text
    from storage.models import Person

    if reveal and not reader_ref:
        fail(
            "--reveal needs --as PERSON (a staff member who may read the case): the read is "
            "recorded against them",
            2,
        )
    if reader_ref and not reveal:
        fail("--as is only for --reveal", 2)
    settings = get_settings()
    loc = settings.default_locale

    async def go() -> dict[str, Any]:
        async with open_database(settings) as db, db.sessions() as session:
            if reveal:
                assert reader_ref is not None
                async with session.begin():
                    try:
                        reader = await find_person(session, reader_ref)
                    except UnknownPerson as exc:
                        fail(text(exc.reason, "en", exc.params))
                    if reader.role == "citizen" or reader.disabled_at is not None:
                        fail(f"{reader_ref} is not an active staff member", 2)
                    try:
                        found = await readable_case(session, SystemClock(), reader, number)
                    except TooManyLookUps:
                        fail(f"{reader_ref} missed too many look-ups; try again later")
                if found is None:  # committed: the miss counts, as in chat
                    fail(f"no case {number} that {reader_ref} may read")
                case = found
            else:
                looked_up = await find_case(session, number)
                if looked_up is None:
                    fail(f"no case {number}")
                case = looked_up
            assignee = await session.get(Person, case.assignee_id) if case.assignee_id else None
            events = await events_of(session, case)
            keep = (lambda v: v) if reveal else _masked
            return {
                "number": case.number,
                "status": case.status,
                "category": case.category,
                "risk": case.risk,
                "confidence": round(case.confidence, 3),
                "cues": case.cues,
                "region": case.region_code,
                "place": await place_name(session, case.region_code),
                "address": keep(case.address),
                "source": case.source,
                "description": keep(case.description),
                "people_involved": case.people_involved,
                "danger": case.danger,
                "phone": case.phone if reveal else (mask_phone(case.phone) or None),
                "unit": case.unit_code,
                "assignee": assignee.display_name if assignee else None,
                "assignee_id": case.assignee_id,
                "outcome": case.outcome,
                "outcome_summary": keep(case.outcome_summary),
                "created_at": as_utc(case.created_at),
                "events": [
                    {
                        "kind": e.kind,
                        "from": e.from_status,
                        "to": e.to_status,
                        "actor_id": e.actor_id,
                        "at": as_utc(e.at),
                        "data": keep(e.data),
                    }
                    for e in events
                ],
            }

    data = asyncio.run(go())
    if as_json:
        data["created_at"] = data["created_at"].isoformat()
        for e in data["events"]:
            e["at"] = e["at"].isoformat()
        click.echo(json.dumps(data, ensure_ascii=False, indent=2))
        return
    labelled = {"status": "status", "category": "cat", "risk": "risk"}
    for key, value in data.items():
        if key == "events":
            continue
        if key in labelled:
            value = label(labelled[key], value, loc)
        elif key == "created_at":
            value = when(value, settings.zone, seconds=True)
        click.echo(f"{key:>16}: {value if value not in (None, '') else '-'}")
    click.echo("          events:")
    for e in data["events"]:
        click.echo(
            f"{'':18}{when(e['at'], settings.zone, seconds=True)}  {e['kind']:<16} "
            f"{label('status', e['from'], loc)} → {label('status', e['to'], loc)}"
        )


@main.command()
def diagram() -> None:
    """Print the case state diagram (Mermaid), generated from the workflow declaration."""
    from dispatch.workflow import mermaid

    click.echo(mermaid())
