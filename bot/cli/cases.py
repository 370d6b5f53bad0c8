"""`pingan cases`, `pingan diagram` and `pingan classify`: looking at cases, the workflow
they follow, and how a text would be classified."""

from __future__ import annotations

import asyncio
import json
import sys

import click

from bot.cli.root import fail, get_settings, main, open_database


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
            click.echo(
                f"category: {result.category}\nconfidence: {result.confidence:.2f}"
                f"{'' if result.confident else ' (low: the dialog asks the person to pick)'}\n"
                f"risk: {result.risk}\ncues: {', '.join(result.cues) or '-'}"
            )


@main.group()
def cases() -> None:
    """Look at cases."""


@cases.command("list")
@click.option("--status", default=None, help="Only cases in this status.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10_000))
def cases_list(status: str | None, limit: int) -> None:
    """List cases, newest first (phone numbers masked)."""
    from dispatch.queries import latest_cases
    from dispatch.workflow import STATES

    if status is not None and status not in STATES:
        fail(f"unknown status {status!r}; one of: {', '.join(STATES)}", 2)
    settings = get_settings()

    async def go() -> None:
        async with open_database(settings) as db:
            async with db.sessions() as session:
                lines = await latest_cases(session, status=status, limit=limit)
            if not lines:
                click.echo("no cases")
            for line in lines:
                case = line.case
                click.echo(
                    f"{case.number}  {case.status:<11} {case.category:<13} {case.risk:<11} "
                    f"{(line.region_name or '-'):<14} {line.assignee_name or '-'}"
                )

    asyncio.run(go())


@cases.command("show")
@click.argument("number")
@click.option("--json", "as_json", is_flag=True)
def cases_show(number: str, as_json: bool) -> None:
    """Show one case and its events."""
    from dispatch.cases import events_of, find_case, place_name
    from storage.models import Person

    settings = get_settings()

    async def go() -> None:
        async with open_database(settings) as db, db.sessions() as session:
            case = await find_case(session, number)
            if case is None:
                fail(f"no case {number}")
            assignee = await session.get(Person, case.assignee_id) if case.assignee_id else None
            timeline = [
                {
                    "kind": e.kind,
                    "from": e.from_status,
                    "to": e.to_status,
                    "actor_id": e.actor_id,
                    "at": e.at.isoformat(),
                    "data": e.data,
                }
                for e in await events_of(session, case)
            ]
            data = {
                "number": case.number,
                "status": case.status,
                "category": case.category,
                "risk": case.risk,
                "confidence": round(case.confidence, 3),
                "cues": case.cues,
                "region": case.region_code,
                "place": await place_name(session, case.region_code),
                "address": case.address,
                "source": case.source,
                "description": case.description,
                "people_involved": case.people_involved,
                "danger": case.danger,
                "phone": case.phone,
                "unit": case.unit_code,
                "assignee": assignee.display_name if assignee else None,
                "assignee_id": case.assignee_id,
                "outcome": case.outcome,
                "outcome_summary": case.outcome_summary,
                "created_at": case.created_at.isoformat(),
                "events": timeline,
            }
        if as_json:
            click.echo(json.dumps(data, ensure_ascii=False, indent=2))
            return
        for key, value in data.items():
            if key != "events":
                click.echo(f"{key:>16}: {value if value is not None else '-'}")
        click.echo("          events:")
        for e in timeline:
            click.echo(f"{'':18}{e['at']}  {e['kind']:<16} {e['from'] or '-'} → {e['to'] or '-'}")

    asyncio.run(go())


@main.command()
def diagram() -> None:
    """Print the case state diagram (Mermaid), generated from the workflow declaration."""
    from dispatch.workflow import mermaid

    click.echo(mermaid())
