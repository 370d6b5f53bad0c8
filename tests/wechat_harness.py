"""The official account wired as `pingan run` wires it in safe mode: our web app with the
WeChat callback on a test server, and the callback worker and outbox sender running against
the stand-in WeChat API. Tests and the WeChat benchmark post to it as WeChat's servers would."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
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
from tests.fakes.wechat_messages import (
    decrypt_reply,
    encrypted_request,
    parse_xml,
    scan_xml,
    text_xml,
)

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


class Phone:
    """WeChat's servers posting one person's messages to /wechat, as the person types."""

    ids = itertools.count(7_000_000_000)

    def __init__(self, client: TestClient, services: Services, openid: str) -> None:
        self.client = client
        self.services = services
        self.openid = openid

    async def post(self, xml: str) -> str:
        stamp = int(self.services.clock.now().timestamp())
        nonce = f"n{next(self.ids)}"
        query, body = encrypted_request(TOKEN, AES_KEY, APP_ID, xml, stamp, nonce)
        response = await self.client.post("/wechat", params=query, data=body.encode())
        assert response.status == 200, await response.text()
        text = await response.text()
        if text in ("", "success"):
            return ""
        return str(parse_xml(decrypt_reply(TOKEN, AES_KEY, APP_ID, text, query)).get("Content", ""))

    async def says(self, words: str) -> str:
        stamp = int(self.services.clock.now().timestamp())
        return await self.post(text_xml(self.openid, words, next(self.ids), stamp))

    async def scans(self, grid: str) -> str:
        stamp = int(self.services.clock.now().timestamp()) + next(self.ids) % 1000
        return await self.post(scan_xml(self.openid, grid, stamp))
