"""A place typed in the report dialog: matched against the organisation's place names,
offered to confirm with one tap, the drill-down only when nothing matches, the place shown
once, and the case routed to the place it names."""

from __future__ import annotations

import io

import pytest
from sqlalchemy import select

from dialogs.base import Answer, Services
from dialogs.router import handle
from dispatch.messages import Inbound
from handlers.console import ConsoleChannel
from storage.models import Case, OutboxMessage, Region
from tests.conftest import Person, case_of, make_staff

MANJINGBAO = "532801101209"  # 景洪市 嘎洒镇 曼景保村委会
MANJINGBAO_MEDIATION = "U532801101209-TJ"
GASA_TOWN = "532801101"
GASA_COMMUNITY = "532801101001"
LABEL = "景洪市 嘎洒镇 曼景保村委会"
NOISE = "邻居家装修噪音太大吵得睡不着"


async def _up_to_location(citizen: Person) -> None:
    await citizen.says("/report")
    await citizen.says(NOISE)
    await citizen.taps("对，是这类")
    assert citizen.said()[-1] == "report.ask_location"


async def _to_summary(citizen: Person) -> str:
    """From the people question to the summary, anonymous and without photos; its text."""
    assert citizen.said()[-1] == "report.ask_people", citizen.texts()
    await citizen.taps("2人")
    await citizen.taps("没有")
    await citizen.taps("完成")
    await citizen.taps("匿名反映")
    assert citizen.said()[-1] == "report.summary"
    return citizen.texts()[-1]


def _place_line(summary: str) -> str:
    return next(line for line in summary.splitlines() if "发生地点" in line)


async def _submitted(services: Services, citizen: Person) -> Case:
    await citizen.taps("提交")
    assert citizen.said()[0] == "report.receipt", citizen.texts()
    assert citizen.last is not None
    return await case_of(services, str(citizen.last.replies[0].params["number"]))


@pytest.mark.parametrize("typed", ["嘎洒镇曼景保村", "曼景保", "曼景保村委会"])
async def test_a_village_named_with_or_without_its_suffix_is_confirmed_with_one_tap(
    services: Services, person, typed: str
) -> None:
    citizen = person("c")
    await _up_to_location(citizen)
    await citizen.says(typed)
    assert citizen.said() == ["report.ask_place_one"]
    assert citizen.text() == f"您说的是【{LABEL}】吗？"
    await citizen.taps("是这里")
    summary = await _to_summary(citizen)
    assert _place_line(summary) == f"· 发生地点：{LABEL}"
    case = await _submitted(services, citizen)
    assert case.region_code == MANJINGBAO and case.address is None


async def test_the_detail_beyond_the_names_is_the_address_and_the_place_shows_once(
    services: Services, person
) -> None:
    citizen = person("c")
    await _up_to_location(citizen)
    await citizen.says("景洪嘎洒曼景保村3组")
    assert citizen.text() == f"您说的是【{LABEL}】吗？"
    await citizen.says("是")  # typed instead of tapped
    summary = await _to_summary(citizen)
    assert _place_line(summary) == f"· 发生地点：{LABEL} 3组"
    assert summary.count("曼景保") == 1 and summary.count("嘎洒") == 1
    case = await _submitted(services, citizen)
    assert (case.region_code, case.address) == (MANJINGBAO, "3组")


async def test_a_name_shared_by_two_places_offers_both(services: Services, person) -> None:
    citizen = person("c")
    await _up_to_location(citizen)
    await citizen.says("嘎洒")
    assert citizen.said() == ["report.ask_place_two"]
    labels = [b.params.get("text") for row in citizen.last.replies[0].buttons for b in row]
    assert labels[:2] == ["景洪市 嘎洒镇", "景洪市 嘎洒镇 嘎洒社区"]
    await citizen.taps("景洪市 嘎洒镇 嘎洒社区")
    summary = await _to_summary(citizen)
    assert _place_line(summary) == "· 发生地点：景洪市 嘎洒镇 嘎洒社区"
    case = await _submitted(services, citizen)
    assert case.region_code == GASA_COMMUNITY and case.address is None


async def test_picking_the_township_of_two_lists_its_villages(services: Services, person) -> None:
    citizen = person("c")
    await _up_to_location(citizen)
    await citizen.says("嘎洒")
    await citizen.taps("景洪市 嘎洒镇")
    assert citizen.said() == ["report.ask_region"]
    assert "当前：嘎洒镇" in citizen.text()
    await citizen.taps("曼播村委会")
    assert citizen.said()[-1] == "report.ask_region"  # its grids, or 就在曼播村委会
    await citizen.taps("就在曼播村委会")
    summary = await _to_summary(citizen)
    assert _place_line(summary) == "· 发生地点：景洪市 嘎洒镇 曼播村委会"


async def test_a_township_alone_opens_its_villages_and_keeps_the_rest(
    services: Services, person
) -> None:
    citizen = person("c")
    await _up_to_location(citizen)
    await citizen.says("嘎洒镇某某寨")
    assert citizen.said() == ["report.place_partly", "report.ask_region"]
    assert "找到了【景洪市 嘎洒镇】" in citizen.text() and "当前：嘎洒镇" in citizen.text()
    await citizen.taps("曼勉村委会")
    await citizen.taps("就在曼勉村委会")
    summary = await _to_summary(citizen)
    assert _place_line(summary) == "· 发生地点：景洪市 嘎洒镇 曼勉村委会 某某寨"


async def test_nothing_matching_falls_back_to_the_list_from_the_top(
    services: Services, person
) -> None:
    citizen = person("c")
    await _up_to_location(citizen)
    await citizen.says("老街菜市场门口")
    assert citizen.said() == ["report.place_not_found", "report.ask_region"]
    assert "当前：西双版纳傣族自治州" in citizen.text()
    await citizen.taps("景洪市")
    await citizen.taps("嘎洒镇")
    await citizen.taps("嘎洒社区")
    await citizen.taps("就在嘎洒社区")
    summary = await _to_summary(citizen)
    assert _place_line(summary) == "· 发生地点：景洪市 嘎洒镇 嘎洒社区 老街菜市场门口"
    case = await _submitted(services, citizen)
    assert (case.region_code, case.address) == (GASA_COMMUNITY, "老街菜市场门口")


async def test_neither_match_leads_to_the_list_and_the_place_is_still_shown_once(
    services: Services, person
) -> None:
    citizen = person("c")
    await _up_to_location(citizen)
    await citizen.says("曼景保村3组")
    await citizen.taps("都不是，从列表选择")
    assert citizen.said() == ["report.ask_region"]
    await citizen.taps("景洪市")
    await citizen.taps("嘎洒镇")
    await citizen.taps("曼景保村委会")
    await citizen.taps("就在曼景保村委会")
    summary = await _to_summary(citizen)
    assert _place_line(summary) == f"· 发生地点：{LABEL} 3组"


async def test_another_name_typed_at_the_confirmation_is_matched_again(
    services: Services, person
) -> None:
    citizen = person("c")
    await _up_to_location(citizen)
    await citizen.says("嘎洒")
    await citizen.says("曼景保")
    assert citizen.text() == f"您说的是【{LABEL}】吗？"
    await citizen.taps("⬅️ 上一步")
    assert citizen.said() == ["report.ask_location"]


async def test_the_place_corrected_from_the_summary_is_asked_as_at_first(
    services: Services, person
) -> None:
    citizen = person("c")
    await _up_to_location(citizen)
    await citizen.says("曼景保村3组")
    await citizen.taps("是这里")
    await _to_summary(citizen)
    await citizen.taps("✏️ 修改")
    await citizen.taps("发生地点")
    assert citizen.said() == ["report.ask_location"]
    await citizen.says("嘎洒社区")
    await citizen.taps("是这里")
    assert citizen.said() == ["report.summary"]  # straight back, the old detail gone
    assert _place_line(citizen.texts()[-1]) == "· 发生地点：景洪市 嘎洒镇 嘎洒社区"


@pytest.mark.parametrize(
    ("typed", "why"),
    [
        ("   ", None),  # nothing at all: the router or the step asks again
        ("！！！？。", "report.place_unreadable"),
        ("曼" * 500, "input.too_long"),
        ("曼", "input.too_short"),
    ],
)
async def test_an_odd_place_is_asked_again_politely(
    services: Services, person, typed: str, why: str | None
) -> None:
    citizen = person("c")
    await _up_to_location(citizen)
    await citizen.says(typed)
    assert citizen.said()[-1] == "report.ask_location", citizen.texts()
    if why is not None:
        assert citizen.said() == [why, "report.ask_location"]


async def test_a_photo_or_a_forged_choice_at_the_confirmation_asks_again(
    services: Services, person
) -> None:
    citizen = person("c")
    await _up_to_location(citizen)
    await citizen.says("曼景保")
    await citizen.sends("photo", media=("AgACAg-photo-1",))
    assert citizen.said() == ["input.pick_a_button", "report.ask_place_one"]
    assert citizen.last is not None
    nonce = citizen.last.replies[-1].buttons[0][0].payload.split(".")[0]
    await citizen.presses(f"{nonce}.p:7")  # no seventh place was offered
    assert citizen.said() == ["input.pick_a_button", "report.ask_place_one"]


async def test_a_name_of_thirty_places_asks_for_more(services: Services, person) -> None:
    async with services.sessions() as session, session.begin():
        town = await session.get(Region, GASA_TOWN)
        assert town is not None
        for i in range(30):
            code = f"5328011013{i:02}"
            session.add(
                Region(
                    code=code,
                    name="新村",
                    level="village",
                    parent_code=GASA_TOWN,
                    path=f"{town.path}{code}/",
                )
            )
    citizen = person("c")
    await _up_to_location(citizen)
    await citizen.says("新村")
    assert citizen.said() == ["report.place_too_many", "report.ask_location"]
    assert "对应了30个地方" in citizen.text()
    # The regions changed since the index was built: the new names are found at once.
    await citizen.says("嘎洒镇新村附近")
    assert citizen.said() == ["report.place_too_many", "report.ask_location"]


async def test_a_region_added_after_a_look_up_is_found(services: Services, person) -> None:
    first = person("a")
    await _up_to_location(first)
    await first.says("曼龙勒村")
    assert first.said()[0] == "report.place_not_found"
    async with services.sessions() as session, session.begin():
        town = await session.get(Region, GASA_TOWN)
        assert town is not None
        code = "532801101299"
        session.add(
            Region(
                code=code,
                name="曼龙勒村委会",
                level="village",
                parent_code=GASA_TOWN,
                path=f"{town.path}{code}/",
            )
        )
    second = person("b")
    await _up_to_location(second)
    await second.says("曼龙勒村")
    assert second.text() == "您说的是【景洪市 嘎洒镇 曼龙勒村委会】吗？"


async def test_the_report_reaches_the_mediator_of_the_village_it_names(
    services: Services, person
) -> None:
    mediator = await make_staff(services, "yan", "mediator", MANJINGBAO_MEDIATION)
    citizen = person("c")
    await _up_to_location(citizen)
    await citizen.says("景洪嘎洒曼景保村3组")
    await citizen.taps("是这里")
    await _to_summary(citizen)
    case = await _submitted(services, citizen)
    assert "曼景保村人民调解委员会" in citizen.texts()[0]
    assert case.unit_code == MANJINGBAO_MEDIATION
    assert case.region_path.endswith(f"/{MANJINGBAO}/")
    async with services.sessions() as session:
        offered = await session.scalars(
            select(OutboxMessage.person_id).where(OutboxMessage.case_id == case.id)
        )
        assert mediator.id in set(offered)


async def test_staff_type_a_village_in_the_region_step(services: Services) -> None:
    # The township dispatcher reports: the list starts at 嘎洒镇, and a name is enough.
    staff = await make_staff(services, "yu", "dispatcher", "U532801101-ZZ")
    await staff.says("/report")
    await staff.says("岩温家和玉香家因为排水沟堵了吵起来，我到场后已经说和了")
    await staff.taps("对，是这类")
    assert staff.said()[-1] == "report.ask_region" and "当前：嘎洒镇" in staff.text()
    await staff.says("曼听社区")  # another township's
    assert staff.said() == ["report.place_outside", "report.ask_region"]
    await staff.says("老街")
    assert staff.said() == ["report.region_not_found", "report.ask_region"]
    await staff.says("曼景保5组")
    assert staff.text() == f"您说的是【{LABEL}】吗？"
    await staff.taps("是这里")
    assert staff.said()[-1] == "report.ask_parties"
    await staff.says("岩温（户主）与邻居玉香")
    await staff.taps("2人")
    await staff.taps("没有")
    await staff.taps("未化解")
    await staff.taps("完成")
    assert staff.said()[-1] == "report.summary_staff"
    assert _place_line(staff.texts()[-1]) == f"· 发生地点：{LABEL} 5组"
    await staff.taps("提交")
    async with services.sessions() as session:
        case = await session.scalar(select(Case))
        assert case is not None and (case.region_code, case.address) == (MANJINGBAO, "5组")


async def test_the_consoles_loc_with_a_place_name_is_matched(services: Services) -> None:
    out = io.StringIO()

    async def to_bot(inbound: Inbound) -> Answer:
        return await handle(services, inbound)

    channel = ConsoleChannel("me", to_bot, out=out)
    for line in ("/report", NOISE, "1", "/loc 嘎洒镇曼景保村"):
        await channel.say(line)
    text = out.getvalue()
    assert f"您说的是【{LABEL}】吗？\n  [1] ✅ 是这里  [2] 都不是，从列表选择" in text
