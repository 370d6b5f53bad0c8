"""The spine, channel-neutral: citizen report → assignment → accept by reply → outcome →
citizen informed."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select

from dialogs.base import Services
from dispatch.messages import Reply
from handlers.sender import OutboxSender, Outgoing, RateLimiter
from locales import text as render
from storage.models import Case, OutboxMessage
from tests.conftest import GRID, VILLAGE_MEDIATION, event_kinds, make_staff


@dataclass
class Inbox:
    """A transport that records notices per chat, as a phone would show them."""

    channel: str = "console"
    got: dict[str, list[tuple[str, Reply, str]]] = field(default_factory=dict)
    count: int = 0

    async def deliver(self, out: Outgoing) -> str:
        self.count += 1
        ref = f"n{self.count}"
        self.got.setdefault(out.chat_ref, []).append(
            (ref, out.reply, render(out.reply.text_key, out.locale, out.reply.params))
        )
        return ref


async def deliver_all(services: Services, inbox: Inbox) -> None:
    sender = OutboxSender(services.sessions, services.clock, inbox, limiter=RateLimiter(1000, 0))
    while await sender.drain_once():
        pass


async def test_citizen_report_to_closed_case(services: Services, person) -> None:
    mediator = await make_staff(services, "mediator-a", "mediator", VILLAGE_MEDIATION)
    citizen = person("villager")

    await citizen.says(f"/start g_{GRID}")
    assert "曼听社区" in citizen.text()
    await citizen.says("隔壁邻居装修天天从早上七点吵到晚上十点，说了好几次也不听")
    assert citizen.said()[-1] == "report.ask_confirm_category"
    assert "邻里纠纷" in citizen.text()
    await citizen.taps("对，是这类")
    assert citizen.said()[-1] == "report.ask_people"  # the QR code already said where
    await citizen.taps("2人")
    await citizen.taps("没有")
    await citizen.taps("完成")
    assert citizen.said()[-1] == "report.ask_contact"
    await citizen.says("13912345678")
    assert citizen.said()[-1] == "report.summary"
    assert "13912345678" in citizen.text()
    await citizen.taps("提交")
    assert citizen.said()[0] == "report.receipt"
    number = citizen.last.replies[0].params["number"]
    assert number.startswith("2026-")

    inbox = Inbox()
    await deliver_all(services, inbox)
    ref, offer, shown = inbox.got["mediator-a"][-1]
    assert offer.text_key == "notice.offer"
    assert (number in shown and "139****5678" in shown) or "13912345678" not in shown

    await mediator.says("接单", reply_to=ref)
    assert mediator.said()[0] == "handling.accepted"
    assert "13912345678" in mediator.text()  # on the case: the full number

    await deliver_all(services, inbox)
    assert inbox.got["villager"][-1][1].text_key == "notice.accepted"

    await mediator.taps("结案")
    await mediator.taps("调解成功")
    await mediator.says("双方协商装修时间为早八点至晚六点")
    await mediator.taps("书面协议")
    await mediator.taps("确认结案")
    assert mediator.said()[0] == "handling.closed"

    await deliver_all(services, inbox)
    closed = inbox.got["villager"][-1]
    assert closed[1].text_key == "notice.closed"
    assert "调解成功" in closed[2] and "早八点" in closed[2]

    async with services.sessions() as session:
        case = await session.scalar(select(Case).where(Case.number == number))
        assert case is not None and case.status == "resolved"
        kinds = await event_kinds(session, case.id)
        assert kinds == ["report", "offer", "accept", "resolve"]
        pending = (
            await session.scalars(select(OutboxMessage).where(OutboxMessage.status != "sent"))
        ).all()
        assert pending == []
