"""The `pingan` command line."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import click
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from bot.settings import Settings, SettingsError, load_settings

T = TypeVar("T")


def _settings() -> Settings:
    try:
        return load_settings()
    except SettingsError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)


def _run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def _fail(message: str, code: int = 1) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", is_flag=True, help="Log more.")
def main(verbose: bool) -> None:
    """pingan-bot: report, route and mediate grassroots disputes in chat."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # aiogram logs every update at INFO; that is noise (and personal data) in our logs.
    logging.getLogger("aiogram.event").setLevel(logging.WARNING)
    if not verbose:
        # Alembic logs its plugin set-up and context at INFO on every command that looks at
        # the schema; errors must stay the one line on stderr.
        logging.getLogger("alembic").setLevel(logging.WARNING)


# init / org ----------------------------------------------------------------------------------


@main.command()
@click.option("--demo", is_flag=True, help="Also import the demo organisation (西双版纳).")
def init(demo: bool) -> None:
    """Create or upgrade the database (and optionally load the demo organisation)."""
    from dispatch.orgfile import DEMO_ORG_PATH, OrgFileError
    from storage.database import create_engine
    from storage.migrate import upgrade

    settings = _settings()

    async def go() -> None:
        engine = create_engine(settings.database_url)
        try:
            await _reach(engine)
            await upgrade(engine)
            click.echo("database is at the latest schema")
            if demo:
                await _import(engine, DEMO_ORG_PATH)
        finally:
            await engine.dispose()

    try:
        _run(go())
    except OrgFileError as exc:
        _fail(f"{DEMO_ORG_PATH}:\n{exc}")


async def _import(engine: Any, path: Path) -> None:
    from dispatch.org import import_org
    from dispatch.orgfile import load_org_file
    from storage.database import session_factory

    org = load_org_file(path)
    async with session_factory(engine)() as session, session.begin():
        summary = await import_org(session, org)
    click.echo(
        f"organisation {path.name}: {len(org.regions)} regions ({summary.regions_added} new,"
        f" {summary.regions_updated} changed), {len(org.units)} units ({summary.units_added} new,"
        f" {summary.units_updated} changed)"
    )


@main.group()
def org() -> None:
    """The organisation: regions and units."""


@org.command("import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
def org_import(file: Path) -> None:
    """Import or update an organisation file (idempotent; codes are the keys)."""
    from dispatch.orgfile import OrgFileError
    from storage.database import create_engine

    settings = _settings()

    async def go() -> None:
        engine = create_engine(settings.database_url)
        try:
            await _require_schema(engine)
            await _import(engine, file)
        finally:
            await engine.dispose()

    try:
        _run(go())
    except OrgFileError as exc:
        _fail(f"{file}: nothing imported; {len(exc.errors)} error(s):\n{exc}")


async def _reach(engine: Any) -> None:
    """Fail with one line (not a traceback) when the database cannot be reached."""
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except (OSError, DBAPIError) as exc:
        reason = str(exc.orig if isinstance(exc, DBAPIError) else exc).strip()
        _fail(f"cannot reach the database (PINGAN_DATABASE_URL): {reason.splitlines()[0]}")


async def _require_schema(engine: Any) -> None:
    from storage.migrate import current_revision, head_revision

    await _reach(engine)
    if await current_revision(engine) != head_revision():
        _fail("the database is not initialised or not up to date: run `pingan init` first")


# invites ----------------------------------------------------------------------------------


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
    from storage.database import create_engine, session_factory
    from storage.models import Unit

    settings = _settings()

    async def go() -> None:
        engine = create_engine(settings.database_url)
        try:
            await _require_schema(engine)
            async with session_factory(engine)() as session, session.begin():
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
                    _fail(
                        f"{text(exc.reason, 'en')}: "
                        f"{region_code if 'region' in exc.reason else unit_code}"
                    )
                    return
                unit = await session.get_one(Unit, unit_code)
            click.echo(
                f"role: {role}\nunit: {unit.name} ({unit.code})\nexpires: {created.expires_at_iso}"
            )
            click.echo("the person sends: /bind CODE  (or 绑定 CODE) to the bot")
            click.echo(created.code)
        finally:
            await engine.dispose()

    _run(go())


# run / chat -------------------------------------------------------------------------------


@main.command()
def run() -> None:
    """Run the bot, the HTTP server (/healthz) and the notice sender."""
    settings = _settings()
    try:
        settings.require_channel()
    except SettingsError as exc:
        _fail(str(exc), 2)
    # Imported after the checks: aiogram takes seconds to import, a typo should not.
    from bot.app import build
    from bot.runner import NotInitialised, serve

    async def go() -> None:
        app = build(settings)
        try:
            # Reach the database first, so that the OSError below can only be about listening.
            await _require_schema(app.engine)
            await serve(app)
        finally:
            await app.close()

    try:
        _run(go())
    except NotInitialised as exc:
        _fail(str(exc))
    except OSError as exc:
        _fail(f"cannot listen on {settings.http_host}:{settings.http_port}: {exc.strerror}")


@main.command()
@click.option("--user", default="me", show_default=True, help="Who you are in this terminal.")
def chat(user: str) -> None:
    """Talk to the bot in this terminal (no token needed)."""
    from bot.app import build
    from dialogs.engine import handle
    from handlers.console import ConsoleChannel, read_lines
    from handlers.sender import OutboxSender, RateLimiter
    from storage.models import Identity

    settings = _settings()
    logging.getLogger().setLevel(logging.WARNING)

    async def go() -> None:
        app = build(settings)
        try:
            await _require_schema(app.engine)
            channel = ConsoleChannel(user[:64], lambda inbound: handle(app.services, inbound))
            click.echo(
                f"pingan chat as {user!r} — /help for help, /start for the menu, Ctrl-D to leave"
            )
            answer = await channel.say("/start")
            async with app.services.sessions() as session:
                person_id = await session.scalar(
                    select(Identity.person_id).where(
                        Identity.channel == "console", Identity.user_ref == user[:64]
                    )
                )
            sender = OutboxSender(
                app.services.sessions,
                app.services.clock,
                channel,
                limiter=RateLimiter(per_second=100, per_chat_interval=0),
                person_id=person_id or answer.person_id,
                poll_seconds=0.5,
            )
            next_line = await read_lines("> ")
            async with asyncio.TaskGroup() as group:
                notices = group.create_task(sender.run())
                while (line := await next_line()) is not None:
                    if line.strip():
                        await channel.say(line)
                        sender.wake()
                # One cancel may be lost: on Python 3.11 asyncio.wait_for (the sender's idle
                # wait) swallows a cancel that lands as the wait is woken, and chat never ends.
                while not notices.done():
                    notices.cancel()
                    await asyncio.wait({notices}, timeout=1)
        finally:
            await app.close()

    _run(go())


# classify ---------------------------------------------------------------------------------


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


# cases -------------------------------------------------------------------------------------


@main.group()
def cases() -> None:
    """Look at cases."""


@cases.command("list")
@click.option("--status", default=None, help="Only cases in this status.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10_000))
def cases_list(status: str | None, limit: int) -> None:
    """List cases, newest first (phone numbers masked)."""
    from dispatch.workflow import STATES
    from storage.database import create_engine, session_factory
    from storage.models import Case, Person, Region

    if status is not None and status not in STATES:
        _fail(f"unknown status {status!r}; one of: {', '.join(STATES)}", 2)
    settings = _settings()

    async def go() -> None:
        engine = create_engine(settings.database_url)
        try:
            await _require_schema(engine)
            async with session_factory(engine)() as session:
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
            if not rows:
                click.echo("no cases")
            for case, region, assignee in rows:
                click.echo(
                    f"{case.number}  {case.status:<11} {case.category:<13} {case.risk:<11} "
                    f"{(region or '-'):<14} {assignee or '-'}"
                )
        finally:
            await engine.dispose()

    _run(go())


@cases.command("show")
@click.argument("number")
@click.option("--json", "as_json", is_flag=True)
def cases_show(number: str, as_json: bool) -> None:
    """Show one case and its events."""
    from dispatch.cases import events_of, find_case, place_name
    from storage.database import create_engine, session_factory
    from storage.models import Person

    settings = _settings()

    async def go() -> None:
        engine = create_engine(settings.database_url)
        try:
            await _require_schema(engine)
            async with session_factory(engine)() as session:
                case = await find_case(session, number)
                if case is None:
                    _fail(f"no case {number}")
                    return
                assignee = await session.get(Person, case.assignee_id) if case.assignee_id else None
                events = await events_of(session, case)
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
                    "events": [
                        {
                            "kind": e.kind,
                            "from": e.from_status,
                            "to": e.to_status,
                            "actor_id": e.actor_id,
                            "at": e.at.isoformat(),
                            "data": e.data,
                        }
                        for e in events
                    ],
                }
            if as_json:
                click.echo(json.dumps(data, ensure_ascii=False, indent=2))
                return
            for key, value in data.items():
                if key != "events":
                    click.echo(f"{key:>16}: {value if value is not None else '-'}")
            click.echo("          events:")
            for e in data["events"]:
                click.echo(
                    f"{'':18}{e['at']}  {e['kind']:<16} {e['from'] or '-'} → {e['to'] or '-'}"
                )
        finally:
            await engine.dispose()

    _run(go())


@main.group()
def jobs() -> None:
    """Scheduled jobs: the sweep, follow-ups, daily reports, rankings."""


@jobs.command("list")
def jobs_list() -> None:
    """The jobs, their schedule, next run and last run."""
    from bot.scheduler import next_runs
    from bot.wallclock import SystemClock
    from dispatch.clock import as_utc
    from dispatch.jobs import JOBS
    from storage.database import create_engine, session_factory
    from storage.models import JobRun

    settings = _settings()

    async def go() -> None:
        engine = create_engine(settings.database_url)
        try:
            await _require_schema(engine)
            async with session_factory(engine)() as session:
                last = {r.name: r for r in (await session.scalars(select(JobRun))).all()}
        finally:
            await engine.dispose()
        upcoming = next_runs(settings.zone, SystemClock().now())
        for name, job in JOBS.items():
            kind, spec = job.trigger
            every = ", ".join(f"{k}={v}" for k, v in spec.items())
            nxt = upcoming[name]
            ran = last.get(name)
            click.echo(f"{name:<9} {kind} {every}")
            click.echo(f"          {job.description}")
            click.echo(
                f"          next: {nxt.astimezone(settings.zone):%Y-%m-%d %H:%M:%S %Z}"
                if nxt
                else "          next: -"
            )
            if ran is not None:
                at = as_utc(ran.last_run_at).astimezone(settings.zone)
                click.echo(f"          last: {at:%Y-%m-%d %H:%M:%S} — {ran.last_result}")
            else:
                click.echo("          last: never")

    _run(go())


@jobs.command("run")
@click.argument("name")
@click.option(
    "--at", "at", default=None, help="Run as if the clock read this ISO time (local if no zone)."
)
def jobs_run(name: str, at: str | None) -> None:
    """Run one job now, or as if the clock read --at."""
    from datetime import datetime

    from bot.app import build_domain
    from bot.wallclock import SystemClock
    from dispatch.clock import FrozenClock
    from dispatch.jobs import JOBS, JobContext, run_job
    from storage.database import create_engine, session_factory

    if name not in JOBS:
        _fail(f"unknown job {name!r}; one of: {', '.join(JOBS)}", 2)
    settings = _settings()
    clock: Any = SystemClock()
    if at is not None:
        try:
            moment = datetime.fromisoformat(at)
        except ValueError:
            _fail(
                f"--at {at!r} is not an ISO time like 2026-12-01T09:00 or 2026-12-01T09:00+08:00", 2
            )
            return
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=settings.zone)
        clock = FrozenClock(moment)

    async def go() -> str:
        engine = create_engine(settings.database_url)
        try:
            await _require_schema(engine)
            ctx = JobContext(session_factory(engine), build_domain(clock, settings.zone))
            return await run_job(name, ctx)
        finally:
            await engine.dispose()

    click.echo(
        f"{name} at {clock.now().astimezone(settings.zone):%Y-%m-%d %H:%M:%S %Z}: {_run(go())}"
    )


@main.group()
def wechat() -> None:
    """The WeChat official account."""


def wechat_menu(locale: str) -> dict[str, Any]:
    """The custom menu: report, follow up on reports, and a staff corner (same actions as
    the Telegram main menu; a CLICK event carries the button's payload)."""
    from locales import text

    def click(key: str, payload: str) -> dict[str, str]:
        # Menu labels are short on WeChat: drop the emoji the chat buttons carry.
        label = text(key, locale).split(" ", 1)[-1]
        return {"type": "click", "name": label, "key": payload}

    return {
        "button": [
            click("menu.report", "m:report"),
            {
                "name": text("menu.track", locale),
                "sub_button": [
                    click("menu.status", "m:status"),
                    click("menu.mycases", "m:mycases"),
                ],
            },
            {
                "name": text("menu.staff", locale),
                "sub_button": [click("menu.tasks", "m:tasks"), click("menu.help", "m:help")],
            },
        ]
    }


@wechat.command("menu")
def wechat_menu_install() -> None:
    """Install the custom menu (我要反映 / 查询进度 / 我的反映 / staff) through the API."""
    from bot.wallclock import SystemClock
    from handlers.wechat_api import WeChatAPI, WeChatAPIError
    from storage.database import create_engine, session_factory

    settings = _settings()
    if not settings.wechat_enabled:
        _fail("set PINGAN_WECHAT_TOKEN, PINGAN_WECHAT_APP_ID and PINGAN_WECHAT_APP_SECRET first", 2)

    async def go() -> None:
        engine = create_engine(settings.database_url)
        api = WeChatAPI(
            session_factory(engine),
            SystemClock(),
            settings.wechat_app_id or "",
            settings.wechat_app_secret.get_secret_value() if settings.wechat_app_secret else "",
            str(settings.wechat_api_base).rstrip("/"),
        )
        try:
            await _require_schema(engine)
            await api.create_menu(wechat_menu(settings.default_locale))
        except WeChatAPIError as exc:
            _fail(f"WeChat refused the menu: {exc}")
        finally:
            await api.close()
            await engine.dispose()
        click.echo("menu installed")

    _run(go())


@main.command()
@click.option("--grid", "grid_code", default=None, help="One grid's poster.")
@click.option("--all", "every", is_flag=True, help="Every grid's poster.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("posters"))
def qr(grid_code: str | None, every: bool, out: Path) -> None:
    """一码通: printable posters with each grid's WeChat and Telegram QR codes."""
    from bot.wallclock import SystemClock
    from dispatch.cases import place_name
    from dispatch.posters import Code, render_poster
    from handlers.wechat_api import WeChatAPI, WeChatAPIError
    from locales import text
    from storage.database import create_engine, session_factory
    from storage.models import Region, Unit

    if bool(grid_code) == every:
        _fail("give --grid CODE or --all", 2)
    settings = _settings()
    locale = settings.default_locale

    async def telegram_link() -> str | None:
        if settings.telegram_token is None:
            return None
        from bot.telegram_bot import make_bot

        bot = make_bot(settings.telegram_token.get_secret_value(), str(settings.telegram_api_base))
        try:
            me = await bot.get_me()
        except Exception as exc:  # no network, a wrong token: posters without that code
            click.echo(f"warning: no Telegram code ({exc.__class__.__name__}: {exc})", err=True)
            return None
        finally:
            await bot.session.close()
        return f"https://t.me/{me.username}?start=g_{{grid}}"

    async def go() -> int:
        engine = create_engine(settings.database_url)
        sessions = session_factory(engine)
        api = None
        if settings.wechat_enabled:
            api = WeChatAPI(
                sessions,
                SystemClock(),
                settings.wechat_app_id or "",
                settings.wechat_app_secret.get_secret_value() if settings.wechat_app_secret else "",
                str(settings.wechat_api_base).rstrip("/"),
            )
        try:
            await _require_schema(engine)
            async with sessions() as session:
                stmt = select(Region).where(Region.level == "grid").order_by(Region.code)
                if grid_code:
                    stmt = stmt.where(Region.code == grid_code)
                grids = list((await session.scalars(stmt)).all())
                if not grids:
                    _fail(
                        f"no grid {grid_code}" if grid_code else "no grids: import an organisation"
                    )
                places = {g.code: await place_name(session, g.parent_code) for g in grids}
                centres = {}
                for g in grids:
                    centre = await session.scalar(
                        select(Unit).where(Unit.region_code == g.parent_code, Unit.kind == "center")
                    )
                    centres[g.code] = centre.name if centre else ""
            link = await telegram_link()
            if api is None and link is None:
                _fail(
                    "configure WeChat (PINGAN_WECHAT_*) or Telegram (PINGAN_TELEGRAM_TOKEN) first",
                    2,
                )
            await asyncio.to_thread(out.mkdir, parents=True, exist_ok=True)
            for grid in grids:
                codes = []
                if api is not None:
                    try:
                        _, url = await api.create_qr_scene(grid.code)
                    except WeChatAPIError as exc:
                        _fail(f"WeChat refused the QR code for {grid.code}: {exc}")
                        return 0
                    codes.append(Code(text("poster.wechat", locale), url))
                if link is not None:
                    codes.append(Code(text("poster.telegram", locale), link.format(grid=grid.code)))
                png = await asyncio.to_thread(
                    render_poster,
                    text("poster.title", locale),
                    [grid.name, places[grid.code]],
                    codes,
                    text("poster.footer", locale, {"centre": centres[grid.code]}),
                    [text("poster.how", locale), text("poster.urgent", locale)],
                )
                await asyncio.to_thread((out / f"{grid.code}.png").write_bytes, png)
            return len(grids)
        finally:
            if api is not None:
                await api.close()
            await engine.dispose()

    made = _run(go())
    click.echo(f"{made} poster(s) in {out}/")


@main.command()
def diagram() -> None:
    """Print the case state diagram (Mermaid), generated from the workflow declaration."""
    from dispatch.workflow import mermaid

    click.echo(mermaid())


if __name__ == "__main__":
    main()
