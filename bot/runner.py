"""`pingan run`: the Telegram bot (polling or webhook), the HTTP server and the notice
sender, in one process, until SIGINT or SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.exceptions import (
    ClientDecodeError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.types import Update
from aiogram.webhook.aiohttp_server import SimpleRequestHandler
from aiohttp import web
from aiohttp.typedefs import Handler
from pydantic import ValidationError
from sqlalchemy import text

from bot.app import App
from bot.scheduler import build_scheduler
from bot.telegram_bot import make_bot, make_dispatcher, poll, publish_commands
from bot.wechat_wiring import wechat_channel
from dispatch.jobs import JobContext
from handlers.sender import OutboxSender
from handlers.telegram import TelegramTransport
from storage.migrate import current_revision, head_revision

log = logging.getLogger(__name__)
WEBHOOK_PATH = "/telegram/webhook"


class NotInitialised(Exception):
    pass


async def check_schema(app: App) -> None:
    current = await current_revision(app.engine)
    if current != head_revision():
        raise NotInitialised(
            "the database is not initialised or not up to date:"
            " run `pingan init` (or `pingan init --demo`)"
        )


# What Telegram may answer while it (or the way to it) is down: a refused connection, a
# proxy's HTML error page, a 5xx, a 429. None of it is a reason to stop the notices, the
# WeChat callback or the scheduler, which do not need Telegram to be up.
TELEGRAM_DOWN = (TelegramNetworkError, TelegramServerError, TelegramRetryAfter, ClientDecodeError)


async def _until_done(
    what: str, call: Callable[[], Awaitable[object]], stop: asyncio.Event
) -> bool:
    """Call until it succeeds (backing off up to a minute) or `stop` is set."""
    delay = 1.0
    while not stop.is_set():
        try:
            await call()
            return True
        except TELEGRAM_DOWN as exc:
            log.warning(
                "telegram: %s failed (%s); trying again in %.0f s", what, type(exc).__name__, delay
            )
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(delay):
                await stop.wait()
        delay = min(delay * 2, 60.0)
    return False


async def _telegram(
    bot: Bot,
    dispatcher: Dispatcher,
    locale: str,
    webhook_url: str | None,
    secret: str | None,
    stop: asyncio.Event,
) -> None:
    """Telegram's own set-up, then polling: retried in the background while Telegram cannot
    be reached, so that a start during an outage still sends notices on the other channels
    and serves the webhook and /healthz."""
    await _until_done("publishing the command list", lambda: publish_commands(bot, locale), stop)
    if webhook_url is not None:
        await _until_done(
            "setting the webhook", lambda: bot.set_webhook(webhook_url, secret_token=secret), stop
        )
    elif await _until_done("removing the webhook", bot.delete_webhook, stop):
        await poll(dispatcher, bot)


@web.middleware
async def reject_malformed_updates(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Answer a body that is not a Telegram update with 400, before aiogram parses it.

    aiogram would raise on it and answer 500, which makes Telegram retry the same garbage.
    """
    if request.method == "POST" and request.path == WEBHOOK_PATH:
        try:
            body = json.loads(await request.read())
        except (ValueError, UnicodeDecodeError):
            return web.json_response({"error": "body is not JSON"}, status=400)
        if not isinstance(body, dict):
            return web.json_response({"error": "not a Telegram update"}, status=400)
        try:
            # Validated here as well as in aiogram, where a failure would be a 500 and
            # Telegram would send the same garbage again.
            Update.model_validate(body)
        except ValidationError:
            return web.json_response({"error": "not a Telegram update"}, status=400)
    return await handler(request)


def web_app(
    app: App,
    mode: str,
    dispatcher: Dispatcher | None = None,
    bot: Bot | None = None,
    secret: str | None = None,
) -> web.Application:
    """/healthz, and in webhook mode the Telegram webhook (checked against the secret header)."""

    async def healthz(_: web.Request) -> web.Response:
        try:
            async with app.services.sessions.read() as session:
                await session.execute(text("SELECT 1"))
        except Exception as exc:  # the probe must answer, whatever broke
            return web.json_response({"status": "error", "database": repr(exc)[:200]}, status=503)
        return web.json_response({"status": "ok", "mode": mode})

    # Telegram updates are a few KB; refuse anything much larger before parsing it.
    application = web.Application(
        client_max_size=1024 * 1024, middlewares=[reject_malformed_updates]
    )
    application.router.add_get("/healthz", healthz)
    if dispatcher is not None and bot is not None:
        # Not in the background: the 200 goes out only once the update's unit of work has
        # committed and its replies were sent (or queued), so a process that dies mid-update
        # answers nothing and Telegram sends the update again; a handler that raises (the
        # database was unavailable) answers 500, with the same effect. aiogram still answers
        # after 55 s and finishes in the background, before Telegram's 60 s run out.
        SimpleRequestHandler(
            dispatcher, bot, handle_in_background=False, secret_token=secret
        ).register(application, path=WEBHOOK_PATH)
    return application


async def serve(
    app: App, stop: asyncio.Event | None = None, ready: asyncio.Event | None = None
) -> None:
    """Run until `stop` is set (or SIGINT/SIGTERM): the channels that are configured
    (Telegram, WeChat, or both), their notice senders, the HTTP server and the scheduler."""
    settings = app.settings
    settings.require_channel()
    await check_schema(app)
    stop = stop or asyncio.Event()
    services = app.services
    policy = services.policy
    hours = policy.quiet
    quiet = (lambda at: hours.holds(at, services.zone)) if hours is not None else None
    senders: list[OutboxSender] = []

    def wake_senders() -> None:
        for sender in senders:
            sender.wake()

    bot = dispatcher = None
    mode = "off"
    if settings.telegram_token is not None:
        bot = make_bot(settings.telegram_token.get_secret_value(), str(settings.telegram_api_base))
        senders.append(
            OutboxSender(
                services.sessions,
                services.clock,
                TelegramTransport(bot),
                default_locale=settings.default_locale,
                quiet=quiet,
                **settings.sender_options(),
            )
        )
        mode = "webhook" if settings.public_url else "polling"
        dispatcher = make_dispatcher(services, wake_senders, webhook=mode == "webhook")
    secret = settings.telegram_webhook_secret
    secret_value = secret.get_secret_value() if secret else None
    if settings.public_url is not None and dispatcher is not None and bot is not None:
        application = web_app(app, mode, dispatcher, bot, secret_value)
    else:
        application = web_app(app, mode)
    wechat = None
    if settings.wechat_enabled:
        wechat = wechat_channel(app, wake_senders, quiet)
        wechat.callback.register(application)
        senders.append(wechat.sender)
    scheduler = build_scheduler(JobContext(services.sessions, services.domain))
    runner = web.AppRunner(application, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, settings.http_host, settings.http_port)
    await site.start()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    background: list[asyncio.Task[Any]] = []
    try:
        async with asyncio.TaskGroup() as group:
            for sender in senders:
                background.append(group.create_task(sender.run(), name="outbox-sender"))
            if wechat is not None:
                background.append(group.create_task(wechat.callback.run(), name="wechat"))
            if bot is not None and dispatcher is not None:
                webhook_url = (
                    str(settings.public_url).rstrip("/") + WEBHOOK_PATH
                    if settings.public_url is not None
                    else None
                )
                background.append(
                    group.create_task(
                        _telegram(
                            bot,
                            dispatcher,
                            settings.default_locale,
                            webhook_url,
                            secret_value,
                            stop,
                        ),
                        name="telegram",
                    )
                )
            scheduler.start()
            log.info(
                "pingan ready: telegram %s, wechat %s, http on %s:%s",
                mode,
                "on" if wechat else "off",
                settings.http_host,
                settings.http_port,
            )
            if ready is not None:
                ready.set()
            await stop.wait()
            scheduler.shutdown(wait=False)
            if bot is not None and dispatcher is not None and settings.public_url is None:
                # Polling may not have started yet (Telegram unreachable since start-up).
                with contextlib.suppress(RuntimeError):
                    await dispatcher.stop_polling()
            # A sender that is cancelled lets its call in flight finish (a few seconds at
            # most), records it, and gives back whatever else it had claimed before the
            # group lets us go on (handlers/sender.py).
            log.info("stopping: %d background tasks", len(background))
            for task in background:
                task.cancel()
    finally:
        await runner.cleanup()
        if bot is not None:
            await bot.session.close()
        if wechat is not None:
            await wechat.api.close()
