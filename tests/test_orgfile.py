"""Organisation file parsing and validation (dispatch/orgfile.py) and the demo organisation."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pytest

from dispatch.orgfile import (
    DEMO_ORG_PATH,
    OrgFile,
    OrgFileError,
    RegionSpec,
    UnitSpec,
    load_org_file,
    parse_org_text,
)
from dispatch.vocab import CATEGORIES, UNIT_KINDS

# A small valid file; error tests replace one piece of it.
VALID = """\
regions:
  - code: 532800
    name: 西双版纳傣族自治州
    level: prefecture
    children:
      - code: "532801"
        name: 景洪市
        level: county
        children:
          - code: "532801001"
            name: 允景洪街道
            level: township
            children:
              - code: "532801001001"
                name: 曼听社区
                level: village
                children:
                  - {code: "532801001001G01", name: 曼听社区第1网格, level: grid}
units:
  - {code: U532801-ZZ, name: 景洪市综治中心, kind: center, region: "532801", categories: [all]}
  - {code: U532801-RS, name: 景洪市人社局, kind: department, region: 532801, categories: [labor]}
  - {code: U532801001001-TJ, name: 曼听社区人民调解委员会, kind: mediation,
     region: "532801001001", categories: [family, neighbor]}
"""


def errors_of(text: str) -> list[str]:
    with pytest.raises(OrgFileError) as info:
        parse_org_text(text)
    assert str(info.value) == "\n".join(info.value.errors)
    return info.value.errors


def only_error(text: str) -> str:
    errors = errors_of(text)
    assert len(errors) == 1, errors
    return errors[0]


# -- the demo organisation --------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo() -> OrgFile:
    return load_org_file(DEMO_ORG_PATH)


def children_by_parent(org: OrgFile) -> dict[str | None, list[RegionSpec]]:
    result: dict[str | None, list[RegionSpec]] = defaultdict(list)
    for region in org.regions:
        result[region.parent].append(region)
    return result


def test_demo_org_tree_shape(demo: OrgFile) -> None:
    children = children_by_parent(demo)
    (root,) = children[None]
    assert (root.code, root.name, root.level) == ("532800", "西双版纳傣族自治州", "prefecture")
    counties = children[root.code]
    assert {c.name for c in counties} >= {"景洪市", "勐海县", "勐腊县"}
    for county in counties:
        assert county.level == "county"
        townships = children[county.code]
        assert len(townships) >= 2, county.name
        for township in townships:
            villages = children[township.code]
            assert len(villages) >= 2, township.name
            for village in villages:
                grids = children[village.code]
                assert len(grids) >= 2, village.name
                assert all(g.level == "grid" and not children[g.code] for g in grids)


def test_demo_org_regions_in_tree_order(demo: OrgFile) -> None:
    seen: set[str] = set()
    for region in demo.regions:
        assert region.parent is None or region.parent in seen
        seen.add(region.code)
    assert len(seen) == len(demo.regions)


def test_demo_org_units(demo: OrgFile) -> None:
    units_at: dict[str, list[UnitSpec]] = defaultdict(list)
    for unit in demo.units:
        units_at[unit.region].append(unit)
    assert len({u.code for u in demo.units}) == len(demo.units)
    for region in demo.regions:
        kinds = {u.kind for u in units_at[region.code] if u.categories == ("all",)}
        if region.level == "grid":
            assert not units_at[region.code]
            continue
        assert "center" in kinds, region.name
        if region.level in ("village", "township"):
            assert "mediation" in kinds, region.name
        if region.level == "county":
            handled = {c for u in units_at[region.code] for c in u.categories}
            assert {"labor", "traffic"} <= handled, region.name


def test_demo_org_known_codes(demo: OrgFile) -> None:
    units = {u.code: u for u in demo.units}
    assert units["U532801-RS"].categories == ("labor",)
    assert units["U532801-RS"].kind == "department"
    assert units["U532801001001-TJ"].kind == "mediation"
    assert units["U532801001001-ZZ"].kind == "center"
    regions = {r.code: r for r in demo.regions}
    assert regions["532801001001G01"].parent == "532801001001"


# -- a valid file -----------------------------------------------------------------------------


def test_parse_valid_text() -> None:
    org = parse_org_text(VALID)
    assert [r.code for r in org.regions] == [
        "532800",
        "532801",
        "532801001",
        "532801001001",
        "532801001001G01",
    ]
    assert org.regions[0] == RegionSpec("532800", "西双版纳傣族自治州", "prefecture", None)
    assert org.regions[1].parent == "532800"
    assert org.units[1] == UnitSpec(
        "U532801-RS", "景洪市人社局", "department", "532801", ("labor",)
    )
    assert org.units[0].categories == ("all",)
    assert org.units[2].categories == ("family", "neighbor")


def test_load_file_with_bom(tmp_path: Path) -> None:
    path = tmp_path / "org.yaml"
    path.write_bytes(b"\xef\xbb\xbf" + VALID.encode())
    assert len(load_org_file(path).units) == 3


# -- errors -----------------------------------------------------------------------------------


def test_unit_in_unknown_region() -> None:
    text = VALID.replace('region: "532801001001"', 'region: "5328011"')
    assert only_error(text) == "units[2].region: no region 5328011"


def test_duplicate_region_code() -> None:
    grid = '                  - {code: "532801001001G01", name: 曼听社区第1网格, level: grid}\n'
    text = VALID.replace(grid, grid + grid.replace("第1", "第2"))
    assert only_error(text) == (
        "regions[0].children[0].children[0].children[0].children[1].code:"
        " duplicate region code 532801001001G01"
        " (first at regions[0].children[0].children[0].children[0].children[0])"
    )


def test_wrong_level_nesting() -> None:
    text = VALID.replace("level: township", "level: village")
    error = only_error(text)
    assert error.startswith("regions[0].children[0].children[0].level: ")
    assert "township" in error


def test_wrong_level_message() -> None:
    text = VALID.replace("level: village", "level: grid")
    assert errors_of(text) == [
        "regions[0].children[0].children[0].children[0].level:"
        " grid cannot be a child of a township (expected village)",
    ]


def test_child_of_grid() -> None:
    text = VALID.replace(
        "level: grid}", "level: grid, children: [{code: X1, name: 子网格, level: grid}]}"
    )
    assert only_error(text).startswith(
        "regions[0].children[0].children[0].children[0].children[0].children: "
    )


def test_unknown_category() -> None:
    text = VALID.replace("[family, neighbor]", "[family, foo]")
    error = only_error(text)
    assert error.startswith('units[2].categories[1]: unknown category "foo" (known: family, ')
    assert all(c in error for c in CATEGORIES)


@pytest.mark.parametrize(
    ("categories", "path"),
    [
        ("[]", "units[2].categories"),
        ("[all, family]", "units[2].categories"),
        ("[family, family]", "units[2].categories[1]"),
        ("family", "units[2].categories"),
    ],
)
def test_bad_category_lists(categories: str, path: str) -> None:
    text = VALID.replace("[family, neighbor]", categories)
    assert only_error(text).startswith(f"{path}: ")


def test_unknown_kind() -> None:
    text = VALID.replace("kind: department", "kind: bureau")
    error = only_error(text)
    assert error.startswith('units[1].kind: unknown kind "bureau" (known: ')
    assert all(k in error for k in UNIT_KINDS)


def test_unknown_key() -> None:
    text = VALID.replace("categories: [labor]", "catgories: [labor]")
    errors = errors_of(text)
    assert errors[0].startswith("units[1].catgories: unknown key")
    assert errors[1] == "units[1].categories: required field missing"
    assert len(errors) == 2


def test_unknown_region_and_top_keys() -> None:
    text = VALID.replace("level: county", "level: county\n        leader: 张三") + "extra: 1\n"
    assert errors_of(text) == [
        "extra: unknown key (allowed: regions, units)",
        "regions[0].children[0].leader: unknown key (allowed: code, name, level, children)",
    ]


def test_missing_field() -> None:
    text = VALID.replace("        name: 景洪市\n", "")
    assert only_error(text) == "regions[0].children[0].name: required field missing"


def test_missing_top_level_keys() -> None:
    assert only_error("regions: []\nunits: []\n").startswith("regions: ")
    assert only_error(VALID.split("units:")[0]) == "units: required key missing"


@pytest.mark.parametrize(
    ("replacement", "path"),
    [
        ('code: "532801 001"', "regions[0].children[0].children[0].code"),
        ('code: "景洪"', "regions[0].children[0].children[0].code"),
        ("code: 5328.01", "regions[0].children[0].children[0].code"),
        ("code: true", "regions[0].children[0].children[0].code"),
        ("code: [1, 2]", "regions[0].children[0].children[0].code"),
        ('code: ""', "regions[0].children[0].children[0].code"),
        ('code: "' + "9" * 41 + '"', "regions[0].children[0].children[0].code"),
    ],
)
def test_bad_region_code(replacement: str, path: str) -> None:
    text = VALID.replace('code: "532801001"', replacement)
    errors = errors_of(text)
    assert errors[0].startswith(f"{path}: ")
    # The township's code is gone, but the unit referring to its village still resolves.
    assert len(errors) == 1, errors


def test_bad_unit_code() -> None:
    text = VALID.replace("code: U532801-RS", "code: U532801/RS")
    assert only_error(text).startswith('units[1].code: invalid code "U532801/RS"')
    text = VALID.replace("code: U532801-RS", "code: 12345")
    assert only_error(text).startswith("units[1].code: expected a string code, got int")


def test_duplicate_unit_code() -> None:
    text = VALID.replace("code: U532801-RS", "code: U532801-ZZ")
    assert only_error(text).startswith("units[1].code: duplicate unit code U532801-ZZ")


@pytest.mark.parametrize(
    ("name", "ok"),
    [('""', False), ('"   "', False), ("名" * 60, True), ("名" * 61, False), ("123", False)],
)
def test_region_names(name: str, ok: bool) -> None:
    text = VALID.replace("name: 景洪市\n", f"name: {name}\n")
    if ok:
        assert parse_org_text(text).regions[1].name == name
    else:
        assert only_error(text).startswith("regions[0].children[0].name: ")


def test_unit_on_grid() -> None:
    text = VALID.replace('region: "532801001001"', 'region: "532801001001G01"')
    error = only_error(text)
    assert error.startswith("units[2].region: region 532801001001G01 is a grid")


def test_yaml_syntax_error() -> None:
    text = "regions:\n  - code: [532800\n    name: x\n"
    error = only_error(text)
    assert error.startswith("line ")
    assert ", column " in error
    text = "regions:\n  - code: 1\n   name: x\n"
    assert only_error(text).startswith("line 3, column ")


def test_control_character_reported_with_position() -> None:
    assert only_error("regions:\n  - code: a\x00b\n").startswith("line 2, column 12: ")


@pytest.mark.parametrize("text", ["- a\n- b\n", "just a string\n", "42\n"])
def test_top_level_not_a_mapping(text: str) -> None:
    assert only_error(text).startswith("top level: expected a mapping")


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n"])
def test_empty_file(text: str) -> None:
    assert only_error(text).startswith("top level: the file is empty")


def test_empty_file_on_disk(tmp_path: Path) -> None:
    path = tmp_path / "org.yaml"
    path.write_bytes(b"")
    with pytest.raises(OrgFileError, match="empty"):
        load_org_file(path)


def test_binary_file(tmp_path: Path) -> None:
    path = tmp_path / "org.yaml"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe")
    with pytest.raises(OrgFileError) as info:
        load_org_file(path)
    assert len(info.value.errors) == 1
    assert info.value.errors[0].startswith(f"{path}: not UTF-8 text")


def test_gbk_file(tmp_path: Path) -> None:
    path = tmp_path / "org.yaml"
    path.write_bytes(VALID.encode("gbk"))
    with pytest.raises(OrgFileError, match="not UTF-8 text"):
        load_org_file(path)


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    with pytest.raises(OrgFileError) as info:
        load_org_file(path)
    assert info.value.errors == [f"{path}: cannot read file: No such file or directory"]


def test_all_errors_reported_at_once() -> None:
    text = (
        VALID.replace("level: township", "level: town")
        .replace("kind: department", "kind: bureau")
        .replace('region: "532801001001"', 'region: "999"')
    )
    errors = errors_of(text)
    assert len(errors) == 3, errors
    assert errors[0].startswith('regions[0].children[0].children[0].level: unknown level "town"')
    assert errors[1].startswith('units[1].kind: unknown kind "bureau"')
    assert errors[2] == "units[2].region: no region 999"


def test_errors_in_list_items_of_wrong_type() -> None:
    text = VALID.replace("units:\n", "units:\n  - just a string\n")
    assert only_error(text).startswith("units[0]: expected a mapping")


def test_duplicate_yaml_keys() -> None:
    text = VALID.replace("categories: [labor]", "categories: [labor], categories: [traffic]")
    assert errors_of(text) == ["line 21, column 93: duplicate key categories"]


def test_duplicate_keys_reported_with_other_errors() -> None:
    text = VALID.replace("        name: 景洪市\n", "        name: 景洪市\n        name: 景洪\n")
    text = text.replace("kind: department", "kind: bureau")
    errors = errors_of(text)
    assert errors[0] == "line 8, column 9: duplicate key name"
    assert errors[1].startswith("units[1].kind: ")
    assert len(errors) == 2


def test_looping_alias_does_not_recurse_forever() -> None:
    text = "regions: &r [{code: a, name: b, level: county, children: *r}]\nunits: []\n"
    errors = errors_of(text)
    assert errors[-1].endswith(": nested too deeply (at most 5 levels)")
