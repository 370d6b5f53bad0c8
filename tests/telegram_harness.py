"""The real aiogram Dispatcher and our router, polling the stand-in Bot API, with the
outbox sender running beside it: the whole Telegram side of `pingan run` minus the
process. Tests talk to it as Telegram users would."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Any

from aiogram import Bot, Dispatcher
from sqlalchemy import func, or_, select

from bot.telegram_bot import make_dispatcher, poll
from dialogs.base import Services
from handlers.sender import OutboxSender, RateLimiter
from handlers.telegram import TelegramTransport
from storage.models import OutboxMessage
from tests.conftest import GRID
from tests.fakes.telegram_api import ApiCall, FakeTelegramAPI


class TelegramHarness:
    def __init__(
        self,
        fake: FakeTelegramAPI,
        bot: Bot,
        dispatcher: Dispatcher,
        sender: OutboxSender,
        services: Services,
    ):
        self.services = services
        self.fake = fake
        self.bot = bot
        self.dispatcher = dispatcher
        self.sender = sender
        self.handled = 0
        self._handled_event = asyncio.Event()

    def on_handled(self) -> None:
        self.sender.wake()
        self.handled += 1
        self._handled_event.set()

    async def _push(self, update: dict[str, Any], chat_id: int) -> list[ApiCall]:
        """Push one update and return what the bot sent to that chat while handling it."""
        start = len(self.fake.sent(chat_id))
        target = self.handled + 1
        self.fake.push_update(update)
        async with asyncio.timeout(10):
            while self.handled < target:
                self._handled_event.clear()
                await self._handled_event.wait()
            await self.replies_sent()
        return self.fake.sent(chat_id)[start:]

    async def replies_sent(self) -> None:
        await replies_sent(self.services, self.sender)

    async def says(self, user_id: int, text: str, **kw: Any) -> list[ApiCall]:
        return await self._push(self.fake.text_update(user_id, text, **kw), user_id)

    async def taps(self, user_id: int, label: str, in_calls: list[ApiCall]) -> list[ApiCall]:
        """Tap the inline button whose text contains `label` in the given messages."""
        for call in reversed(in_calls):
            for row in self.fake.buttons(call):
                for text, data in row:
                    if label in text and data not in ("", "request_location", "request_contact"):
                        message_id = call.result["message_id"]
                        update = self.fake.callback_update(user_id, data, message_id=message_id)
                        return await self._push(update, user_id)
        raise AssertionError(f"no button {label!r} in {[c.text[:60] for c in in_calls]}")

    async def sends(self, user_id: int, update: dict[str, Any]) -> list[ApiCall]:
        return await self._push(update, user_id)

    async def reports_up_to_contact(self, user_id: int, description: str) -> list[ApiCall]:
        """A report from the QR code of GRID, answered up to the contact question: the category
        offered (the first of two or three when the classifier is unsure), two people, no
        photos; returns what the phone question sent."""
        sent = await self.says(user_id, f"/start g_{GRID}")
        sent = await self.says(user_id, description)
        unsure = "最像下面哪一种" in sent[-1].text
        first = self.fake.buttons(sent[-1])[0][0][0] if unsure else "对，是这类"
        sent = await self.taps(user_id, first, sent)
        sent = await self.taps(user_id, "2人", sent)
        sent = await self.taps(user_id, "没有", sent)
        sent = await self.taps(user_id, "完成", sent)
        assert "手机号" in sent[-1].text, sent[-1].text
        return sent

    async def notices(self, chat_id: int, containing: str) -> ApiCall:
        """Wait for a notice (sent by the outbox sender) to `chat_id`."""
        self.sender.wake()
        return await self.fake.wait_for_sent(chat_id, text_contains=containing, since=0)


async def replies_sent(services: Services, sender: OutboxSender) -> None:
    """Wait until the sender has sent every queued reply that is due (an answer that must
    arrive, or one whose direct send failed, goes through the outbox)."""
    due = (
        select(func.count())
        .select_from(OutboxMessage)
        .where(
            OutboxMessage.purpose == "reply",
            or_(
                OutboxMessage.status == "sending",
                (OutboxMessage.status == "pending")
                & (
                    OutboxMessage.not_before.is_(None)  # due at once
                    | (OutboxMessage.not_before <= services.clock.now())
                ),
            ),
        )
    )
    while True:
        async with services.sessions() as session:
            if not await session.scalar(due):
                return
        sender.wake()
        await asyncio.sleep(0.02)


def fast_sender(
    services: Services, bot: Bot, quiet: Callable[[datetime], bool] | None = None
) -> OutboxSender:
    """The outbox sender over Telegram with no rate limits and a 50 ms poll, so that a test
    does not wait on it."""
    return OutboxSender(
        services.sessions,
        services.clock,
        TelegramTransport(bot),
        limiter=RateLimiter(per_second=1000, per_chat_interval=0),
        poll_seconds=0.05,
        quiet=quiet,
    )


@contextlib.asynccontextmanager
async def running_bot(
    services: Services, *, like_run: bool = False
) -> AsyncIterator[TelegramHarness]:
    """The bot polling the stand-in, with a fast sender (no rate limits) woken after every
    message; or, `like_run`, woken as `pingan run` wakes it: only by a unit of work that
    queued a notice, else every second (the benchmarks measure that)."""
    async with FakeTelegramAPI() as fake:
        bot = fake.make_bot()
        sender = fast_sender(services, bot)
        if like_run:
            sender.poll_seconds = 1.0
            services.sessions.on_queued = sender.wake
        harness: TelegramHarness | None = None

        def on_handled() -> None:
            assert harness is not None
            harness.handled += 1
            harness._handled_event.set()
            if not like_run:
                harness.sender.wake()

        dispatcher = make_dispatcher(services, on_handled)
        started = asyncio.Event()
        dispatcher.startup.register(started.set)
        harness = TelegramHarness(fake, bot, dispatcher, sender, services)
        try:
            async with asyncio.TaskGroup() as group:
                polling = group.create_task(poll(dispatcher, bot, polling_timeout=1))
                sending = group.create_task(sender.run())
                await started.wait()
                try:
                    yield harness
                finally:
                    await dispatcher.stop_polling()
                    sending.cancel()
                    await asyncio.wait([polling])
        finally:
            await bot.session.close()
