"""`pingan run` and `pingan chat`: the bot as a service, or in this terminal."""

from __future__ import annotations

import asyncio
import logging

import click

from bot.cli.root import fail, get_settings, main, open_app
from bot.settings import SettingsError


@main.command()
def run() -> None:
    """Run the bot, the HTTP server (/healthz) and the notice sender."""
    settings = get_settings()
    try:
        settings.require_channel()
    except SettingsError as exc:
        fail(str(exc), 2)
    # Imported after the checks: aiogram takes seconds to import, a typo should not.
    from bot.runner import NotInitialised, serve

    async def go() -> None:
        # open_app reaches the database first, so that the OSError below can only be about
        # listening.
        async with open_app(settings) as app:
            await serve(app)

    try:
        asyncio.run(go())
    except NotInitialised as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"cannot listen on {settings.http_host}:{settings.http_port}: {exc.strerror}")


@main.command()
@click.option("--user", default="me", show_default=True, help="Who you are in this terminal.")
def chat(user: str) -> None:
    """Talk to the bot in this terminal (no token needed)."""
    from dialogs.router import handle
    from dispatch.queries import person_id_by_identity
    from handlers.console import ConsoleChannel, read_lines
    from handlers.sender import OutboxSender, RateLimiter

    settings = get_settings()
    logging.getLogger().setLevel(logging.WARNING)

    async def go() -> None:
        async with open_app(settings) as app:
            channel = ConsoleChannel(user[:64], lambda inbound: handle(app.services, inbound))
            click.echo(
                f"pingan chat as {user!r} — /help for help, /start for the menu, Ctrl-D to leave"
            )
            answer = await channel.say("/start")
            async with app.services.sessions() as session:
                person_id = await person_id_by_identity(session, "console", user[:64])
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

    asyncio.run(go())
