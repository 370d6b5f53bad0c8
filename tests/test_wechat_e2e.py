"""The official account end to end, wired as `pingan run` wires it: a citizen scans a grid
poster and reports; a mediator on WeChat gets the assignment as a customer-service message,
accepts by replying its number, closes the case; the citizen is told — all in WeChat, in
safe mode, against the stand-in WeChat API."""

from __future__ import annotations

from datetime import datetime, time

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from dialogs.base import Services
from dispatch.clock import FrozenClock
from dispatch.people import create_invite
from storage.models import Case
from tests.conftest import AT_ANY_HOUR, GRID, VILLAGE_MEDIATION, ZONE
from tests.wechat_harness import Phone, official_account

CITIZEN = "o_citizen_openid"
MEDIATOR = "o_mediator_openid"


async def test_from_a_scanned_poster_to_a_closed_case_in_wechat(
    engine: AsyncEngine, services: Services
) -> None:
    async with official_account(engine, services) as (client, fake):
        citizen = Phone(client, services, CITIZEN)
        mediator = Phone(client, services, MEDIATOR)
        async with services.sessions() as session, session.begin():
            invite = await create_invite(
                session, services.clock, "mediator", VILLAGE_MEDIATION, "岩温"
            )
        assert "绑定成功" in await mediator.says(f"绑定 {invite.code}")

        welcome = await citizen.scans(GRID)
        assert "曼听社区第1网格" in welcome
        asked = await fake.wait_for(lambda c: "发生了什么" in (c.text or ""))
        assert asked.openid == CITIZEN  # the second message went as a customer-service one

        confirm = await citizen.says("隔壁装修天天吵，晚上十点还在砸墙")
        assert "邻里纠纷" in confirm and "1." in confirm  # numbered choices
        assert "多少人" in await citizen.says("1")
        assert "危险" in await citizen.says("1")
        assert "照片" in await citizen.says("1")
        contact = await citizen.says("1")
        assert "电话" in contact
        summary = await citizen.says("13912345678")
        assert "请核对" in summary
        receipt = await citizen.says("1")
        assert "提交成功" in receipt
        number = receipt.split("案件编号是 ")[1][:11]

        offer = await fake.wait_for(lambda c: c.openid == MEDIATOR and number in (c.text or ""))
        assert "1." in offer.text and "接单" in offer.text
        accepted = await mediator.says("1")  # the number offered in the notice
        assert "您已接单" in accepted
        told = await fake.wait_for(lambda c: c.openid == CITIZEN and "受理" in (c.text or ""))
        assert number in told.text

        # After accepting, the reply listed what to do next, numbered: 2 is 🏁 结案.
        assert "2. 🏁 结案" in accepted
        assert "调解结果" in await mediator.says("2")
        assert "请简要写下" in await mediator.says("1")  # 调解成功
        assert "协议" in await mediator.says("双方约定晚上八点后不施工")
        assert "请确认结案" in await mediator.says("1")  # 口头协议
        assert "已结案" in await mediator.says("1")  # 确认结案
        closed = await fake.wait_for(lambda c: c.openid == CITIZEN and "已办结" in (c.text or ""))
        assert "晚上八点后不施工" in closed.text

    async with services.sessions() as session:
        case = await session.scalar(select(Case).where(Case.number == number))
        assert case is not None and case.status == "resolved" and case.phone == "13912345678"


@AT_ANY_HOUR
async def test_a_poster_scanned_at_any_hour_gets_the_whole_answer_now(
    engine: AsyncEngine, services: Services, clock: FrozenClock, local_time: time
) -> None:
    """The welcome goes back as the passive reply, the question after it as a
    customer-service message: both answer the scan, so quiet hours do not hold the second."""
    day = clock.now().astimezone(ZONE).date()
    clock.set(datetime.combine(day, local_time, tzinfo=ZONE))
    hours = services.policy.quiet
    assert hours is not None and hours.holds(datetime.combine(day, time(23, 0), ZONE), ZONE)
    # As bot.runner.serve wires it.
    quiet = lambda at: hours.holds(at, services.zone)  # noqa: E731
    async with official_account(engine, services, quiet) as (client, fake):
        welcome = await Phone(client, services, CITIZEN).scans(GRID)
        assert "曼听社区第1网格" in welcome
        asked = await fake.wait_for(lambda c: "发生了什么" in (c.text or ""), timeout=5)
        assert asked.openid == CITIZEN
