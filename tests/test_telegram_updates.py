"""Each Telegram update once, and no answer lost: through the real aiogram, on the webhook
(as Telegram posts) and on polling, against the stand-in Bot API.

- the same update posted twice is handled once (one case, one receipt);
- the webhook answers 200 only once the update's unit of work has committed: a message the
  database could not take answers 500, and Telegram's redelivery is then handled, once;
- a receipt whose send meets a 429 or a 5xx still arrives, with its case number, once the
  sender has run; a direct reply that fails is queued with those after it, in order;
- polling confirms an update only once it is handled: a process stopped with an update in
  hand gets it again.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import datetime, time, timedelta
from typing import Any

import pytest
from aiogram import Bot, methods
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import event, func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.app import App
from bot.runner import WEBHOOK_PATH, web_app
from bot.settings import Settings
from bot.telegram_bot import make_dispatcher, poll
from dialogs.base import Services
from dispatch.clock import FrozenClock
from dispatch.payloads import Menu
from handlers.sender import OutboxSender
from storage.models import Case, InboundSeen, OutboxMessage
from tests.conftest import AT_ANY_HOUR, GRID, ZONE
from tests.fakes.telegram_api import ApiCall, FakeTelegramAPI
from tests.telegram_harness import fast_sender, replies_sent, running_bot

SECRET = "s3cret-token_for-tests"
CITIZEN = 5101


class Webhook:
    """Telegram's servers posting updates to our webhook, one at a time, as it does."""

    ids = itertools.count(1000)

    def __init__(
        self, client: TestClient, fake: FakeTelegramAPI, sender: OutboxSender, services: Services
    ):
        self.services = services
        self.client = client
        self.fake = fake
        self.sender = sender

    async def post(self, update: dict[str, Any]) -> int:
        response = await self.client.post(
            WEBHOOK_PATH, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": SECRET}
        )
        return response.status

    def text(self, user_id: int, text: str) -> dict[str, Any]:
        return {"update_id": next(self.ids), **self.fake.text_update(user_id, text)}

    def tap(self, user_id: int, label: str, in_calls: list[ApiCall]) -> dict[str, Any]:
        for call in reversed(in_calls):
            for row in self.fake.buttons(call):
                for text, data in row:
                    if label in text:
                        message_id = call.result["message_id"]
                        update = self.fake.callback_update(user_id, data, message_id=message_id)
                        return {"update_id": next(self.ids), **update}
        raise AssertionError(f"no button {label!r}")

    async def send(self, update: dict[str, Any], chat_id: int = CITIZEN) -> list[ApiCall]:
        """Post an update; what the bot had sent to the chat by the time the 200 came."""
        start = len(self.fake.sent(chat_id))
        assert await self.post(update) == 200
        return self.fake.sent(chat_id)[start:]

    async def later(self, clock: FrozenClock, containing: str) -> ApiCall:
        """Let time pass (past retry_after and any back-off) until the sender has sent a
        message containing `containing` to the citizen."""
        async with asyncio.timeout(10):
            while True:
                for call in self.fake.sent(CITIZEN):
                    if containing in call.text:
                        return call
                clock.advance(timedelta(minutes=1))
                self.sender.wake()
                await asyncio.sleep(0.05)

    async def settled(self) -> list[str]:
        """Every text the chat got, once the sender has sent the queued replies due."""
        await replies_sent(self.services, self.sender)
        return self.fake.texts(CITIZEN)


@contextlib.asynccontextmanager
async def webhook(
    engine: AsyncEngine, services: Services, quiet: Callable[[datetime], bool] | None = None
) -> AsyncIterator[Webhook]:
    async with FakeTelegramAPI() as fake:
        bot = fake.make_bot()
        sender = fast_sender(services, bot, quiet)
        dispatcher = make_dispatcher(services, sender.wake, webhook=True)
        application = web_app(App(Settings(), engine, services), "webhook", dispatcher, bot, SECRET)
        client = TestClient(TestServer(application))
        await client.start_server()
        try:
            async with asyncio.TaskGroup() as group:
                sending = group.create_task(sender.run())
                try:
                    yield Webhook(client, fake, sender, services)
                finally:
                    sending.cancel()
        finally:
            await client.close()
            await bot.session.close()


async def count(services: Services, model: Any, *where: Any) -> int:
    async with services.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


async def up_to_submit(tg: Webhook) -> dict[str, Any]:
    """A citizen's report, answered up to the summary; returns the 提交 tap (not posted)."""
    sent = await tg.send(tg.text(CITIZEN, f"/start g_{GRID}"))
    # The 200 came after the answer had gone out: nothing was left to a background task.
    assert any("发生了什么" in c.text for c in sent)
    sent = await tg.send(tg.text(CITIZEN, "隔壁装修天天吵，晚上十点还在砸墙"))
    for label in ("对，是这类", "2人", "没有", "完成"):
        sent = await tg.send(tg.tap(CITIZEN, label, sent))
    sent = await tg.send(tg.text(CITIZEN, "匿名反映"))
    assert "请核对" in sent[-1].text
    return tg.tap(CITIZEN, "提交", sent)


async def receipts(fake: FakeTelegramAPI) -> list[str]:
    return [t for t in fake.texts(CITIZEN) if "提交成功" in t]


@contextlib.contextmanager
def database_fails_once(engine: AsyncEngine, statement: str) -> Iterator[list[str]]:
    """The database connection breaks on the next statement starting with `statement`."""
    failed: list[str] = []

    def before(conn: Any, cursor: Any, sql: str, *args: Any) -> None:
        if not failed and sql.lstrip().upper().startswith(statement):
            failed.append(sql)
            raise OperationalError(sql, None, ConnectionResetError("connection lost"))

    event.listen(engine.sync_engine, "before_cursor_execute", before)
    try:
        yield failed
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", before)


async def test_the_same_update_twice_on_the_webhook_is_handled_once(
    engine: AsyncEngine, services: Services
) -> None:
    async with webhook(engine, services) as tg:
        submit = await up_to_submit(tg)
        assert await tg.send(submit) == []  # the receipt goes through the outbox...
        receipt = await tg.fake.wait_for_sent(CITIZEN, text_contains="提交成功", since=0)
        number = receipt.text.split("案件编号是 ")[1][:11]
        await tg.settled()
        # Telegram sends the tap again (it did not see our 200): nothing new happens, and
        # the spinner's callback query, already answered, does not make us fail.
        assert await tg.send(submit) == []
        description = tg.text(CITIZEN, "楼上漏水把我家天花板泡坏了，物业也不管")
        first = await tg.send(description)
        assert await tg.send(description) == []
        assert first  # the first copy was answered
        await asyncio.sleep(0.3)  # give a wrongly queued second receipt time to show up
        assert await receipts(tg.fake) == [receipt.text]
        assert await count(services, Case) == 1
        async with services.sessions() as session:
            assert await session.scalar(select(Case.number)) == number


async def test_a_message_the_database_could_not_take_is_refused_and_redelivered_once(
    engine: AsyncEngine, services: Services
) -> None:
    async with webhook(engine, services) as tg:
        submit = await up_to_submit(tg)
        with database_fails_once(engine, "INSERT INTO CASES") as failed:
            # Not 200: Telegram keeps the update and sends it again. And no apology: the
            # person gets the real answer when it comes.
            before = len(tg.fake.sent(CITIZEN))
            assert await tg.post(submit) == 500
            assert failed
            assert tg.fake.sent(CITIZEN)[before:] == []
            assert await count(services, Case) == 0
            assert await count(services, InboundSeen, InboundSeen.key.like("tg:%")) == 7

            assert await tg.send(submit) == []  # Telegram's redelivery
        receipt = await tg.fake.wait_for_sent(CITIZEN, text_contains="提交成功", since=0)
        await tg.settled()
        assert await tg.send(submit) == []  # and once more: already handled
        await asyncio.sleep(0.3)
        assert await receipts(tg.fake) == [receipt.text]
        assert await count(services, Case) == 1


@AT_ANY_HOUR
async def test_the_receipt_arrives_at_once_at_any_hour(
    engine: AsyncEngine, services: Services, clock: FrozenClock, local_time: time
) -> None:
    """The receipt answers the person's own tap: quiet hours do not hold it."""
    day = clock.now().astimezone(ZONE).date()
    clock.set(datetime.combine(day, local_time, tzinfo=ZONE))
    hours = services.policy.quiet
    assert hours is not None
    quiet = lambda at: hours.holds(at, services.zone)  # noqa: E731  as bot.runner wires it
    async with webhook(engine, services, quiet) as tg:
        await tg.send(await up_to_submit(tg))
        receipt = await tg.fake.wait_for_sent(CITIZEN, text_contains="提交成功", since=0)
        assert "案件编号是 2026-" in receipt.text


@pytest.mark.parametrize("error_code", [429, 502])
async def test_a_receipt_that_meets_a_429_or_a_5xx_still_arrives(
    engine: AsyncEngine, services: Services, clock: FrozenClock, error_code: int
) -> None:
    async with webhook(engine, services) as tg:
        submit = await up_to_submit(tg)
        tg.fake.fail_next("sendMessage", chat_id=CITIZEN, error_code=error_code, retry_after=2)
        await tg.send(submit)
        refused = await tg.fake.wait_for(
            lambda c: c.failed and c.chat_id == CITIZEN, since=0, timeout=5
        )
        assert "提交成功" in refused.params["text"]
        assert await receipts(tg.fake) == []
        receipt = await tg.later(clock, "提交成功")
        async with services.sessions() as session:
            number = await session.scalar(select(Case.number))
        assert number is not None and number in receipt.text
        await asyncio.sleep(0.3)
        assert await receipts(tg.fake) == [receipt.text]


@pytest.mark.parametrize("error_code", [429, 500])
async def test_a_direct_reply_that_fails_goes_later_with_those_after_it_in_order(
    engine: AsyncEngine, services: Services, clock: FrozenClock, error_code: int
) -> None:
    async with webhook(engine, services) as tg:
        tg.fake.fail_next("sendMessage", chat_id=CITIZEN, error_code=error_code, retry_after=1)
        # The welcome fails; it and the question after it are queued as replies.
        assert await tg.send(tg.text(CITIZEN, f"/start g_{GRID}")) == []
        async with services.sessions() as session:
            queued = (
                await session.scalars(select(OutboxMessage.purpose).order_by(OutboxMessage.id))
            ).all()
        assert queued == ["reply", "reply"]
        await tg.later(clock, "发生了什么")
        await tg.settled()
        texts = tg.fake.texts(CITIZEN)
        assert len(texts) == 2
        assert "曼听社区" in texts[0] and "发生了什么" in texts[1]


async def test_polling_handles_two_copies_of_an_update_once(services: Services) -> None:
    async with running_bot(services) as tg:
        update = tg.fake.text_update(CITIZEN, f"/start g_{GRID}")
        update["update_id"] = 77
        tg.fake.push_update(dict(update))
        tg.fake.push_update(dict(update))  # the same update, in the same batch
        await tg.fake.wait_for_sent(CITIZEN, text_contains="发生了什么", since=0)
        await asyncio.sleep(0.5)
        assert sum("发生了什么" in t for t in tg.fake.texts(CITIZEN)) == 1


class StalledNetwork:
    """The bot's requests of one method hang until released (a network that stalls)."""

    def __init__(self, method: type[Any]) -> None:
        self.method = method
        self.entered = asyncio.Event()
        self.release = asyncio.Event()

    async def __call__(self, make_request: Any, bot: Bot, method: Any) -> Any:
        if isinstance(method, self.method):
            self.entered.set()
            await self.release.wait()
        return await make_request(bot, method)


async def test_polling_gets_an_update_again_when_stopped_with_it_in_hand(
    engine: AsyncEngine, services: Services
) -> None:
    async with FakeTelegramAPI() as fake:
        # First process: the 提交 tap's spinner call stalls, then the process stops.
        first = fake.make_bot()
        stalled = StalledNetwork(methods.AnswerCallbackQuery)
        first.session.middleware(stalled)
        dispatcher = make_dispatcher(services, lambda: None)
        update = fake.callback_update(CITIZEN, Menu(command="report").pack(), message_id=1)
        update_id = fake.push_update(update)
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(poll(dispatcher, first, polling_timeout=1))
                # Bounds, not expectations: the first update also builds aiogram's models
                # (deferred to first use), which on a loaded CI machine takes seconds.
                await asyncio.wait_for(stalled.entered.wait(), 30)
                await asyncio.sleep(1.5)  # long enough for aiogram to ask for the next batch
                confirming = [
                    c
                    for c in fake.calls
                    if c.method == "getUpdates" and (c.params.get("offset") or 0) > update_id
                ]
                assert confirming == []  # not confirmed while in hand
                # The process stops: polling and the handling in flight end mid-way.
                for task in list(dispatcher._handle_update_tasks):
                    task.cancel()
                raise ProcessStopped
        except* ProcessStopped:
            pass
        await first.session.close()
        assert await count(services, InboundSeen) == 0  # nothing was committed

        # Second process: Telegram hands the update out again, and it is handled.
        second = fake.make_bot()
        dispatcher = make_dispatcher(services, lambda: None)
        async with asyncio.TaskGroup() as group:
            group.create_task(poll(dispatcher, second, polling_timeout=1))
            try:
                await fake.wait_for_sent(CITIZEN, text_contains="发生了什么", since=0, timeout=30)
            finally:
                await dispatcher.stop_polling()
        await second.session.close()
        assert await count(services, InboundSeen) == 1


class ProcessStopped(Exception):
    pass
