"""Unexpected input at every kind of step gets a short explanation and the same question
again — never an exception, never silence. Driven through the real aiogram."""

from __future__ import annotations

import pytest

from dialogs.base import Services
from tests.conftest import GRID
from tests.telegram_harness import TelegramHarness, running_bot

USER = 7001


async def at_describe(tg: TelegramHarness) -> None:
    sent = await tg.says(USER, f"/start g_{GRID}")
    assert "发生了什么" in sent[-1].text


@pytest.mark.parametrize("kind", ["sticker", "photo"])
async def test_sticker_or_photo_where_text_is_asked(services: Services, kind: str) -> None:
    async with running_bot(services) as tg:
        await at_describe(tg)
        update = getattr(tg.fake, f"{kind}_update")(USER)
        sent = await tg.sends(USER, update)
        assert "需要您用文字回答" in sent[0].text
        assert "发生了什么" in sent[-1].text


async def test_five_thousand_characters(services: Services) -> None:
    async with running_bot(services) as tg:
        await at_describe(tg)
        sent = await tg.says(USER, "吵" * 5000)
        assert "内容太长了" in sent[0].text and "1000字以内" in sent[0].text
        assert "发生了什么" in sent[-1].text
        assert all(len(call.text) <= 4096 for call in sent)


async def test_empty_message(services: Services) -> None:
    async with running_bot(services) as tg:
        await at_describe(tg)
        sent = await tg.says(USER, "   ")
        assert "内容是空的" in sent[0].text
        assert "发生了什么" in sent[-1].text


async def test_forged_button(services: Services) -> None:
    async with running_bot(services) as tg:
        await at_describe(tg)
        update = tg.fake.callback_update(USER, "x" * 64, message_id=1)
        sent = await tg.sends(USER, update)
        assert "无法识别" in sent[0].text
        assert "发生了什么" in sent[-1].text


async def test_forged_accept_button_for_someone_elses_offer(services: Services) -> None:
    async with running_bot(services) as tg:
        await at_describe(tg)
        sent = await tg.sends(USER, tg.fake.callback_update(USER, "a:1", message_id=1))
        assert "不是给您的" in sent[0].text
        assert "发生了什么" in sent[-1].text  # and the report goes on


async def test_stale_button_from_an_earlier_question(services: Services) -> None:
    async with running_bot(services) as tg:
        await at_describe(tg)
        first = await tg.says(USER, "邻居家的狗天天晚上叫，吵得老人睡不着觉")
        await tg.taps(USER, "对，是这类", first)
        # Tapping the earlier question's button again: it is recognised as stale.
        sent = await tg.taps(USER, "对，是这类", first)
        assert "之前问题的按钮" in sent[0].text
        assert "涉及多少人" in sent[-1].text


async def test_unknown_command_and_group_chat(services: Services) -> None:
    async with running_bot(services) as tg:
        sent = await tg.says(USER, "/frobnicate")
        assert "不认识的命令" in sent[0].text
        assert tg.fake.buttons(sent[-1])  # the menu follows


@pytest.mark.parametrize("words", ["/back", "返回"])
async def test_back_returns_to_the_previous_question(services: Services, words: str) -> None:
    async with running_bot(services) as tg:
        await at_describe(tg)
        sent = await tg.says(USER, "隔壁楼上天天漏水到我家，找他好几次都不管")
        assert "对吗" in sent[-1].text
        sent = await tg.says(USER, words)
        assert "发生了什么" in sent[-1].text


@pytest.mark.parametrize("words", ["/cancel", "取消"])
async def test_cancel_at_any_step(services: Services, words: str) -> None:
    async with running_bot(services) as tg:
        await at_describe(tg)
        await tg.says(USER, "隔壁楼上天天漏水到我家，找他好几次都不管")
        sent = await tg.says(USER, words)
        assert "已取消" in sent[0].text
        sent = await tg.says(USER, "/back")
        assert "没有进行中的操作" in sent[0].text
