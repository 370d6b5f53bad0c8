"""`pingan run --role`: one active worker per database (a standby on PostgreSQL, a refusal on
SQLite), one poller per bot, and a webhook in use left alone by a polling start."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.app import App
from bot.roles import RoleRefused
from bot.runner import WebhookInUse, serve
from bot.settings import Settings
from dialogs.base import Services
from storage.database import session_factory
from tests.fakes.telegram_api import FakeTelegramAPI
from tests.test_run import TELEGRAM_TOKEN, free_port


def _app(engine: AsyncEngine, services: Services, telegram: FakeTelegramAPI) -> App:
    """An App of its own (its own Sessions, as another process would have) on `engine`."""
    settings = Settings(
        telegram_token=SecretStr(telegram.token),
        telegram_api_base=telegram.base_url,  # type: ignore[arg-type]
        http_port=free_port(),
    )
    own = Services(
        sessions=session_factory(engine),
        domain=services.domain,
        classifier=services.classifier,
    )
    return App(settings, engine, own)


@contextlib.asynccontextmanager
async def running(app: App, **options: Any) -> AsyncIterator[asyncio.Event]:
    """`serve(app)` until the block ends; yields its stop event."""
    stop, ready = asyncio.Event(), asyncio.Event()
    async with asyncio.TaskGroup() as group:
        task = group.create_task(serve(app, stop, ready, standby_retry=0.2, **options))
        await asyncio.wait_for(ready.wait(), 20)
        yield stop
        stop.set()
        await asyncio.wait_for(asyncio.shield(task), 15)


async def healthz(app: App) -> dict[str, Any]:
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"http://127.0.0.1:{app.settings.http_port}/healthz") as resp,
    ):
        assert resp.status == 200
        answer: dict[str, Any] = await resp.json()
        return answer


async def worker_state(app: App, want: str, within: float = 10) -> dict[str, Any]:
    """/healthz once it says this worker is `want` (active, standby)."""
    said: dict[str, Any] = {}
    for _ in range(int(within / 0.05)):
        said = await healthz(app)
        if said["worker"] == want:
            return said
        await asyncio.sleep(0.05)
    raise AssertionError(f"worker never {want} within {within} s: {said}")


async def test_one_worker_per_database(engine: AsyncEngine, services: Services) -> None:
    async with FakeTelegramAPI(token=TELEGRAM_TOKEN) as telegram:
        first, second = _app(engine, services, telegram), _app(engine, services, telegram)
        async with running(first, role="worker") as stop_first:
            said = await worker_state(first, "active")
            assert said["role"] == "worker"
            if engine.dialect.name == "sqlite":
                # SQLite: one process; the second is refused before it listens, in one line.
                with pytest.raises(RoleRefused, match="SQLite serves one pingan process"):
                    await serve(second, asyncio.Event(), role="worker")
                return
            # PostgreSQL: the second stands by, and takes over when the first stops.
            async with running(second, role="worker"):
                assert (await worker_state(second, "standby"))["worker"] == "standby"
                await asyncio.sleep(0.5)
                assert (await healthz(second))["worker"] == "standby"
                stop_first.set()
                await worker_state(second, "active", within=10)


async def test_a_second_poller_of_the_same_bot_is_refused(
    engine: AsyncEngine, services: Services
) -> None:
    async with FakeTelegramAPI(token=TELEGRAM_TOKEN) as telegram:
        poller, other = _app(engine, services, telegram), _app(engine, services, telegram)
        async with running(poller, role="all"):
            await telegram.wait_for(lambda call: call.method == "getUpdates", 20)
            with pytest.raises(RoleRefused, match="already polls Telegram for this bot"):
                await serve(other, asyncio.Event(), role="web")
            # The first goes on polling.
            telegram.push_update(telegram.text_update(42, "/start"))
            await telegram.wait_for_sent(42, text_contains="您好", timeout=20)


async def test_polling_leaves_a_webhook_in_use_alone(
    engine: AsyncEngine, services: Services
) -> None:
    async with FakeTelegramAPI(token=TELEGRAM_TOKEN) as telegram:
        telegram.webhook_url = "https://pingan.example.org/telegram/webhook"
        app = _app(engine, services, telegram)
        stop, ready = asyncio.Event(), asyncio.Event()
        with pytest.raises(ExceptionGroup) as refused:
            await asyncio.wait_for(serve(app, stop, ready, role="web"), 20)
        assert refused.group_contains(WebhookInUse, match="--take-over-webhook")
        assert telegram.webhook_url.endswith("/telegram/webhook")
        assert not any(call.method == "getUpdates" for call in telegram.calls)
        # The operator says they mean it: the webhook goes, polling starts.
        async with running(app, role="web", take_over_webhook=True):
            await telegram.wait_for(lambda call: call.method == "getUpdates", 20, since=0)
            assert telegram.webhook_url == ""
