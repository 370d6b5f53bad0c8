"""Telegram's reply keyboard on the steps that ask for a phone's location or number: back and
cancel stay on it, and it is removed with the next message once the person has left the step
(answered, back, cancel, timed out, another command), as the Bot API calls show."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from dialogs.base import Services
from dispatch.clock import FrozenClock
from tests.conftest import GRID
from tests.fakes.telegram_api import ApiCall
from tests.telegram_harness import TelegramHarness, running_bot

CITIZEN = 5101
NAV = [("⬅️ 上一步", ""), ("✖️ 取消", "")]
REMOVE = {"remove_keyboard": True}


def markup(call: ApiCall) -> Any:
    return call.params.get("reply_markup")


def removals(sent: list[ApiCall]) -> list[int]:
    """Where in `sent` a message removed the reply keyboard."""
    return [i for i, call in enumerate(sent) if markup(call) == REMOVE]


async def at_location(tg: TelegramHarness) -> list[ApiCall]:
    """A citizen's report (not from a QR code) up to the place question."""
    sent = await tg.says(CITIZEN, "/report")
    sent = await tg.says(CITIZEN, "承包的橡胶林被邻村的人占了，界桩也被拔了")
    return await tg.taps(CITIZEN, "对，是这类", sent)


async def test_the_location_step_keeps_back_and_cancel_on_its_reply_keyboard(
    services: Services,
) -> None:
    async with running_bot(services) as tg:
        sent = await at_location(tg)
        asked = sent[-1]
        assert "发生在哪里" in asked.text
        assert tg.fake.buttons(asked) == [
            [("📍 发送我的位置", "request_location")],
            [("🏘 选择所在村/社区", "")],
            NAV,
        ]
        assert markup(asked)["one_time_keyboard"] is True

        # The keyboard's "⬅️ 上一步" arrives as text and goes back; the keyboard goes first.
        sent = await tg.says(CITIZEN, "⬅️ 上一步")
        assert removals(sent) == [0]
        assert sent[0].text == "好的。"
        assert "像是【土地山林权属纠纷】" in sent[1].text or "对吗" in sent[1].text
        assert "inline_keyboard" in markup(sent[1])

        # Shared location: the acknowledgement takes the keyboard away.
        sent = await tg.taps(CITIZEN, "对，是这类", sent)
        sent = await tg.sends(CITIZEN, tg.fake.location_update(CITIZEN, 22.0017, 100.7975))
        assert [c.text for c in sent][:1] == ["位置已收到。"]
        assert removals(sent) == [0]
        assert "inline_keyboard" in markup(sent[1])


async def test_a_wrong_answer_at_the_location_step_keeps_the_keyboard(
    services: Services,
) -> None:
    async with running_bot(services) as tg:
        await at_location(tg)
        sent = await tg.sends(CITIZEN, tg.fake.sticker_update(CITIZEN))
        assert not removals(sent)
        assert ("📍 发送我的位置", "request_location") in tg.fake.buttons(sent[-1])[0]


async def test_cancel_from_the_location_keyboard_removes_it(services: Services) -> None:
    async with running_bot(services) as tg:
        await at_location(tg)
        sent = await tg.says(CITIZEN, "✖️ 取消")
        assert sent[0].text == "已取消。" and markup(sent[0]) == REMOVE
        assert "inline_keyboard" in markup(sent[-1])  # the menu, as after any cancel


async def test_the_contact_step_keeps_navigation_and_its_keyboard_goes_when_answered(
    services: Services,
) -> None:
    async with running_bot(services) as tg:
        sent = await tg.reports_up_to_contact(CITIZEN, "隔壁装修天天吵，晚上十点还在砸墙")
        assert tg.fake.buttons(sent[-1]) == [
            [("📱 发送我的手机号", "request_contact")],
            [("匿名反映", "")],
            NAV,
        ]
        sent = await tg.says(CITIZEN, "⬅️ 上一步")
        assert removals(sent) == [0] and "照片" in sent[-1].text
        sent = await tg.taps(CITIZEN, "完成", sent)
        assert ("📱 发送我的手机号", "request_contact") in tg.fake.buttons(sent[-1])[0]

        sent = await tg.says(CITIZEN, "匿名反映")
        assert removals(sent) == [0]
        assert "请核对" in sent[-1].text and "inline_keyboard" in markup(sent[-1])
        # Later messages carry no keyboard of the phone's: it was removed once.
        sent = await tg.taps(CITIZEN, "提交", sent)
        assert "提交成功" in sent[0].text
        assert not any("keyboard" in (markup(c) or {}) for c in sent)


async def test_the_keyboard_goes_when_the_dialog_times_out_or_another_command_comes(
    services: Services, clock: FrozenClock
) -> None:
    async with running_bot(services) as tg:
        await tg.reports_up_to_contact(CITIZEN, "隔壁装修天天吵，晚上十点还在砸墙")
        clock.advance(timedelta(hours=25))
        sent = await tg.says(CITIZEN, "你好")
        assert "已超过24小时" in sent[0].text
        assert removals(sent) == [0]

        await tg.reports_up_to_contact(CITIZEN, "隔壁装修天天吵，晚上十点还在砸墙")
        sent = await tg.says(CITIZEN, f"/start g_{GRID}")
        assert len(removals(sent)) == 1
        # Nothing is removed twice: the next answer carries no removal.
        sent = await tg.says(CITIZEN, "/help")
        assert not removals(sent)


async def test_a_removal_that_failed_is_queued_and_still_removes_the_keyboard(
    services: Services,
) -> None:
    async with running_bot(services) as tg:
        await tg.reports_up_to_contact(CITIZEN, "隔壁装修天天吵，晚上十点还在砸墙")
        tg.fake.fail_next("sendMessage", chat_id=CITIZEN, error_code=502)
        sent = [c for c in await tg.says(CITIZEN, "匿名反映") if not c.failed]
        # The outbox sender sent it later, whole: first the removal, then the summary.
        assert sent[0].text == "好的。" and removals(sent) == [0]
        assert "请核对" in sent[1].text and "inline_keyboard" in markup(sent[1])
