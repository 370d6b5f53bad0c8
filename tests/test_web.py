"""The HTTP side of `pingan run`: /healthz and the Telegram webhook with its secret header."""

from __future__ import annotations

import asyncio
import io

from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.app import App
from bot.runner import WEBHOOK_PATH, web_app
from bot.settings import Settings
from bot.telegram_bot import make_dispatcher
from dialogs.base import Services
from tests.fakes.telegram_api import FakeTelegramAPI

SECRET = "s3cret-token_for-tests"


def update(user_id: int, text: str, update_id: int = 1) -> dict[str, object]:
    return {
        "update_id": update_id,
        "message": {
            "message_id": update_id,
            "date": 1764380000,
            "chat": {"id": user_id, "type": "private", "first_name": "岩"},
            "from": {
                "id": user_id,
                "is_bot": False,
                "first_name": "岩",
                "language_code": "zh-hans",
            },
            "text": text,
        },
    }


async def test_healthz_and_the_webhook(engine: AsyncEngine, services: Services) -> None:
    app = App(Settings(), engine, services)
    async with FakeTelegramAPI() as fake:
        bot = fake.make_bot()
        dispatcher = make_dispatcher(services, lambda: None)
        client = TestClient(TestServer(web_app(app, "webhook", dispatcher, bot, SECRET)))
        await client.start_server()
        try:
            health = await client.get("/healthz")
            assert health.status == 200 and (await health.json())["status"] == "ok"

            no_secret = await client.post(WEBHOOK_PATH, json=update(42, "/start"))
            assert no_secret.status == 401
            wrong = await client.post(
                WEBHOOK_PATH,
                json=update(42, "/start"),
                headers={"X-Telegram-Bot-Api-Secret-Token": "wrong"},
            )
            assert wrong.status == 401
            assert fake.sent(42) == []

            ok = await client.post(
                WEBHOOK_PATH,
                json=update(42, "/start"),
                headers={"X-Telegram-Bot-Api-Secret-Token": SECRET},
            )
            assert ok.status == 200
            reply = await fake.wait_for_sent(42, text_contains="您好", since=0)
            assert "平安" in reply.text

            garbage = await client.post(
                WEBHOOK_PATH,
                data=b"\x00not json",
                headers={"X-Telegram-Bot-Api-Secret-Token": SECRET},
            )
            assert 400 <= garbage.status < 500
            not_an_update = await client.post(
                WEBHOOK_PATH,
                json={"update_id": 5, "message": {"text": 1}},
                headers={"X-Telegram-Bot-Api-Secret-Token": SECRET},
            )
            assert not_an_update.status == 400
            huge = await client.post(
                WEBHOOK_PATH,
                data=io.BytesIO(b"x" * (2 * 1024 * 1024)),
                headers={"X-Telegram-Bot-Api-Secret-Token": SECRET},
            )
            assert huge.status == 413
            await asyncio.sleep(0.1)
        finally:
            await client.close()
            await bot.session.close()
