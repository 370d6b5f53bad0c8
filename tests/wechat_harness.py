"""The official account wired as `pingan run` wires it in safe mode: our web app with the
WeChat callback on a test server, and the callback worker and outbox sender running against
the stand-in WeChat API. Tests and the WeChat benchmark post to it as WeChat's servers would."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from datetime import datetime

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.app import App
from bot.runner import web_app
from bot.settings import Settings
from bot.wechat_wiring import wechat_channel
from dialogs.base import Services
from tests.fakes.wechat_api import FakeWeChatAPI

TOKEN = "pingan-wechat-token"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
APP_ID = "wx_test_app"


@contextlib.asynccontextmanager
async def official_account(
    engine: AsyncEngine, services: Services, quiet: Callable[[datetime], bool] | None = None
) -> AsyncIterator[tuple[TestClient[web.Request, web.Application], FakeWeChatAPI]]:
    async with FakeWeChatAPI(app_id=APP_ID) as fake:
        settings = Settings(
            wechat_token=SecretStr(TOKEN),
            wechat_app_id=APP_ID,
            wechat_app_secret=SecretStr("test-secret"),
            wechat_aes_key=SecretStr(AES_KEY),
            wechat_api_base=fake.base_url,  # type: ignore[arg-type]
        )
        app = App(settings, engine, services)
        channel = wechat_channel(app, quiet)
        # As `pingan run` does: a unit of work that queued a notice wakes the sender.
        services.sessions.on_queued = channel.sender.wake
        application = web_app(app, "off")
        channel.callback.register(application)
        client = TestClient(TestServer(application))
        await client.start_server()
        try:
            async with asyncio.TaskGroup() as group:
                tasks = [
                    group.create_task(channel.callback.run()),
                    group.create_task(channel.sender.run()),
                ]
                try:
                    yield client, fake
                finally:
                    for task in tasks:
                        task.cancel()
        finally:
            await client.close()
            await channel.api.close()
