"""The report dialog's type question (issue 12): one confident guess, two or three guesses
when unsure, and an answer of where to go for what is not a dispute (110/120/119 first)."""

from __future__ import annotations

from datetime import datetime, time

from sqlalchemy import select

from dialogs.base import Services
from dispatch.clock import FrozenClock
from dispatch.vocab import CATEGORIES
from locales import text as render
from storage.models import Case
from tests.conftest import AT_ANY_HOUR, GRID, ZONE, Person

# Money owed on a building site: wages or project money, the classifier cannot tell.
UNSURE = "工地上好几个人的钱一直没结"
STREET_LIGHT = "我们这条街的路灯坏了一个多月了，晚上黑灯瞎火的，老人走路都摔了"
FIRE = "快来人啊，我家楼下着火了，烟好大，楼上还有人"


def buttons(person: Person) -> list[str]:
    """The labels of the last message's buttons, as the person sees them."""
    assert person.last is not None
    reply = person.last.replies[-1]
    return [
        render(button.text_key, person.last.locale, button.params)
        for row in reply.buttons
        for button in row
    ]


async def only_case(services: Services) -> Case:
    async with services.sessions() as session:
        (case,) = (await session.scalars(select(Case))).all()
        return case


async def file_from_here(citizen: Person) -> None:
    """The rest of a report from a grid's QR code, once its type is settled."""
    assert citizen.said()[-1] == "report.ask_people", citizen.texts()
    await citizen.taps("2人")
    await citizen.taps("没有")
    await citizen.taps("完成")
    await citizen.taps("匿名反映")
    await citizen.taps("提交")
    assert citizen.said()[0] == "report.receipt", citizen.texts()


async def test_a_confident_guess_is_asked_as_one_question(services: Services, person) -> None:
    citizen = person("c")
    await citizen.says(f"/start g_{GRID}")
    await citizen.says("小区楼上那家天天半夜装修，电钻吵得睡不着，业主群里都在骂")
    assert citizen.said()[-1] == "report.ask_confirm_category"
    assert "这像是【邻里纠纷】，对吗？" in citizen.text()
    assert buttons(citizen)[:2] == ["对，是这类", "不对，我来选"]


async def test_an_unsure_guess_offers_the_best_two_or_three(services: Services, person) -> None:
    citizen = person("c")
    await citizen.says(f"/start g_{GRID}")
    await citizen.says(UNSURE)
    assert citizen.said()[-1] == "report.ask_likely_category"
    shown = buttons(citizen)
    offered = shown[: shown.index("都不是，我来选")]
    assert 2 <= len(offered) <= 3
    assert {"劳动争议（含欠薪）", "合同纠纷"} <= set(offered)
    await citizen.taps("合同纠纷")
    await file_from_here(citizen)
    assert (await only_case(services)).category == "contract"


async def test_none_of_these_opens_the_full_list(services: Services, person) -> None:
    citizen = person("c")
    await citizen.says(f"/start g_{GRID}")
    await citizen.says(UNSURE)
    await citizen.taps("都不是，我来选")
    assert citizen.said()[-1] == "report.ask_pick_category"
    shown = buttons(citizen)
    assert all(render(f"cat.{code}", "zh_CN", {}) in shown for code in CATEGORIES)
    await citizen.taps("生产经营")
    await file_from_here(citizen)
    assert (await only_case(services)).category == "business"


async def test_typing_an_offered_type_works_like_tapping_it(services: Services, person) -> None:
    citizen = person("c")
    await citizen.says(f"/start g_{GRID}")
    await citizen.says(UNSURE)
    await citizen.says("劳动争议")
    await file_from_here(citizen)
    assert (await only_case(services)).category == "labor"


async def test_a_service_request_is_sent_to_12345_but_can_go_on(services: Services, person) -> None:
    citizen = person("c")
    await citizen.says(f"/start g_{GRID}")
    await citizen.says(STREET_LIGHT)
    assert citizen.said()[-1] == "report.not_dispute_service"
    shown = citizen.texts()[-1]
    assert "12345" in shown
    assert shown.index("110") < shown.index("12345")  # danger first
    assert "仍要反映这件事" in buttons(citizen)
    await citizen.taps("仍要反映这件事")
    await file_from_here(citizen)
    case = await only_case(services)
    assert (case.category, case.risk) == ("other", "general")


async def test_a_consultation_is_told_where_to_ask(services: Services, person) -> None:
    citizen = person("c")
    await citizen.says("/report")
    await citizen.says("请问一下怎么申请低保，需要准备什么材料")
    assert citizen.said()[-1] == "report.not_dispute_consultation"
    assert "12345" in citizen.text()
    await citizen.taps("仍要反映这件事")
    assert citizen.said()[-1] == "report.ask_location"


async def test_cancelling_after_the_referral_files_nothing(services: Services, person) -> None:
    citizen = person("c")
    await citizen.says(f"/start g_{GRID}")
    await citizen.says(STREET_LIGHT)
    await citizen.taps("取消")
    assert citizen.said()[0] == "nav.cancelled", citizen.said()
    async with services.sessions() as session:
        assert (await session.scalars(select(Case))).first() is None


@AT_ANY_HOUR
async def test_an_emergency_names_110_120_119_first_and_stays_major(
    services: Services, person, clock: FrozenClock, local_time: time
) -> None:
    day = clock.now().astimezone(ZONE).date()
    clock.set(datetime.combine(day, local_time, tzinfo=ZONE))
    citizen = person("c")
    await citizen.says(f"/start g_{GRID}")
    await citizen.says(FIRE)
    assert citizen.said()[-1] == "report.not_dispute_emergency"
    first_line = citizen.texts()[-1].splitlines()[0]
    assert all(number in first_line for number in ("110", "120", "119"))
    await citizen.taps("仍要反映这件事")
    await file_from_here(citizen)
    case = await only_case(services)
    assert (case.category, case.risk) == ("other", "major")


async def test_english_speakers_get_the_choices_in_english(services: Services, person) -> None:
    citizen = person("c", language="en")
    await citizen.says(f"/start g_{GRID}")
    await citizen.says(UNSURE)
    assert "None of these, let me choose" in buttons(citizen)
    await citizen.taps("None of these, let me choose")
    await citizen.says(FIRE)  # a new description is not a type: asked again
    assert citizen.said()[-1] == "report.ask_pick_category"
