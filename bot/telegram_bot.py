"""Wiring aiogram: the Bot client (pointed at a self-hosted API server if configured),
the Dispatcher with our one router, and the webhook route."""

from __future__ import annotations

from aiogram import Bot, Dispatcher, methods
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.methods.base import Response
from aiogram.types import BotCommand

from dialogs.base import Services
from dialogs.router import handle
from dispatch.messages import Inbound
from handlers import telegram
from locales import text

COMMANDS = (
    "start",
    "report",
    "status",
    "mycases",
    "tasks",
    "help",
    "cancel",
    "back",
    "whoami",
    "bind",
    "pause",
    "resume",
    "supervise",
    "points",
    "ranking",
    "digest",
    "link",
)


# aiogram parses every Bot API answer with `Response[method.__returning__]`, a generic model
# pydantic keeps only weakly and so rebuilds again and again (about 7% of CPU under load).
# Holding the ones we use keeps them built.
_RESPONSE_TYPES = [
    Response[m.__returning__]  # type: ignore[name-defined]
    for m in (
        methods.SendMessage,
        methods.AnswerCallbackQuery,
        methods.GetUpdates,
        methods.GetMe,
        methods.SetMyCommands,
        methods.DeleteWebhook,
        methods.SetWebhook,
        methods.SendPhoto,
    )
]


def make_bot(token: str, api_base: str) -> Bot:
    session = AiohttpSession(api=TelegramAPIServer.from_base(api_base.rstrip("/")))
    return Bot(token, session=session)


def make_dispatcher(services: Services, on_handled: callable) -> Dispatcher:  # type: ignore[valid-type]
    async def handle_inbound(inbound: Inbound):
        return await handle(services, inbound)

    dispatcher = Dispatcher()
    dispatcher.include_router(telegram.setup(handle_inbound, on_handled))
    return dispatcher


async def publish_commands(bot: Bot, locale: str) -> None:
    """The command list Telegram shows under "/" in the person's language."""
    commands = [
        BotCommand(command=c, description=text(f"command_help.{c}", locale)) for c in COMMANDS
    ]
    await bot.set_my_commands(commands)
    if locale != "en":
        english = [
            BotCommand(command=c, description=text(f"command_help.{c}", "en")) for c in COMMANDS
        ]
        await bot.set_my_commands(english, language_code="en")
