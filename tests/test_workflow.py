"""The case workflow: routing, declines, the dispatcher fallback, races, jurisdiction."""

from __future__ import annotations

import asyncio

from sqlalchemy import func, select

from dialogs.base import Services
from dialogs.router import handle
from dispatch.messages import Inbound
from dispatch.workflow import TRANSITIONS, mermaid
from storage.models import Case, CaseEvent, CaseOffer, OutboxMessage
from tests.conftest import (
    TOWNSHIP_CENTRE,
    VILLAGE_CENTRE,
    VILLAGE_MEDIATION,
    event_kinds,
    file_report,
    make_staff,
)


async def report(citizen, text: str = "隔壁邻居装修天天吵，晚上十点还在砸墙") -> str:
    return await file_report(citizen, text)


async def offers_of(services: Services, number: str) -> list[CaseOffer]:
    async with services.sessions() as session:
        case = await session.scalar(select(Case).where(Case.number == number))
        assert case is not None
        return list(
            (
                await session.scalars(
                    select(CaseOffer).where(CaseOffer.case_id == case.id).order_by(CaseOffer.id)
                )
            ).all()
        )


async def test_offer_goes_to_the_mediator_with_fewest_open_cases(
    services: Services, person
) -> None:
    busy = await make_staff(services, "busy", "mediator", VILLAGE_MEDIATION)
    free = await make_staff(services, "free", "mediator", VILLAGE_MEDIATION)
    first = await report(person("c1"))
    offer = (await offers_of(services, first))[0]
    assert offer.person_id == busy.id  # equal load: the first bound
    await busy.presses(f"a:{offer.id}")
    second = await report(person("c2"))
    assert (await offers_of(services, second))[0].person_id == free.id


async def test_decline_passes_to_the_next_mediator_then_the_centre_dispatcher(
    services: Services, person
) -> None:
    a = await make_staff(services, "a", "mediator", VILLAGE_MEDIATION)
    b = await make_staff(services, "b", "mediator", VILLAGE_MEDIATION)
    desk = await make_staff(services, "desk", "dispatcher", VILLAGE_CENTRE)
    number = await report(person("c"))
    offers = await offers_of(services, number)
    await a.presses(f"d:{offers[0].id}")
    assert a.said()[-1] == "handling.ask_decline_reason"
    await a.says("当事人是我亲戚，需要回避")
    assert a.said()[0] == "handling.declined"
    offers = await offers_of(services, number)
    assert [o.state for o in offers] == ["declined", "open"]
    assert offers[1].person_id == b.id

    await b.says("/tasks")
    await b.taps("退回")
    await b.says("不在本人负责片区")
    offers = await offers_of(services, number)
    assert offers[2].person_id == desk.id and offers[2].unit_code == VILLAGE_CENTRE

    # The village centre hands it back: 事权不在本级, the township decides.
    township_desk = await make_staff(services, "tdesk", "dispatcher", TOWNSHIP_CENTRE)
    await desk.presses(f"d:{offers[2].id}")
    await desk.says("需要镇里协调")
    offers = await offers_of(services, number)
    assert offers[3].person_id == township_desk.id
    async with services.sessions() as session:
        reasons = (
            await session.scalars(select(CaseEvent.data).where(CaseEvent.kind == "decline"))
        ).all()
        assert [r["reason"] for r in reasons] == [
            "当事人是我亲戚，需要回避",
            "不在本人负责片区",
            "需要镇里协调",
        ]


async def test_nobody_to_take_it_waits_in_the_top_centres_queue(services: Services, person) -> None:
    """The README's first steps (`pingan init --demo`, nobody bound): the report is recorded
    as unroutable, kept in the prefecture centre's queue with a chase due, and the receipt
    says so rather than promising a mediator."""
    citizen = person("alone")
    number = await report(citizen)
    assert "已进入西双版纳州综治中心的待分派队列" in citizen.text()
    assert "调解员" not in citizen.text()
    async with services.sessions() as session:
        case = await session.scalar(select(Case).where(Case.number == number))
        assert case is not None and case.status == "reported"
        assert (case.sla_stage, case.unit_code) == ("queue", "U532800-ZZ")
        assert case.next_action_at is not None  # the daily chase
        kinds = await event_kinds(session, case.id)
        assert kinds == ["report", "unroutable"]


async def test_two_mediators_accepting_at_the_same_instant_one_wins(
    services: Services, person
) -> None:
    await make_staff(services, "a", "mediator", VILLAGE_MEDIATION)
    b = await make_staff(services, "b", "mediator", VILLAGE_MEDIATION)
    number = await report(person("c"))
    first = (await offers_of(services, number))[0]
    # A second open offer for the same case (as when a centre offers it to two people).
    async with services.sessions() as session, session.begin():
        session.add(
            CaseOffer(
                case_id=first.case_id,
                person_id=b.id,
                unit_code=VILLAGE_MEDIATION,
                state="open",
                offered_at=services.clock.now(),
            )
        )
    second = (await offers_of(services, number))[1]

    def tap(user: str, offer: CaseOffer) -> Inbound:
        return Inbound(
            channel="console", user_ref=user, chat_ref=user, kind="choice", choice=f"a:{offer.id}"
        )

    results = await asyncio.gather(
        handle(services, tap("a", first)), handle(services, tap("b", second))
    )
    keys = sorted(r.replies[0].text_key for r in results)
    assert keys == ["case.taken", "handling.accepted"]
    async with services.sessions() as session:
        accepts = await session.scalar(
            select(func.count()).select_from(CaseEvent).where(CaseEvent.kind == "accept")
        )
        assert accepts == 1


async def test_citizen_sees_only_their_own_reports(services: Services, person) -> None:
    owner = person("owner")
    number = await report(owner)
    await owner.says(f"/status {number}")
    assert owner.said()[0] == "status.card"
    nosy = person("nosy")
    await nosy.says(f"/status {number}")
    assert nosy.said()[0] == "status.not_found"


async def test_staff_read_only_inside_their_jurisdiction(services: Services, person) -> None:
    number = await report(person("c"))
    inside = await make_staff(services, "inside", "leader", TOWNSHIP_CENTRE)
    outside = await make_staff(services, "outside", "leader", "U532822-ZZ")  # 勐海县
    await inside.says(f"/status {number}")
    assert inside.said()[0] == "status.card"
    await outside.says(f"/status {number}")
    assert outside.said()[0] == "status.not_found"


async def test_mediator_cannot_close_someone_elses_case(services: Services, person) -> None:
    a = await make_staff(services, "a", "mediator", VILLAGE_MEDIATION)
    intruder = await make_staff(services, "x", "mediator", VILLAGE_MEDIATION)
    number = await report(person("c"))
    offer = (await offers_of(services, number))[0]
    await a.presses(f"a:{offer.id}")
    await intruder.presses(f"c:{offer.case_id}")
    assert intruder.said()[0] == "case.not_yours"


async def test_every_transition_writes_an_event_and_the_diagram_comes_from_the_table() -> None:
    diagram = mermaid()
    for transition in TRANSITIONS:
        if transition.name != "report":
            assert f": {transition.name} " in diagram
    assert "reported --> assigned: offer" in diagram


async def test_offer_notice_masks_the_phone(services: Services, person) -> None:
    await make_staff(services, "m", "mediator", VILLAGE_MEDIATION)
    citizen = person("c")
    await file_report(citizen, "隔壁邻居装修天天吵，有事联系13912345678", phone="13912345678")
    async with services.sessions() as session:
        notice = await session.scalar(select(OutboxMessage).where(OutboxMessage.purpose == "offer"))
        assert notice is not None
        assert "13912345678" not in str(notice.reply)
        assert "139****5678" in str(notice.reply)


async def test_accept_by_word_without_a_reply_takes_the_latest_offer(
    services: Services,
    person,
) -> None:
    mediator = await make_staff(services, "m", "mediator", VILLAGE_MEDIATION)
    await mediator.says("接单")
    assert mediator.said() == ["offer.none_open"]
    number = await report(person("c"))
    await mediator.says("接单")  # no reply-to: WeChat has none
    assert mediator.said()[0] == "handling.accepted"
    assert number in mediator.text()
