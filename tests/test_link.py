"""One person on two chat apps: staff link their second channel, and notices follow them."""

from __future__ import annotations

from sqlalchemy import func, select

from dialogs.base import Services
from storage.models import Identity, OutboxMessage, Person
from tests.conftest import VILLAGE_MEDIATION, file_report, make_staff
from tests.conftest import Person as Chat


async def test_staff_link_a_second_channel_and_notices_follow(services: Services, person) -> None:
    on_telegram = await make_staff(services, "tg-mediator", "mediator", VILLAGE_MEDIATION)
    await on_telegram.says("/link")
    assert on_telegram.said()[0] == "link.code"
    code = on_telegram.last.replies[0].params["code"]  # type: ignore[union-attr]

    on_wechat = Chat(services, "o_wechat_mediator", channel="wechat")
    await on_wechat.says(f"绑定 {code}")
    assert on_wechat.said()[0] == "link.done"
    await on_wechat.says("/whoami")
    assert "调解员" in on_wechat.text()  # the same staff member, seen from WeChat
    async with services.sessions() as session:
        people = await session.scalar(
            select(func.count(func.distinct(Identity.person_id))).where(
                Identity.user_ref.in_(["tg-mediator", "o_wechat_mediator"])
            )
        )
        assert people == 1
        assert (
            await session.scalar(
                select(func.count()).select_from(Person).where(Person.role == "mediator")
            )
            == 1
        )

    # A report: the assignment goes to the channel the mediator used last (WeChat).
    citizen = person("c")
    await file_report(citizen, "隔壁装修天天吵，晚上十点还在砸墙")
    async with services.sessions() as session:
        offer = await session.scalar(select(OutboxMessage).where(OutboxMessage.purpose == "offer"))
        assert offer is not None and offer.channel == "wechat"

    # A used link code does not work twice; a citizen cannot make one.
    again = Chat(services, "someone-else", channel="wechat")
    await again.says(f"绑定 {code}")
    assert again.said()[0] == "bind.used"
    await citizen.says("/link")
    assert citizen.said()[0] == "link.staff_only"
