"""`pingan run` and `pingan chat`: the bot as a service, or in this terminal."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

import click

from bot.cli.root import fail, get_settings, main, open_app
from bot.settings import SettingsError

if TYPE_CHECKING:
    from dialogs.base import Services
    from handlers.console import ConsoleChannel
    from handlers.sender import OutboxSender


@main.command()
@click.option(
    "--role",
    type=click.Choice(["all", "web", "worker"]),
    default="all",
    show_default=True,
    help="web: the webhooks, the WeChat callback and /healthz (run any number); worker: the"
    " notice senders and the scheduler (one active at a time, others stand by; PostgreSQL);"
    " all: both.",
)
@click.option(
    "--take-over-webhook",
    is_flag=True,
    help="Polling: remove a webhook that is set, even if other processes serve it.",
)
def run(role: str, take_over_webhook: bool) -> None:
    """Run the bot, the HTTP server (/healthz) and the notice sender."""
    settings = get_settings()
    try:
        settings.require_channel()
    except SettingsError as exc:
        fail(str(exc), 2)
    # Imported after the checks: aiogram takes seconds to import, a typo should not; and
    # with its pydantic schemas built on first use rather than all at once (bot/lazy_models).
    from bot.lazy_models import deferred_schemas
    from bot.roles import RoleRefused

    with deferred_schemas():
        from bot.runner import NotInitialised, WebhookInUse, serve

    async def go() -> None:
        # open_app reaches the database first, so that the OSError below can only be about
        # listening.
        async with open_app(settings, deferred_dictionary=True) as app:
            await serve(app, role=role, take_over_webhook=take_over_webhook)  # type: ignore[arg-type]

    try:
        try:
            asyncio.run(go())
        except BaseExceptionGroup as group:
            # A refusal met in a background task (a webhook in use) reaches here inside the
            # task group's exception group; the operator gets its one line.
            raise _refusal_in(group, (NotInitialised, RoleRefused, WebhookInUse)) from None
    except (NotInitialised, RoleRefused, WebhookInUse) as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"cannot listen on {settings.http_host}:{settings.http_port}: {exc.strerror}")


def _refusal_in(
    group: BaseExceptionGroup[BaseException], kinds: tuple[type[Exception], ...]
) -> BaseException:
    """The first of `kinds` in the group, else the group itself."""
    for exc in group.exceptions:
        if isinstance(exc, kinds):
            return exc
        if isinstance(exc, BaseExceptionGroup):
            found = _refusal_in(exc, kinds)
            if found is not exc:
                return found
    return group


@main.command()
@click.option("--user", default=None, help="Who you are in this terminal (default: me).")
@click.option(
    "--as",
    "part",
    type=click.Choice(["mediator", "dispatcher", "leader"]),
    default=None,
    help="Play one of the demo staff that `pingan init --demo` made.",
)
def chat(user: str | None, part: str | None) -> None:
    """Talk to the bot in this terminal (no token needed): the real bot without a network,
    with its sweep, scheduled jobs and notices (held in quiet hours as by `pingan run`)."""
    from bot.scheduler import build_scheduler
    from bot.settings import data_dir
    from dialogs.router import handle
    from dispatch.demo import demo_name
    from dispatch.jobs import JobContext
    from dispatch.queries import person_id_by_identity
    from handlers.console import ConsoleChannel, read_lines
    from handlers.sender import OutboxSender, RateLimiter

    if part is not None and user is not None:
        fail("give --as or --user, not both", 2)
    name = (demo_name(part) if part is not None else user) or "me"
    settings = get_settings()
    logging.getLogger().setLevel(logging.WARNING)
    database = settings.sqlite_file
    chart_dir = (database.parent if database is not None else data_dir()) / "charts"

    async def go() -> None:
        async with open_app(settings) as app:
            services = app.services
            if part is not None:
                async with services.sessions() as session:
                    if await person_id_by_identity(session, "console", name) is None:
                        fail(f"there is no demo {part} yet: run `pingan init --demo` first")
            channel = ConsoleChannel(
                name[:64], lambda inbound: handle(services, inbound), chart_dir=chart_dir
            )
            click.echo(
                f"pingan chat as {name!r} — /help for help, /start for the menu, Ctrl-D to leave"
            )
            answer = await channel.say("/start")
            async with services.sessions() as session:
                person_id = await person_id_by_identity(session, "console", name[:64])
            hours = services.policy.quiet
            quiet = (lambda at: hours.holds(at, services.zone)) if hours is not None else None
            sender = OutboxSender(
                services.sessions,
                services.clock,
                channel,
                limiter=RateLimiter(per_second=100, per_chat_interval=0),
                default_locale=settings.default_locale,
                person_id=person_id or answer.person_id,
                poll_seconds=0.5,
                quiet=quiet,
                **settings.sender_options(),
            )
            # What waited for this person is shown before the first prompt, and what a line
            # caused right after its answer: the terminal reads in order.
            await sender.drain_once()
            await _say_held(services, channel, sender)
            scheduler = build_scheduler(JobContext(services.sessions, services.domain))
            scheduler.start()
            next_line = await read_lines("> ")
            try:
                async with asyncio.TaskGroup() as group:
                    notices = group.create_task(sender.run())
                    while True:
                        channel.prompt = "> "
                        line = await next_line()
                        channel.prompt = ""
                        if line is None:
                            break
                        if line.strip():
                            await channel.say(line)
                            sender.wake()
                    # One cancel may be lost: on Python 3.11 asyncio.wait_for (the sender's
                    # idle wait) swallows a cancel that lands as the wait is woken, and chat
                    # never ends.
                    while not notices.done():
                        notices.cancel()
                        await asyncio.wait({notices}, timeout=1)
            finally:
                scheduler.shutdown(wait=False)
            # Whatever the last line caused for this person (a receipt, an answer to a
            # button) is shown before the terminal closes.
            await sender.drain_once()
            await _say_held(services, channel, sender)

    asyncio.run(go())


async def _say_held(services: Services, channel: ConsoleChannel, sender: OutboxSender) -> None:
    """Say how many of this person's notices quiet hours hold, and until when: a terminal
    that stays silent at night would look broken."""
    from dispatch import outbox
    from locales import text

    hours, now = services.policy.quiet, services.clock.now()
    if hours is None or not hours.holds(now, services.zone):
        return
    async with services.sessions() as session:
        held = await outbox.due(
            session, services.clock, channel.channel, person_id=sender.person_id, limit=1000
        )
    if held:
        until = hours.end_after(now, services.zone).astimezone(services.zone)
        params = {"count": len(held), "until": f"{until:%H:%M}"}
        click.echo(text("console.held_quiet", channel.locale, params))
