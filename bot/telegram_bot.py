"""Wiring aiogram: the Bot client (pointed at a self-hosted API server if configured),
the Dispatcher with our one router (and where its unsent replies are queued), and polling
that confirms an update only once it is handled."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from aiogram import Bot, Dispatcher, methods
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.session.middlewares.base import (
    BaseRequestMiddleware,
    NextRequestMiddlewareType,
)
from aiogram.client.telegram import TelegramAPIServer
from aiogram.methods.base import Response, TelegramMethod, TelegramType
from aiogram.types import BotCommand

from dialogs.base import Answer, Services
from dialogs.router import handle
from dispatch.inbound import queue_replies
from dispatch.messages import Inbound, Reply
from handlers import telegram
from locales import text

log = logging.getLogger(__name__)

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
    "visit",
    "keypersons",
    "keyperson",
    "patrol",
    "grids",
    "keyplaces",
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


def make_dispatcher(
    services: Services, on_handled: Callable[[], None] = lambda: None, *, webhook: bool = False
) -> Dispatcher:
    """Our router on a Dispatcher. In webhook mode an update the database could not take is
    refused (500), so that Telegram sends it again. (The sender needs no call per message: a
    unit of work that queued a notice wakes it, storage.database.WAKE.)"""

    async def handle_inbound(inbound: Inbound) -> Answer:
        return await handle(services, inbound)

    async def send_later(answer: Answer, chat_ref: str, replies: list[Reply], key: str) -> None:
        if answer.person_id is None:
            log.warning("%d replies not sent and nobody to queue them for", len(replies))
            return
        async with services.sessions() as session, session.begin():
            await queue_replies(
                session,
                services.clock,
                answer.person_id,
                replies,
                key=f"{key}:later",
                channel=telegram.CHANNEL,
                chat_ref=chat_ref,
            )

    dispatcher = Dispatcher()
    router = telegram.setup(handle_inbound, on_handled, send_later=send_later, redelivers=webhook)
    dispatcher.include_router(router)
    return dispatcher


class ConfirmAfterHandling(BaseRequestMiddleware):
    """Polling: confirm updates only once they are handled.

    getUpdates with an offset confirms every update below it, and aiogram asks for the next
    batch as soon as it has started handling this one (each update in its own task). A
    process killed then would lose the updates in hand. This waits, before each getUpdates,
    for the updates being handled to finish (committed and answered), so that a process
    killed mid-update gets it again, and the dedupe (dialogs.router.handle) stops a second
    handling of those that had committed. The updates of one batch are still handled
    concurrently.
    """

    def __init__(self, dispatcher: Dispatcher) -> None:
        self.dispatcher = dispatcher

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        if isinstance(method, methods.GetUpdates):
            # aiogram (pinned ~=3.31) adds each update's task to this set as it creates it,
            # before it reads on from the batch, so every update in hand is in it here.
            in_hand = set(self.dispatcher._handle_update_tasks)
            if in_hand:
                await asyncio.wait(in_hand)
        return await make_request(bot, method)


async def poll(dispatcher: Dispatcher, bot: Bot, **kwargs: Any) -> None:
    """Long-poll Telegram until dispatcher.stop_polling(), confirming each update only once
    it is handled (see ConfirmAfterHandling)."""
    bot.session.middleware(ConfirmAfterHandling(dispatcher))
    await dispatcher.start_polling(bot, handle_signals=False, close_bot_session=False, **kwargs)


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
