"""Dialog behaviour a person notices: resuming after a restart, expiry, the region tree,
staff reports, corrections from the summary, commands in the middle of a dialog."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from dialogs.base import Services
from dispatch.clock import FrozenClock
from storage.database import session_factory
from storage.models import Case, CaseMedia, DialogState
from tests.conftest import (
    GRID,
    VILLAGE_MEDIATION,
    Person,
    answer_up_to_contact,
    file_report,
    make_staff,
)


async def test_a_restart_in_the_middle_of_a_dialog_resumes_it(services: Services, person) -> None:
    citizen = person("c")
    await citizen.says(f"/start g_{GRID}")
    await citizen.says("邻居家的鸡天天跑到我家菜地里吃菜，说了也不管")
    await citizen.taps("对，是这类")
    # A new process: fresh session factory and services over the same database.
    engine = services.sessions.engine
    restarted = Services(
        sessions=session_factory(engine),
        domain=services.domain,
        classifier=services.classifier,
    )
    again = Person(restarted, "c")
    await again.says("2人")
    assert again.said()[-1] == "report.ask_danger"


async def test_a_dialog_idle_for_a_day_expires(
    services: Services, person, clock: FrozenClock
) -> None:
    citizen = person("c")
    await citizen.says("/report")
    clock.advance(timedelta(hours=24, minutes=1))
    await citizen.says("/back")
    assert citizen.said()[0] == "dialog.expired"
    assert "nav.nothing_to_cancel" in citizen.said()


async def test_free_text_outside_a_dialog_starts_a_report(services: Services, person) -> None:
    citizen = person("c")
    await citizen.says("村里的养猪场污水直接排到河里，臭得不得了")
    assert citizen.said()[0] == "report.started_from_text"
    assert "环境污染" in citizen.text()
    hello = person("h")
    await hello.says("你好")
    assert hello.said() == ["fallback.menu", "menu.title"]


async def test_walking_the_region_tree_and_sharing_a_location(services: Services, person) -> None:
    citizen = person("c")
    await citizen.says("/report")
    await citizen.says("承包的橡胶林被邻村的人占了，界桩也被拔了")
    await citizen.taps("对，是这类")
    assert citizen.said()[-1] == "report.ask_location"
    await citizen.sends("location", at=(22.0017, 100.7975))
    assert citizen.said()[-1] == "report.ask_region"
    await citizen.taps("景洪市")
    await citizen.taps("嘎洒镇")
    assert "嘎洒镇" in citizen.text()
    await citizen.taps("⬆️ 返回上一级")
    assert "景洪市" in citizen.text()
    await citizen.taps("嘎洒镇")
    await citizen.taps("曼播村委会")
    await citizen.taps("就在曼播村委会")
    assert citizen.said()[-1] == "report.ask_people"
    await citizen.taps("2人")
    await citizen.taps("没有")
    await citizen.sends("photo", media=("AgACAg-photo-1",))
    assert citizen.said()[0] == "report.photo_saved"
    await citizen.taps("完成")
    await citizen.taps("匿名反映")
    assert "嘎洒镇 曼播村委会" in citizen.text()
    await citizen.taps("提交")
    async with services.sessions() as session:
        case = await session.scalar(select(Case))
        assert case is not None
        assert case.region_code == "532801101201" and case.latitude == 22.0017
        assert case.category == "land"
        media = (await session.scalars(select(CaseMedia.file_ref))).all()
        assert media == ["AgACAg-photo-1"]


async def _up_to_contact(citizen: Person) -> None:
    """A noise complaint from a grid's QR code, answered up to the phone number."""
    await answer_up_to_contact(citizen, "隔壁装修天天吵，说了也不听")


async def test_correcting_one_answer_from_the_summary(services: Services, person) -> None:
    citizen = person("c")
    await _up_to_contact(citizen)
    await citizen.taps("匿名反映")
    await citizen.taps("✏️ 修改")
    await citizen.taps("涉及人数")
    await citizen.taps("3至9人")
    assert citizen.said()[-1] == "report.summary"  # straight back to the summary
    assert "3至9人" in citizen.text()


async def test_low_confidence_asks_the_person_to_pick_the_type(services: Services, person) -> None:
    citizen = person("c")
    await citizen.says("/report")
    await citizen.says("有点事情想请你们帮忙看看")
    assert citizen.said()[-1] == "report.ask_pick_category"
    await citizen.taps("物业纠纷")
    assert citizen.said()[-1] == "report.ask_location"


async def test_wrong_phone_number_is_asked_again(services: Services, person) -> None:
    citizen = person("c")
    await _up_to_contact(citizen)
    await citizen.says("12345")
    assert citizen.said() == ["report.phone_invalid", "report.ask_contact"]


async def test_help_in_the_middle_of_a_report_then_carry_on(services: Services, person) -> None:
    citizen = person("c")
    await citizen.says(f"/start g_{GRID}")
    await citizen.says("/help")
    assert citizen.said() == ["help.citizen", "dialog.resume", "report.ask_describe"]


async def test_grid_worker_reports_a_dispute_mediated_on_the_spot(services: Services) -> None:
    worker = await make_staff(services, "gw", "grid_worker", "U532801001001-ZZ", region=GRID)
    await worker.says("/report")
    await worker.says("岩温家和玉香家因为排水沟堵了吵起来，我到场后已经说和了")
    await worker.taps("对，是这类")
    assert worker.said()[-1] == "report.ask_parties"  # the grid comes from the profile
    await worker.says("岩温（户主）与邻居玉香")
    await worker.taps("2人")
    await worker.taps("没有")
    await worker.taps("已当场化解")
    await worker.says("双方同意一起清理排水沟，费用平摊")
    await worker.taps("完成")
    assert worker.said()[-1] == "report.summary_staff"
    await worker.taps("提交")
    assert worker.said()[0] == "report.receipt_on_spot"
    async with services.sessions() as session:
        case = await session.scalar(select(Case))
        assert case is not None and case.status == "resolved" and case.source == "grid_worker"
        assert case.parties == "岩温（户主）与邻居玉香"
        assert case.region_code == GRID


async def test_dialog_state_is_in_the_database(services: Services, person) -> None:
    citizen = person("c")
    await citizen.says("/report")
    async with services.sessions() as session:
        state = await session.scalar(select(DialogState))
        assert state is not None and state.dialog == "report" and state.step == "describe"


async def test_whoami_and_bind_errors(services: Services, person) -> None:
    citizen = person("c")
    await citizen.says("/whoami")
    assert citizen.said()[0] == "whoami.citizen"
    await citizen.says("/bind WRONGCODE")
    assert citizen.said()[0] == "bind.unknown"
    await citizen.says("绑定")
    assert citizen.said()[-1] == "bind.ask_code"
    staff = await make_staff(services, "m", "mediator", "U532801001001-TJ")
    await staff.says("/whoami")
    assert "曼听社区人民调解委员会" in staff.text() and "调解员" in staff.text()


async def test_staff_are_greeted_as_staff_and_residents_as_residents(
    services: Services, person
) -> None:
    mediator = await make_staff(services, "yanwen", "mediator", VILLAGE_MEDIATION)
    citizen = person("villager")
    await citizen.says(f"/start g_{GRID}")
    await file_report(citizen, "隔壁邻居装修天天从早上七点吵到晚上十点，说了好几次也不听")

    await mediator.says("/start")
    assert mediator.said()[0] == "welcome_staff"
    greeting = mediator.texts()[0]
    assert "曼听社区人民调解委员会" in greeting and "待接单 1 件" in greeting
    assert "安排调解员" not in greeting  # the residents' promise is not for them
    await mediator.says("你好")
    assert mediator.said()[0] == "fallback.menu_staff"

    await citizen.says("/start")
    assert citizen.said()[0] == "welcome"
    await citizen.says("你好")
    assert citizen.said()[0] == "fallback.menu"


async def test_a_choice_is_picked_by_the_words_a_person_sees(services: Services, person) -> None:
    citizen = person("villager")
    await citizen.says(f"/start g_{GRID}")
    await citizen.says("隔壁邻居装修天天从早上七点吵到晚上十点，说了好几次也不听")
    await citizen.says("对，是这类")
    await citizen.says("2人")
    await citizen.says("没有")
    # The button reads "✅ 完成（没有照片就点这里）"; people type 完成, with or without a 。
    await citizen.says("完成。")
    assert citizen.said()[-1] == "report.ask_contact", citizen.texts()
    await citizen.says("匿名反映")
    assert citizen.said()[-1] == "report.summary"
