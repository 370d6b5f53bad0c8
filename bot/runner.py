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
from bot.roles import (
    OUTBOX_CHANNEL,
    WORKER_LOCK,
    AdvisoryLock,
    ProcessLock,
    Role,
    RoleRefused,
    RoleStatus,
    hold_worker,
    lock_for,
    polling_lock_name,
)
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


class WebhookInUse(Exception):
    """Telegram delivers this bot's updates to a webhook; polling would take it away."""


async def _telegram(
    bot: Bot,
    dispatcher: Dispatcher,
    locale: str,
    webhook_url: str | None,
    secret: str | None,
    stop: asyncio.Event,
    take_over_webhook: bool = False,
) -> None:
    """Telegram's own set-up, then polling: retried in the background while Telegram cannot
    be reached, so that a start during an outage still sends notices on the other channels
    and serves the webhook and /healthz.

    Polling (the caller holds the polling lock, bot/roles.py) refuses to remove a webhook
    that is set: sibling web processes may be serving it, and deleting it would silently take
    their updates (`take_over_webhook` says the operator means it)."""
    await _until_done("publishing the command list", lambda: publish_commands(bot, locale), stop)
    if webhook_url is not None:
        await _until_done(
            "setting the webhook", lambda: bot.set_webhook(webhook_url, secret_token=secret), stop
        )
        return
    found: list[str] = []

    async def webhook_set() -> None:
        found.append((await bot.get_webhook_info()).url)

    if not await _until_done("asking Telegram for the webhook", webhook_set, stop):
        return
    if found and found[0] and not take_over_webhook:
        raise WebhookInUse(
            "Telegram delivers this bot's updates to a webhook (set by a `pingan run` with"
            " PINGAN_PUBLIC_URL); polling would remove it from the processes serving it."
            " Set PINGAN_PUBLIC_URL here too, or run `pingan run --take-over-webhook` to"
            " remove the webhook and poll"
        )
    if await _until_done("removing the webhook", bot.delete_webhook, stop):
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
    status: RoleStatus | None = None,
) -> web.Application:
    """/healthz, and in webhook mode the Telegram webhook (checked against the secret header)."""

    async def healthz(_: web.Request) -> web.Response:
        try:
            async with app.services.sessions.read() as session:
                await session.execute(text("SELECT 1"))
        except Exception as exc:  # the probe must answer, whatever broke
            return web.json_response({"status": "error", "database": repr(exc)[:200]}, status=503)
        # role, and whether this process is the active worker or a standby.
        about = status.as_json() if status is not None else {}
        return web.json_response({"status": "ok", "mode": mode, **about})

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
    app: App,
    stop: asyncio.Event | None = None,
    ready: asyncio.Event | None = None,
    *,
    role: Role = "all",
    take_over_webhook: bool = False,
    standby_retry: float = 5.0,
) -> None:
    """Run until `stop` is set (or SIGINT/SIGTERM), in `role` (bot/roles.py): `web` serves
    the configured channels' inbound side (the Telegram webhook or polling, the WeChat
    callback) and /healthz; `worker` runs the notice senders and the scheduler while it holds
    the worker lock; `all` does both."""
    settings = app.settings
    settings.require_channel()
    await check_schema(app)
    stop = stop or asyncio.Event()
    services = app.services
    policy = services.policy
    hours = policy.quiet
    quiet = (lambda at: hours.holds(at, services.zone)) if hours is not None else None
    serves_web, works = role in ("web", "all"), role in ("worker", "all")
    status = RoleStatus(role)
    senders: list[OutboxSender] = []

    def wake_senders() -> None:
        for sender in senders:
            sender.wake()

    # A unit of work that queued a notice wakes this process's senders after its commit
    # (storage.database.Sessions); other processes hear of it by NOTIFY (bot/roles.py).
    services.sessions.on_queued = wake_senders
    locks: list[ProcessLock] = []
    worker_lock = polling_lock = None
    if works:
        worker_lock = lock_for(app.engine, WORKER_LOCK)
        locks.append(worker_lock)
        # SQLite does not wait for the role: refuse before listening on a port.
        if not worker_lock.waits and not await worker_lock.try_acquire():
            raise RoleRefused(_sqlite_refusal(worker_lock))
        if isinstance(worker_lock, AdvisoryLock):
            await worker_lock.listen(OUTBOX_CHANNEL, wake_senders)

    bot = dispatcher = None
    mode = "off"
    if settings.telegram_token is not None:
        token = settings.telegram_token.get_secret_value()
        bot = make_bot(token, str(settings.telegram_api_base))
        if works:
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
        if serves_web:
            dispatcher = make_dispatcher(services, webhook=mode == "webhook")
            if mode == "polling":
                polling_lock = lock_for(app.engine, polling_lock_name(token))
                locks.append(polling_lock)
                if not await polling_lock.try_acquire():
                    await _release(locks)
                    raise RoleRefused(
                        f"{polling_lock.holder()} already polls Telegram for this bot (the"
                        " polling lock is held in the database); run one polling process, or"
                        " set PINGAN_PUBLIC_URL to receive updates by webhook in several"
                    )
    secret = settings.telegram_webhook_secret
    secret_value = secret.get_secret_value() if secret else None
    if settings.public_url is not None and dispatcher is not None and bot is not None:
        application = web_app(app, mode, dispatcher, bot, secret_value, status)
    else:
        application = web_app(app, mode, status=status)
    wechat = None
    if settings.wechat_enabled:
        wechat = wechat_channel(app, quiet)
        if serves_web:
            wechat.callback.register(application)
        if works:
            senders.append(wechat.sender)
    jobs = JobContext(services.sessions, services.domain, runner=status.process)

    async def work() -> None:
        """The worker's part: senders and scheduler, only while holding the worker lock."""
        scheduler = build_scheduler(jobs, catch_up=True)
        scheduler.start()
        try:
            async with asyncio.TaskGroup() as group:
                for sender in senders:
                    group.create_task(sender.run(), name=f"{sender.channel}-sender")
        finally:
            scheduler.shutdown(wait=False)

    runner = web.AppRunner(application, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, settings.http_host, settings.http_port)
        await site.start()
    except BaseException:
        await runner.cleanup()
        await _release(locks)
        raise
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    background: list[asyncio.Task[Any]] = []
    try:
        async with asyncio.TaskGroup() as group:
            if worker_lock is not None:
                background.append(
                    group.create_task(
                        hold_worker(worker_lock, status, work, stop, retry_seconds=standby_retry),
                        name="worker",
                    )
                )
            if wechat is not None and serves_web:
                background.append(group.create_task(wechat.callback.run(), name="wechat"))
            if polling_lock is not None:
                background.append(
                    group.create_task(_lose_polling(polling_lock), name="polling-lock")
                )
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
                            take_over_webhook,
                        ),
                        name="telegram",
                    )
                )
            log.info(
                "pingan ready (role %s, %s): telegram %s, wechat %s, http on %s:%s",
                role,
                status.process,
                mode,
                "on" if wechat else "off",
                settings.http_host,
                settings.http_port,
            )
            if ready is not None:
                ready.set()
            if serves_web:
                # jieba's dictionary (a deferred one) is built now, in a thread: after ready.
                services.classifier.warm_up()
            await stop.wait()
            if bot is not None and dispatcher is not None and settings.public_url is None:
                # Polling may not have started yet (Telegram unreachable since start-up).
                with contextlib.suppress(RuntimeError):
                    await dispatcher.stop_polling()
            # The worker stops its scheduler and its senders, which let their call in flight
            # finish (a few seconds at most), record it, and give back whatever else they
            # had claimed (handlers/sender.py) before the worker lock is let go.
            log.info("stopping: %d background tasks", len(background))
            for task in background:
                if task.get_name() != "worker":
                    task.cancel()
    finally:
        await runner.cleanup()
        await _release(locks)
        if bot is not None:
            await bot.session.close()
        if wechat is not None:
            await wechat.api.close()


def _sqlite_refusal(lock: ProcessLock) -> str:
    return (
        f"{lock.holder()} already runs the worker (notice sender and scheduler) on this"
        " SQLite database; SQLite serves one pingan process: stop that one first, or move"
        " to PostgreSQL to run several"
    )


async def _lose_polling(lock: ProcessLock) -> None:
    await lock.lost()
    raise RoleRefused(
        "lost the polling lock (the database connection dropped): stopping, so that a"
        " restart polls again only if no other process took over"
    )


async def _release(locks: list[ProcessLock]) -> None:
    for lock in locks:
        with contextlib.suppress(Exception):
            await lock.release()
