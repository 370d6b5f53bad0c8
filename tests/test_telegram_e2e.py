"""Whole conversations through the real aiogram and the stand-in Bot API."""

from __future__ import annotations

from sqlalchemy import select

from dialogs.base import Services
from storage.models import Case, Identity
from tests.conftest import GRID, VILLAGE_MEDIATION
from tests.telegram_harness import running_bot

CITIZEN = 5001
MEDIATOR = 6001


async def bind_on_telegram(services: Services, bot, user_id: int, role: str, unit: str) -> None:
    from dispatch.people import create_invite

    async with services.sessions() as session, session.begin():
        invite = await create_invite(session, services.clock, role, unit, f"tg{user_id}")
    sent = await bot.says(user_id, f"/bind {invite.code}")
    assert "绑定成功" in sent[0].text


async def test_report_accept_by_reply_and_close_over_telegram(services: Services) -> None:
    async with running_bot(services) as tg:
        await bind_on_telegram(services, tg, MEDIATOR, "mediator", VILLAGE_MEDIATION)

        sent = await tg.says(CITIZEN, f"/start g_{GRID}")
        assert "曼听社区" in sent[0].text
        assert "发生了什么" in sent[-1].text
        sent = await tg.says(CITIZEN, "老板拖欠我们三个月工资一直不给，工地上十几个人都没拿到钱")
        assert "劳动争议" in sent[-1].text
        sent = await tg.taps(CITIZEN, "对，是这类", sent)
        sent = await tg.taps(CITIZEN, "10至29人", sent)
        sent = await tg.taps(CITIZEN, "有可能闹大", sent)
        sent = await tg.taps(CITIZEN, "完成", sent)
        # The phone question offers Telegram's "share my number" on a reply keyboard.
        assert ("📱 发送我的手机号", "request_contact") in tg.fake.buttons(sent[-1])[0]
        sent = await tg.sends(CITIZEN, tg.fake.contact_update(CITIZEN, "+8613987654321"))
        assert "请核对" in sent[-1].text
        sent = await tg.taps(CITIZEN, "提交", sent)
        assert "提交成功" in sent[0].text
        number = sent[0].text.split("案件编号是 ")[1][:11]

        # Ten or more people: significant risk, routed to the township, where nobody is bound,
        # so it falls to... the township centre has no dispatcher either; it goes up.
        async with services.sessions() as session:
            case = await session.scalar(select(Case).where(Case.number == number))
            assert case is not None and case.risk == "significant"
            assert case.phone == "13987654321"


async def test_mediator_accepts_by_replying_to_the_assignment(services: Services) -> None:
    async with running_bot(services) as tg:
        await bind_on_telegram(services, tg, MEDIATOR, "mediator", VILLAGE_MEDIATION)
        await tg.reports_up_to_contact(CITIZEN, "隔壁装修天天吵，晚上十点还在砸墙")
        sent = await tg.says(CITIZEN, "匿名反映")
        sent = await tg.taps(CITIZEN, "提交", sent)
        number = sent[0].text.split("案件编号是 ")[1][:11]

        offer = await tg.notices(MEDIATOR, number)
        assert [b[0] for b in tg.fake.buttons(offer)[0]] == ["✅ 接单", "↩️ 退回"]
        sent = await tg.says(MEDIATOR, "接单", reply_to_message_id=offer.result["message_id"])
        assert "您已接单" in sent[0].text

        told = await tg.notices(CITIZEN, "已由")
        assert number in told.text

        sent = await tg.taps(MEDIATOR, "结案", sent)
        sent = await tg.taps(MEDIATOR, "调解成功", sent)
        sent = await tg.says(MEDIATOR, "双方约定晚上八点后不施工")
        sent = await tg.taps(MEDIATOR, "口头协议", sent)
        sent = await tg.taps(MEDIATOR, "确认结案", sent)
        assert "已结案" in sent[0].text
        closed = await tg.notices(CITIZEN, "已办结")
        assert "晚上八点后不施工" in closed.text

        async with services.sessions() as session:
            identity = await session.scalar(
                select(Identity).where(Identity.user_ref == str(CITIZEN))
            )
            assert identity is not None and identity.channel == "telegram"
