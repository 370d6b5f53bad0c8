"""`pingan run` in-process: one process serving the WeChat callback and Telegram at once,
with /healthz, the scheduler and the senders; and a clean stop."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator

import aiohttp
import pytest
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.app import App
from bot.runner import serve
from bot.settings import Settings
from dialogs.base import Services
from tests.fakes.telegram_api import FakeTelegramAPI
from tests.fakes.wechat_api import FakeWeChatAPI
from tests.fakes.wechat_messages import signed_query

TOKEN = "wx-token"
TELEGRAM_TOKEN = "123456:TEST-TOKEN-abcdefghijklmnopqrstu"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.asynccontextmanager
async def serving(app: App) -> AsyncIterator[asyncio.Task[None]]:
    """`pingan run` in this process, up and ready; stopped (and awaited) when the block ends."""
    stop, ready = asyncio.Event(), asyncio.Event()
    async with asyncio.TaskGroup() as group:
        running = group.create_task(serve(app, stop, ready))
        await asyncio.wait_for(ready.wait(), 10)
        yield running
        stop.set()
        await asyncio.wait_for(asyncio.shield(running), 15)


async def test_one_process_serves_telegram_and_wechat(
    engine: AsyncEngine, services: Services
) -> None:
    port = free_port()
    async with (
        FakeWeChatAPI(app_id="wx_test_app") as wechat,
        FakeTelegramAPI(token=TELEGRAM_TOKEN) as telegram,
    ):
        settings = Settings(
            telegram_token=SecretStr(telegram.token),
            telegram_api_base=telegram.base_url,  # type: ignore[arg-type]
            wechat_token=SecretStr(TOKEN),
            wechat_app_id="wx_test_app",
            wechat_app_secret=SecretStr("test-secret"),
            wechat_api_base=wechat.base_url,  # type: ignore[arg-type]
            wechat_allow_plain=True,
            http_port=port,
        )
        async with serving(App(settings, engine, services)):
            async with aiohttp.ClientSession() as http:
                health = await http.get(f"http://127.0.0.1:{port}/healthz")
                assert health.status == 200
                stamp = int(services.clock.now().timestamp())
                query = signed_query(TOKEN, stamp, "nonce1") | {"echostr": "hello-wechat"}
                check = await http.get(f"http://127.0.0.1:{port}/wechat", params=query)
                assert check.status == 200 and await check.text() == "hello-wechat"
            # Telegram is polled at the same time.
            telegram.push_update(telegram.text_update(42, "/start"))
            await telegram.wait_for_sent(42, text_contains="您好", since=0, timeout=10)


@pytest.mark.parametrize("answer", [502, None], ids=["502-page", "connection-dropped"])
async def test_a_start_during_a_telegram_outage_waits_for_telegram_instead_of_exiting(
    engine: AsyncEngine, services: Services, answer: int | None
) -> None:
    port = free_port()
    async with FakeTelegramAPI(token=TELEGRAM_TOKEN) as telegram:
        settings = Settings(
            telegram_token=SecretStr(telegram.token),
            telegram_api_base=telegram.base_url,  # type: ignore[arg-type]
            http_port=port,
        )
        telegram.go_down(answer)
        # Up and serving (notices on other channels, /healthz) while Telegram is away.
        async with serving(App(settings, engine, services)) as running:
            async with aiohttp.ClientSession() as http:
                health = await http.get(f"http://127.0.0.1:{port}/healthz")
                assert health.status == 200
            await asyncio.sleep(1.5)
            assert not running.done()
            telegram.come_back()
            telegram.push_update(telegram.text_update(42, "/start"))
            await telegram.wait_for_sent(42, text_contains="您好", since=0, timeout=20)
