"""Typed places against the demo organisation's names: the place a person means, and what
their text adds beyond it."""

from __future__ import annotations

import pytest

from dispatch.orgfile import DEMO_ORG_PATH, load_org_file
from dispatch.place_match import Place, PlaceIndex, bare_names

MANJINGBAO = "532801101209"  # 景洪市 嘎洒镇 曼景保村委会
MANTING = "532801001001"  # 景洪市 允景洪街道 曼听社区
GASA_TOWN = "532801101"
GASA_COMMUNITY = "532801101001"
MANBO = "532801101201"
PASHA = "532822201202"  # 勐海县 格朗和哈尼族乡 帕沙村委会


@pytest.fixture(scope="module")
def demo() -> PlaceIndex:
    org = load_org_file(DEMO_ORG_PATH)
    return PlaceIndex(Place(r.code, r.name, r.level, r.parent) for r in org.regions)


@pytest.mark.parametrize(
    ("typed", "code", "detail"),
    [
        ("嘎洒镇曼景保村", MANJINGBAO, ""),
        ("曼景保", MANJINGBAO, ""),
        ("曼景保村委会", MANJINGBAO, ""),
        ("景洪嘎洒曼景保村3组", MANJINGBAO, "3组"),
        ("景洪市嘎洒镇的曼景保村３组１５号", MANJINGBAO, "3组15号"),
        ("曼听社区", MANTING, ""),
        ("曼听村", MANTING, ""),
        ("我家在曼听社区附近的菜市场", MANTING, "附近的菜市场"),
        ("曼播村委会旁边", MANBO, "旁边"),
        ("  曼播 村 3组 ", MANBO, "3组"),
        ("格朗和乡帕沙村5组", PASHA, "5组"),
        ("曼听社区第1网格", "532801001001G01", ""),
        ("曼听1网格", "532801001001G01", ""),
        ("曼听社区，就是曼听社区那边", MANTING, ""),
    ],
)
def test_a_typed_place_finds_its_region(
    demo: PlaceIndex, typed: str, code: str, detail: str
) -> None:
    found = demo.lookup(typed).matches
    assert [(m.code, m.detail) for m in found] == [(code, detail)], found


def test_the_label_reads_like_the_case_card(demo: PlaceIndex) -> None:
    assert demo.label(MANJINGBAO) == "景洪市 嘎洒镇 曼景保村委会"
    assert demo.label("532800") == "西双版纳傣族自治州"


def test_a_name_shared_by_a_township_and_a_village_offers_both(demo: PlaceIndex) -> None:
    assert demo.lookup("嘎洒").codes == [GASA_TOWN, GASA_COMMUNITY]
    # Said in full, the suffix decides.
    assert demo.lookup("嘎洒镇").codes == [GASA_TOWN]
    assert demo.lookup("嘎洒社区").codes == [GASA_COMMUNITY]


def test_the_township_named_alone_is_the_township(demo: PlaceIndex) -> None:
    found = demo.lookup("嘎洒镇某某寨").matches
    assert [(m.code, m.detail) for m in found] == [(GASA_TOWN, "某某寨")]


@pytest.mark.parametrize("typed", ["", "！！！", "我家门口", "邻居家装修", "x" * 500])
def test_text_without_a_place_name_matches_nothing(demo: PlaceIndex, typed: str) -> None:
    assert demo.lookup(typed).matches == ()


def test_a_search_can_be_kept_within_a_jurisdiction(demo: PlaceIndex) -> None:
    assert demo.lookup("曼听社区", within=GASA_TOWN).matches == ()
    assert demo.lookup("嘎洒", within=GASA_COMMUNITY).codes == [GASA_COMMUNITY]


def test_a_name_shared_by_thirty_villages_is_thirty_matches() -> None:
    places = [Place("1", "某县", "county", None), Place("11", "新华镇", "township", "1")]
    places += [Place(f"11{i:02}", "新村", "village", "11") for i in range(30)]
    index = PlaceIndex(places)
    assert len(index.lookup("新村").matches) == 30
    assert len(index.lookup("新华镇新村").matches) == 30  # the township is every one's


def test_detail_drops_the_names_of_a_place_and_those_above_it(demo: PlaceIndex) -> None:
    assert demo.detail("嘎洒镇曼景保村3组", MANJINGBAO) == "3组"
    assert demo.detail("嘎洒镇曼景保村3组", GASA_TOWN) == "曼景保村3组"
    assert demo.detail("这里", MANBO) == ""


@pytest.mark.parametrize(
    ("name", "level", "bare"),
    [
        ("曼播村委会", "village", ["曼播村委会", "曼播"]),
        ("格朗和哈尼族乡", "township", ["格朗和哈尼族乡", "格朗和哈尼族", "格朗和"]),
        ("西双版纳傣族自治州", "prefecture", ["西双版纳傣族自治州", "西双版纳傣族", "西双版纳"]),
        ("允景洪街道", "township", ["允景洪街道", "允景洪"]),
        ("勐腊县", "county", ["勐腊县", "勐腊"]),
        ("X村", "village", ["X村"]),  # one character is no name
    ],
)
def test_names_people_say(name: str, level: str, bare: list[str]) -> None:
    assert bare_names(name, level) == bare


def test_names_written_oddly_in_the_file_do_not_break_the_index() -> None:
    places = [
        Place("1", "Some County", "county", None),
        Place("11", "新华镇", "township", "1"),
        Place("111", "新华村第１网格", "grid", "11"),  # a full-width digit
    ]
    index = PlaceIndex(places)
    assert index.lookup("新华村第1网格").codes == ["111"]
    assert index.lookup("Some County").matches == ()
