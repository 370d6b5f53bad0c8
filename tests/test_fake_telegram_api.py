"""The stand-in Bot API server works with the real aiogram client and dispatcher."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiogram import Bot, Dispatcher, F, Router
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramRetryAfter,
    TelegramUnauthorizedError,
)
from aiogram.types import (
    BotCommand,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    Message,
    ReplyKeyboardMarkup,
)

from tests.fakes.telegram_api import FakeTelegramAPI

USER = 1001
OTHER = 1002


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegramAPI]:
    async with FakeTelegramAPI() as api:
        yield api


def _bot(fake: FakeTelegramAPI, token: str | None = None) -> Bot:
    session = AiohttpSession(api=TelegramAPIServer.from_base(fake.base_url))
    return Bot(token=token or fake.token, session=session)


@pytest.fixture
async def bot(fake: FakeTelegramAPI) -> AsyncIterator[Bot]:
    bot = _bot(fake)
    yield bot
    await bot.session.close()


def _keyboard() -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [
                InlineKeyboardButton(text="是", callback_data="answer:yes"),
                InlineKeyboardButton(text="否", callback_data="answer:no"),
            ],
            [InlineKeyboardButton(text="说明", url="https://example.org/help")],
        ]
    )


async def test_get_me(bot: Bot, fake: FakeTelegramAPI) -> None:
    me = await bot.get_me()
    assert me.id == fake.bot_id == bot.id
    assert me.is_bot
    assert me.username == "pingan_test_bot"
    assert fake.calls[-1].method == "getMe"


async def test_send_message_records_text_and_buttons(bot: Bot, fake: FakeTelegramAPI) -> None:
    first = await bot.send_message(USER, "请选择：", reply_markup=_keyboard())
    second = await bot.send_message(USER, "42")
    await bot.send_message(OTHER, "别的用户")

    assert (first.message_id, second.message_id) == (1, 2)  # per chat, incrementing
    assert first.chat.id == USER and first.chat.type == "private"
    assert first.from_user is not None and first.from_user.id == fake.bot_id
    assert first.text == "请选择："
    assert first.reply_markup is not None  # inline keyboards are echoed back
    assert first.reply_markup.model_dump() == _keyboard().model_dump()
    assert abs(first.date.timestamp() - time.time()) < 5

    assert fake.texts(USER) == ["请选择：", "42"]
    assert fake.texts() == ["请选择：", "42", "别的用户"]
    call = fake.sent(USER)[0]
    assert call.method == "sendMessage"
    assert call.params["chat_id"] == USER  # ints decoded as ints
    assert fake.sent(USER)[1].params["text"] == "42"  # ...but text stays a string
    assert isinstance(call.params["reply_markup"], dict)
    assert fake.buttons(call) == [
        [("是", "answer:yes"), ("否", "answer:no")],
        [("说明", "https://example.org/help")],
    ]


async def test_reply_keyboard_buttons(bot: Bot, fake: FakeTelegramAPI) -> None:
    markup = ReplyKeyboardMarkup(
        keyboard=[
            [KeyboardButton(text="发送位置", request_location=True)],
            [KeyboardButton(text="发送手机号", request_contact=True), KeyboardButton(text="取消")],
        ],
        resize_keyboard=True,
    )
    message = await bot.send_message(USER, "请发送位置", reply_markup=markup)
    assert message.reply_markup is None  # Telegram only echoes inline keyboards
    assert fake.buttons(fake.sent(USER)[0]) == [
        [("发送位置", "request_location")],
        [("发送手机号", "request_contact"), ("取消", "")],
    ]


async def test_photo_location_media_group(bot: Bot, fake: FakeTelegramAPI) -> None:
    from aiogram.types import BufferedInputFile, InputMediaPhoto

    photo = await bot.send_photo(USER, "AgACAgIAAxk-existing", caption="现场照片")
    assert photo.photo is not None and photo.photo[-1].file_id == "AgACAgIAAxk-existing"
    uploaded = await bot.send_photo(USER, BufferedInputFile(b"\xff\xd8jpeg", filename="a.jpg"))
    assert uploaded.photo is not None
    assert fake.sent(USER)[-1].files and list(fake.sent(USER)[-1].files.values()) == [
        b"\xff\xd8jpeg"
    ]
    location = await bot.send_location(USER, latitude=39.9042, longitude=116.4074)
    assert location.location is not None and location.location.latitude == pytest.approx(39.9042)
    album = await bot.send_media_group(
        USER,
        [InputMediaPhoto(media="AgAC-1", caption="一"), InputMediaPhoto(media="AgAC-2")],
    )
    assert len(album) == 2 and album[0].media_group_id == album[1].media_group_id
    assert fake.texts(USER) == ["现场照片", "", "", "一"]
    assert [c.method for c in fake.sent(USER)] == [
        "sendPhoto",
        "sendPhoto",
        "sendLocation",
        "sendMediaGroup",
    ]

    # getFile + download through the file URL
    file = await bot.get_file(uploaded.photo[-1].file_id)
    assert file.file_path
    data = await bot.download_file(file.file_path)
    assert data is not None and data.read() == b"\xff\xd8jpeg"


async def test_retry_after_injection(bot: Bot, fake: FakeTelegramAPI) -> None:
    fake.fail_next("sendMessage", retry_after=7)
    with pytest.raises(TelegramRetryAfter) as excinfo:
        await bot.send_message(USER, "第一次")
    assert excinfo.value.retry_after == 7
    assert "Too Many Requests: retry after 7" in str(excinfo.value)

    await bot.send_message(USER, "第二次")  # only the next call fails
    assert fake.texts(USER) == ["第二次"]  # failed calls are not "sent"...
    failed = fake.calls[-2]
    assert failed.failed and failed.error_code == 429  # ...but are recorded
    assert failed.params["text"] == "第一次"


async def test_forbidden_injection_for_one_chat(bot: Bot, fake: FakeTelegramAPI) -> None:
    fake.fail_next("sendmessage", chat_id=OTHER, error_code=403, times=2)
    await bot.send_message(USER, "不受影响")
    for _ in range(2):
        with pytest.raises(TelegramForbiddenError, match="bot was blocked by the user"):
            await bot.send_message(OTHER, "被拉黑")
    await bot.send_message(OTHER, "已解除")
    assert fake.texts(OTHER) == ["已解除"]
    assert fake.texts(USER) == ["不受影响"]


async def test_telegram_validation(bot: Bot, fake: FakeTelegramAPI) -> None:
    await bot.send_message(USER, "长" * 4096)  # exactly at the limit is fine
    with pytest.raises(TelegramBadRequest, match="message is too long"):
        await bot.send_message(USER, "长" * 4097)
    with pytest.raises(TelegramBadRequest, match="message text is empty"):
        await bot.send_message(USER, "")
    with pytest.raises(TelegramBadRequest, match="message text is empty"):
        await bot.send_message(USER, "  \n ")
    too_long_data = InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text="x", callback_data="数" * 22)]]  # 66 bytes
    )
    with pytest.raises(TelegramBadRequest, match="BUTTON_DATA_INVALID"):
        await bot.send_message(USER, "按钮", reply_markup=too_long_data)
    with pytest.raises(TelegramBadRequest, match="message caption is too long"):
        await bot.send_photo(USER, "AgAC-x", caption="图" * 1025)
    with pytest.raises(TelegramBadRequest, match="can't parse entities"):
        await bot.send_message(USER, "a < b", parse_mode="HTML")
    # HTML tags do not count towards the length limit
    await bot.send_message(USER, "<b>" + "长" * 4096 + "</b>", parse_mode="HTML")
    assert len(fake.sent(USER)) == 2
    assert sum(c.failed for c in fake.calls) == 6


async def test_edit_and_callback_rules(bot: Bot, fake: FakeTelegramAPI) -> None:
    sent = await bot.send_message(USER, "原文", reply_markup=_keyboard())
    edited = await bot.edit_message_text("新文", chat_id=USER, message_id=sent.message_id)
    assert isinstance(edited, Message) and edited.text == "新文" and edited.reply_markup is None
    with pytest.raises(TelegramBadRequest, match="message is not modified"):
        await bot.edit_message_text("新文", chat_id=USER, message_id=sent.message_id)
    with pytest.raises(TelegramBadRequest, match="message to edit not found"):
        await bot.edit_message_text("新文", chat_id=USER, message_id=999)
    with pytest.raises(TelegramBadRequest, match="query is too old"):
        await bot.answer_callback_query("no-such-query")
    assert fake.texts(USER) == ["原文", "新文"]
    stored = fake.message(USER, sent.message_id)
    assert stored is not None and stored["text"] == "新文" and "reply_markup" not in stored
    assert "edit_date" in stored


async def test_misc_methods(bot: Bot, fake: FakeTelegramAPI) -> None:
    assert await bot.set_my_commands([BotCommand(command="start", description="开始")])
    assert [c.command for c in await bot.get_my_commands()] == ["start"]
    assert await bot.delete_my_commands()
    assert await bot.send_chat_action(USER, "typing")
    assert await bot.delete_webhook(drop_pending_updates=True)
    info = await bot.get_webhook_info()
    assert info.url == "" and info.pending_update_count == 0


async def test_wrong_token_and_unknown_method(fake: FakeTelegramAPI) -> None:
    bad = _bot(fake, token="999:WRONG")
    try:
        with pytest.raises(TelegramUnauthorizedError):
            await bad.get_me()
    finally:
        await bad.session.close()
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{fake.base_url}/bot{fake.token}/sendTelepathy", data={"a": "1"}) as resp,
    ):
        assert resp.status == 404
        assert await resp.json() == {
            "ok": False,
            "error_code": 404,
            "description": "Not Found: method not found",
        }


async def test_get_updates_offset_and_long_poll(bot: Bot, fake: FakeTelegramAPI) -> None:
    first = fake.push_update(fake.text_update(USER, "一"))
    second = fake.push_update(fake.text_update(USER, "二"))
    assert second == first + 1
    updates = await bot.get_updates()
    assert [u.update_id for u in updates] == [first, second]
    assert updates[0].message is not None and updates[0].message.text == "一"
    assert [u.update_id for u in await bot.get_updates(offset=second)] == [second]
    assert fake.pending_updates == 1

    # nothing pending: waits (capped at fake.max_poll_timeout) and returns []
    fake.max_poll_timeout = 0.2
    started = time.monotonic()
    assert await bot.get_updates(offset=second + 1, timeout=30) == []
    assert 0.15 < time.monotonic() - started < 2

    # an update pushed during a long poll is delivered right away
    fake.max_poll_timeout = 5
    poll = bot.get_updates(offset=second + 1, timeout=5)
    async with asyncio.TaskGroup() as tg:
        task = tg.create_task(poll)
        await asyncio.sleep(0.05)
        third = fake.push_update(fake.text_update(USER, "三"))
    assert [u.update_id for u in task.result()] == [third]
    assert fake.pending_updates == 1


async def test_update_builders(fake: FakeTelegramAPI, bot: Bot) -> None:
    sent = await bot.send_message(USER, "请描述纠纷")
    reply = fake.text_update(USER, "邻居噪音", reply_to_message_id=sent.message_id)
    message = reply["message"]
    assert message["message_id"] == sent.message_id + 1  # ids are shared per chat
    assert message["reply_to_message"]["text"] == "请描述纠纷"
    assert message["reply_to_message"]["from"]["id"] == fake.bot_id
    assert message["from"]["language_code"] == "zh-hans"
    command = fake.text_update(USER, "/start ref42")["message"]
    assert command["entities"] == [{"type": "bot_command", "offset": 0, "length": 6}]
    cb = fake.callback_update(USER, "answer:yes", message_id=sent.message_id)
    assert cb["callback_query"]["message"]["text"] == "请描述纠纷"
    for update in (
        reply,
        cb,
        fake.location_update(USER, 31.2, 121.5),
        fake.photo_update(USER, caption="照片"),
        fake.sticker_update(USER),
        fake.contact_update(USER, "+8613800000000"),
    ):
        fake.push_update(update)
    kinds = [u.event_type for u in await bot.get_updates()]
    assert kinds == ["message", "callback_query"] + ["message"] * 4
    assert (await bot.get_updates())[-1].message.contact.user_id == USER  # type: ignore[union-attr]


async def test_dispatcher_polling_echo(bot: Bot, fake: FakeTelegramAPI) -> None:
    router = Router()

    @router.message(F.text)
    async def echo(message: Message) -> None:
        if message.reply_to_message is not None:
            await message.answer(f"回复「{message.reply_to_message.text}」：{message.text}")
            return
        markup = InlineKeyboardMarkup(
            inline_keyboard=[
                [InlineKeyboardButton(text="再来", callback_data=f"again:{message.text}")]
            ]
        )
        await message.answer(f"echo: {message.text}", reply_markup=markup)

    @router.callback_query(F.data.startswith("again:"))
    async def again(query: CallbackQuery) -> None:
        await query.answer("好的")
        assert isinstance(query.message, Message)
        await query.message.edit_text(f"pressed {query.data}")

    dp = Dispatcher()
    dp.include_router(router)
    started = asyncio.Event()
    dp.startup.register(started.set)

    async with asyncio.TaskGroup() as tg:
        tg.create_task(dp.start_polling(bot, handle_signals=False, polling_timeout=1))
        await asyncio.wait_for(started.wait(), 5)
        try:
            fake.push_update(fake.text_update(USER, "你好"))
            echoed = await fake.wait_for_sent(USER, text_contains="echo: 你好")
            assert fake.buttons(echoed) == [[("再来", "again:你好")]]
            message_id = echoed.result["message_id"]

            fake.push_update(fake.callback_update(USER, "again:你好", message_id=message_id))
            edited = await fake.wait_for(
                lambda c: c.method == "editMessageText", chat_id=USER, timeout=5
            )
            assert edited.params["text"] == "pressed again:你好"
            assert edited.params["message_id"] == message_id
            answers = [c for c in fake.calls if c.method == "answerCallbackQuery"]
            assert len(answers) == 1 and not answers[0].failed
            assert answers[0].params["text"] == "好的"

            fake.push_update(fake.text_update(USER, "收到", reply_to_message_id=message_id))
            reply = await fake.wait_for_sent(USER, text_contains="回复")
            assert reply.params["text"] == "回复「pressed again:你好」：收到"
        finally:
            await dp.stop_polling()

    assert fake.texts(USER) == [
        "echo: 你好",
        "pressed again:你好",
        "回复「pressed again:你好」：收到",
    ]
    assert bot.session._session is None or bot.session._session.closed  # type: ignore[attr-defined]


async def test_echo_baseline_smoke(fake: FakeTelegramAPI) -> None:
    from tests.benchmarks.echo_baseline import measure_echo_baseline

    result = await measure_echo_baseline(fake, users=3, messages_per_user=4)
    assert result["handled"] == 12
    assert result["messages_per_second"] > 0
    assert 0 < result["p50_ms"] <= result["p99_ms"] <= result["max_ms"]
