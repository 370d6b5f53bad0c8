"""`pingan org list` and `pingan org show`: the organisation in the database, so a newcomer
finds the unit code to invite a leader to without reading the YAML. Names and counts
only: no person is named."""

from __future__ import annotations

import asyncio
import json

import click

from bot.cli.database import org
from bot.cli.root import fail, get_settings, label, open_database
from dispatch.vocab import LEVELS, UNIT_KINDS


def _kind(kind: str, is_unit: bool, locale: str) -> str:
    return label("unit_kind" if is_unit else "level", kind, locale)


def _categories(categories: list[str], locale: str) -> str:
    from locales import text

    if "all" in categories:
        return text("cli.all_categories", locale)
    return "、".join(label("cat", c, locale) for c in categories) or text("cli.none", locale)


@org.command("list")
@click.option(
    "--level",
    "kind",
    type=click.Choice([*LEVELS, *UNIT_KINDS]),
    default=None,
    help="Only regions of this level, or units of this kind.",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON array (codes, not labels).")
def org_list(kind: str | None, as_json: bool) -> None:
    """Regions (top down) and units: code, name, level or kind, parent."""
    from dispatch.queries import org_rows
    from locales import text

    settings = get_settings()
    loc = settings.default_locale

    async def go() -> None:
        async with open_database(settings) as db, db.sessions() as session:
            rows = await org_rows(session, kind)
        if as_json:
            click.echo(
                json.dumps(
                    [
                        {
                            "code": r.code,
                            "name": r.name,
                            ("kind" if r.is_unit else "level"): r.kind,
                            ("region" if r.is_unit else "parent"): r.parent,
                        }
                        for r in rows
                    ],
                    ensure_ascii=False,
                    indent=2,
                )
            )
            return
        if not rows:
            fail("no such regions or units: import an organisation (`pingan org import FILE`)")
        heads = ("code", "name", "kind", "parent")
        click.echo("\t".join(text(f"cli.head.{h}", loc) for h in heads))
        for r in rows:
            click.echo(f"{r.code}\t{r.name}\t{_kind(r.kind, r.is_unit, loc)}\t{r.parent or '-'}")

    asyncio.run(go())


@org.command("show")
@click.argument("code")
def org_show(code: str) -> None:
    """One region or unit: its names, what is above and below it, its units, the types of
    dispute each takes and how many staff each has, by role."""
    from dispatch.queries import org_detail
    from locales import text

    settings = get_settings()
    loc = settings.default_locale

    async def go() -> None:
        async with open_database(settings) as db, db.sessions() as session:
            detail = await org_detail(session, code.strip())
        if detail is None:
            fail(f"no region or unit {code!r}: `pingan org list` shows the codes")

        def head(key: str) -> str:
            return text(f"cli.head.{key}", loc)

        click.echo(f"{detail.code}\t{detail.name}\t{_kind(detail.kind, detail.is_unit, loc)}")
        above = " ‹ ".join(f"{name} ({c})" for c, name, _ in detail.parents)
        click.echo(f"{head('parents')}: {above or '-'}")
        if not detail.is_unit:
            below = ", ".join(f"{name} ({c})" for c, name, _ in detail.children)
            click.echo(f"{head('children')}: {below or '-'}")
            click.echo(f"{head('units')}: {'' if detail.units else text('cli.none', loc)}")
        for unit in detail.units:
            indent = "" if detail.is_unit else "  "
            if not detail.is_unit:
                click.echo(f"{indent}{unit.code}\t{unit.name}\t{_kind(unit.kind, True, loc)}")
            click.echo(f"{indent}{head('categories')}: {_categories(unit.categories, loc)}")
            staff = ", ".join(
                f"{label('role', role, loc)} {n}" for role, n in sorted(unit.staff.items())
            )
            click.echo(f"{indent}{head('staff')}: {staff or text('cli.none', loc)}")

    asyncio.run(go())
