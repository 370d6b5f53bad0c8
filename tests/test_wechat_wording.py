"""What a person reads on WeChat, where nothing can be tapped: no text speaks of buttons, a
question answered in words says back/cancel in words (so a typed "1" is an answer), a
question asked again comes with its numbered list in the same message, choices are picked
by the words people use, and staff are greeted as staff."""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from dialogs.base import Services
from dispatch.people import create_invite
from storage.models import Case
from tests.conftest import GRID, VILLAGE_MEDIATION
from tests.wechat_harness import Phone, official_account

CITIZEN = "o_wording_citizen"
MEDIATOR = "o_wording_mediator"
# Words for tapping, which a WeChat reader cannot do.
TAPPING = re.compile(r"点击|点“|点\"|按钮|点这里")
NAV_IN_WORDS = "回复“返回”回到上一步，回复“取消”退出。"


async def test_a_report_on_wechat_speaks_of_typing_and_understands_words(
    engine: AsyncEngine, services: Services
) -> None:
    async with official_account(engine, services) as (client, fake):
        citizen = Phone(client, services, CITIZEN)
        seen = [await citizen.scans(GRID)]
        asked = await fake.wait_for(lambda c: "发生了什么" in (c.text or ""))
        seen.append(asked.text)
        # A question answered in words: back and cancel in words, nothing numbered.
        assert NAV_IN_WORDS in asked.text and "1. " not in asked.text

        # "1" there is an answer (too short for a description), not the back button; the
        # explanation and the question come back as one message.
        again = await citizen.says("1")
        seen.append(again)
        assert again.startswith("内容太短了，请至少写4个字。")
        assert "发生了什么" in again and NAV_IN_WORDS in again

        confirm = await citizen.says("隔壁装修天天吵，晚上十点还在砸墙")
        seen.append(confirm)
        assert "1. 对，是这类" in confirm
        # Not a choice: asked again with the numbered list in the same (passive) message.
        retry = await citizen.says("随便说说")
        seen.append(retry)
        assert retry.startswith("请回复下面选项前面的数字，或直接输入选项的文字。")
        assert "对吗" in retry and "1. 对，是这类" in retry and "2. 不对，我来选" in retry

        # Choices by the words people use (synonyms in locales/).
        seen.append(await citizen.says("是的"))
        assert "多少人" in seen[-1]
        seen.append(await citizen.says("两个人"))
        assert "危险" in seen[-1]
        seen.append(await citizen.says("没有"))
        assert "请回复“完成”" in seen[-1]
        seen.append(await citizen.says("完成"))
        assert "也可以回复“匿名”匿名反映" in seen[-1]
        seen.append(await citizen.says("匿名"))
        assert "确认无误请回复“提交”" in seen[-1]
        seen.append(await citizen.says("确认"))
        assert "提交成功" in seen[-1] and "或回复“查询”" in seen[-1]

        seen += fake.texts(CITIZEN)
        tapping = [text for text in seen if TAPPING.search(text)]
        assert not tapping, tapping

    async with services.sessions() as session:
        case = await session.scalar(select(Case))
        assert case is not None
        assert (case.people_involved, case.danger, case.phone) == ("2", False, None)


async def test_a_bound_mediator_who_says_hello_gets_the_staff_greeting(
    engine: AsyncEngine, services: Services
) -> None:
    async with official_account(engine, services) as (client, fake):
        mediator = Phone(client, services, MEDIATOR)
        async with services.sessions() as session, session.begin():
            invite = await create_invite(
                session, services.clock, "mediator", VILLAGE_MEDIATION, "岩温"
            )
        assert "绑定成功" in await mediator.says(f"绑定 {invite.code}")
        for words in ("你好", "嗯嗯"):
            hello = await mediator.says(words)
            assert hello.startswith("您好！发送“/tasks”或回复“任务”查看待办；要反映新情况")
        welcome = await mediator.says("/start")
        assert "调解员" in welcome and "或回复“任务”查看" in welcome
        assert "想反映问题" not in welcome
        menu = await fake.wait_for(lambda c: c.openid == MEDIATOR and "1. " in (c.text or ""))
        assert "我的任务" in menu.text
