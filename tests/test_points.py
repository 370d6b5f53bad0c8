"""Points: awards recorded once, local calendar months, and the monthly red and black lists."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import event, select

from dialogs.base import Services
from dispatch.clock import as_utc
from dispatch.points import (
    DEFAULT_POINTS_PATH,
    RULES,
    PointRules,
    Ranking,
    UnitScore,
    award,
    default_rules,
    month_points,
    month_window,
    rank,
    red_and_black,
)
from storage.models import Person, PointsEntry, Region, Unit
from tests.conftest import (
    TOWNSHIP_CENTRE,
    TOWNSHIP_MEDIATION,
    VILLAGE_CENTRE,
    VILLAGE_MEDIATION,
    ZONE,
)

RULES_FILE = PointRules.load()
NOVEMBER = date(2026, 11, 1)
DECEMBER = date(2026, 12, 1)

# 嘎洒镇 (景洪市) has three villages in the demo; the ranking test adds five.
GASA = "532801101"
YUNJINGHONG = "532801001"  # 允景洪街道: 曼听 001, 曼景兰 002, 曼弄枫 003
MENGHAN = "532801103"  # 勐罕镇: 曼列 201, 曼远 202
JINGHONG = "532801"


def local(*args: int) -> datetime:
    """A wall-clock time in 西双版纳 (UTC+8, no DST)."""
    return datetime(*args, tzinfo=ZONE)  # type: ignore[arg-type,misc]


async def a_mediator(services: Services, unit: str = VILLAGE_MEDIATION) -> int:
    async with services.sessions() as session, session.begin():
        person = Person(
            display_name="岩温",
            role="mediator",
            unit_code=unit,
            created_at=datetime(2026, 1, 1, tzinfo=UTC),
        )
        session.add(person)
        await session.flush()
        return person.id


async def give(
    services: Services,
    rule: str,
    key: str,
    at: datetime,
    *,
    unit: str | None = None,
    person: int | None = None,
    rules: PointRules = RULES_FILE,
) -> bool:
    async with services.sessions() as session, session.begin():
        return await award(
            session,
            rules,
            rule=rule,
            at=at,
            case_id=None,
            person_id=person,
            unit_code=unit,
            key=key,
        )


async def ledger(services: Services) -> list[PointsEntry]:
    async with services.sessions() as session:
        return list((await session.scalars(select(PointsEntry).order_by(PointsEntry.id))).all())


# -- the rules file ---------------------------------------------------------------------------


def test_the_shipped_rules() -> None:
    assert default_rules() == RULES_FILE
    assert default_rules() is default_rules()  # read once
    assert RULES_FILE.points == {
        "accepted_on_time": 2,
        "resolved_on_time": 5,
        "first_mediation_success": 3,
        "satisfied": 2,
        "basic_satisfied": 1,
        "overdue": -3,
        "escalated_for_delay": -5,
        "reopened_dissatisfied": -5,
        "patrol_quota_met": 2,
        "patrol_quota_missed": -2,
    }
    assert set(RULES_FILE.descriptions) == set(RULES)
    assert (RULES_FILE.top, RULES_FILE.bottom) == (3, 3)
    assert [(lv.ranked, lv.within) for lv in RULES_FILE.levels] == [
        ("village", "township"),
        ("township", "county"),
    ]


GOOD = DEFAULT_POINTS_PATH.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("\nranking:\n", "\nrankings:\n", "rankings: unknown key"),
        ("    points: -3\n", "    points: -3.5\n", "rules.overdue.points: expected an integer"),
        ("    points: -3\n", '    points: "-3"\n', "rules.overdue.points: expected an integer"),
        ("    points: -3\n", "    points: true\n", "rules.overdue.points: expected an integer"),
        ("    points: -3\n", "    pionts: -3\n", "rules.overdue.pionts: unknown key"),
        ("    points: -3\n", "", "rules.overdue.points: required key missing"),
        ("  overdue:\n", "  overdew:\n", "rules.overdew: unknown rule"),
        ("  overdue:\n", "  overdew:\n", "rules.overdue: required rule missing"),
        ("  top: 3\n", "  top: -1\n", "ranking.top: expected an integer >= 0"),
        ("  bottom: 3\n", "  bottom: three\n", "ranking.bottom: expected an integer >= 0"),
        ("  bottom: 3\n", "", "ranking.bottom: required key missing"),
        (
            "{ranked: township, within: county}",
            "{ranked: township, within: village}",
            "ranking.levels[1].within: village is not above township",
        ),
        (
            "{ranked: township, within: county}",
            "{ranked: town, within: county}",
            "ranking.levels[1].ranked: unknown level 'town'",
        ),
        ("  top: 3\n", "  top: 3\n  top: 4\n", "top: duplicate key"),
        ("\nrules:\n", "\nrules: [\n", "invalid YAML"),
    ],
)
def test_a_broken_rules_file_names_the_key(
    tmp_path: Path, old: str, new: str, message: str
) -> None:
    assert GOOD.count(old) == 1
    path = tmp_path / "points.yaml"
    path.write_text(GOOD.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(ValueError, match=r"points\.yaml") as error:
        PointRules.load(path)
    assert message in str(error.value)


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    path = tmp_path / "points.yaml"
    broken = GOOD.replace("    points: 5\n", "    points: 5.0\n").replace("top: 3", "top: x")
    path.write_text(broken, encoding="utf-8")
    with pytest.raises(ValueError) as error:
        PointRules.load(path)
    lines = str(error.value).splitlines()
    assert len(lines) == 2
    assert "rules.resolved_on_time.points" in lines[0]
    assert "ranking.top" in lines[1]


def test_missing_or_empty_rules_file(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="cannot read file"):
        PointRules.load(tmp_path / "nope.yaml")
    (tmp_path / "empty.yaml").write_text("", encoding="utf-8")
    with pytest.raises(ValueError, match="top level: expected a mapping"):
        PointRules.load(tmp_path / "empty.yaml")


# -- awards -----------------------------------------------------------------------------------


async def test_award_is_recorded_once_per_key(services: Services) -> None:
    at = local(2026, 11, 24, 9, 30)
    assert await give(services, "resolved_on_time", "case:7", at, unit=VILLAGE_MEDIATION)
    # A replay of the same cause, in another transaction, records nothing.
    assert not await give(services, "resolved_on_time", "case:7", at, unit=VILLAGE_MEDIATION)
    # The key is per rule: the same case can earn a different rule once too.
    assert await give(services, "accepted_on_time", "case:7", at, unit=VILLAGE_MEDIATION)
    entries = await ledger(services)
    assert [(e.dedupe_key, e.rule, e.points) for e in entries] == [
        ("resolved_on_time:case:7", "resolved_on_time", 5),
        ("accepted_on_time:case:7", "accepted_on_time", 2),
    ]
    # Stored in UTC: 09:30 in 西双版纳 is 01:30 UTC.
    assert as_utc(entries[0].at) == datetime(2026, 11, 24, 1, 30, tzinfo=UTC)


async def test_concurrent_awards_of_one_key_record_one_entry(services: Services) -> None:
    at = local(2026, 11, 24, 9, 30)
    results = await asyncio.gather(
        *(give(services, "overdue", "case:9:accept", at, unit=VILLAGE_CENTRE) for _ in range(4))
    )
    assert sorted(results) == [False, False, False, True]
    assert len(await ledger(services)) == 1


async def test_points_come_from_the_rules_file(services: Services, tmp_path: Path) -> None:
    path = tmp_path / "points.yaml"
    path.write_text(GOOD.replace("    points: -3\n", "    points: -7\n"), encoding="utf-8")
    harsher = PointRules.load(path)
    assert harsher.points["overdue"] == -7
    at = local(2026, 11, 24, 9, 30)
    await give(services, "overdue", "case:1", at, unit=VILLAGE_CENTRE)
    await give(services, "overdue", "case:2", at, unit=VILLAGE_CENTRE, rules=harsher)
    # The entry keeps what the rule was worth when it was awarded.
    assert [e.points for e in await ledger(services)] == [-3, -7]


async def test_award_refuses_bad_input(services: Services) -> None:
    at = local(2026, 11, 24, 9, 30)
    with pytest.raises(ValueError, match="unknown points rule 'on_time'"):
        await give(services, "on_time", "case:1", at, unit=VILLAGE_CENTRE)
    with pytest.raises(ValueError, match="aware"):
        await give(services, "overdue", "case:1", datetime(2026, 11, 24), unit=VILLAGE_CENTRE)
    # Nobody to credit (an unassigned case without a unit): nothing recorded, no error.
    assert not await give(services, "overdue", "case:1", at)
    with pytest.raises(ValueError, match="non-empty key"):
        await give(services, "overdue", "", at, unit=VILLAGE_CENTRE)
    with pytest.raises(ValueError, match="longer than 128"):
        await give(services, "overdue", "x" * 121, at, unit=VILLAGE_CENTRE)
    assert await ledger(services) == []


# -- months -----------------------------------------------------------------------------------


def test_month_window_is_the_local_calendar_month() -> None:
    # November in UTC+8 runs from 31 Oct 16:00 UTC to 30 Nov 16:00 UTC.
    assert month_window(ZONE, date(2026, 11, 17)) == (
        datetime(2026, 10, 31, 16, 0, tzinfo=UTC),
        datetime(2026, 11, 30, 16, 0, tzinfo=UTC),
    )
    # December ends at the new year.
    assert month_window(ZONE, date(2026, 12, 31))[1] == datetime(2026, 12, 31, 16, tzinfo=UTC)


async def test_month_points_in_local_months(services: Services) -> None:
    me = await a_mediator(services)
    other = await a_mediator(services)

    async def mine(rule: str, key: str, at: datetime) -> None:
        assert await give(services, rule, key, at, person=me, unit=VILLAGE_MEDIATION)

    await mine("accepted_on_time", "c1", local(2026, 10, 31, 23, 59))  # October (15:59 UTC)
    await mine("accepted_on_time", "c2", local(2026, 11, 1, 0, 0))  # November, its first minute
    await mine("resolved_on_time", "c2", local(2026, 11, 12, 15, 0))  # November
    await mine("accepted_on_time", "c3", local(2026, 11, 20, 10, 0))  # November
    # 23:30 local on 30 November is 15:30 UTC the same day: November.
    await mine("overdue", "c4", local(2026, 11, 30, 23, 30))
    # 00:10 local on 1 December is 16:10 UTC on 30 November: December.
    await mine("resolved_on_time", "c3", local(2026, 12, 1, 0, 10))
    # Someone else's points are not mine.
    await give(services, "satisfied", "c2", local(2026, 11, 13, 9, 0), person=other)

    async with services.sessions() as session:
        # November: accepted 2 + 2, resolved 5, overdue -3 → 2 + 2 + 5 - 3 = 6.
        assert await month_points(session, me, ZONE, date(2026, 11, 17)) == (
            6,
            [("accepted_on_time", 2, 4), ("overdue", 1, -3), ("resolved_on_time", 1, 5)],
        )
        assert await month_points(session, me, ZONE, DECEMBER) == (
            5,
            [("resolved_on_time", 1, 5)],
        )
        assert await month_points(session, me, ZONE, date(2026, 10, 5)) == (
            2,
            [("accepted_on_time", 1, 2)],
        )
        assert await month_points(session, me, ZONE, date(2027, 1, 1)) == (0, [])
        assert await month_points(session, other, ZONE, NOVEMBER) == (
            2,
            [("satisfied", 1, 2)],
        )


# -- ranking ----------------------------------------------------------------------------------


def score(region: str, points: int, entries: int) -> UnitScore:
    return UnitScore(f"U{region}-ZZ", region, region, region, points, entries)


@pytest.mark.parametrize(
    ("figures", "top", "bottom", "red", "black"),
    [
        # One unit: nobody to compare with.
        ([5], 3, 3, [], []),
        # Two: one each.
        ([5, 1], 3, 3, ["a"], ["b"]),
        # Five with 3 + 3: black = 5 * 3 // 6 = 2, red = 3.
        ([9, 7, 5, 3, 1], 3, 3, ["a", "b", "c"], ["e", "d"]),
        # Three with 3 + 1: black = 3 * 1 // 4 = 0, red = 3.
        ([9, 7, 5], 3, 1, ["a", "b", "c"], []),
        # Seven with 3 + 3: d is in neither list.
        ([9, 8, 7, 6, 5, 4, 3], 3, 3, ["a", "b", "c"], ["g", "f", "e"]),
        # c and d are equal across the red cut: c is left off the red list.
        ([9, 8, 7, 7, 5, 4, 3], 3, 3, ["a", "b"], ["g", "f", "e"]),
        # d and e are equal across the black cut: e is left off the black list.
        ([9, 8, 7, 6, 6, 4, 3], 3, 3, ["a", "b", "c"], ["g", "f"]),
        # Four equals: neither list.
        ([0, 0, 0, 0], 3, 3, [], []),
        ([9, 7], 0, 0, [], []),
    ],
)
def test_red_and_black(
    figures: list[int], top: int, bottom: int, red: list[str], black: list[str]
) -> None:
    scores = [score(code, points, 1) for code, points in zip("abcdefg", figures, strict=False)]
    got_red, got_black = red_and_black(scores, top, bottom)
    assert [s.region_code for s in got_red] == red
    assert [s.region_code for s in got_black] == black


async def add_villages(services: Services) -> None:
    """Five more villages in 嘎洒镇: 203, 204 (a committee only), 205 (a centre only), 206 and
    208, and 207 without any unit (it cannot earn points, so it is not ranked)."""
    async with services.sessions() as session, session.begin():
        township = await session.get(Region, GASA)
        assert township is not None
        for number, name in [
            ("203", "曼占宰村委会"),
            ("204", "曼迈村委会"),
            ("205", "曼景罕村委会"),
            ("206", "曼沙村委会"),
            ("207", "曼贺村委会"),
            ("208", "曼真村委会"),
        ]:
            code = GASA + number
            session.add(
                Region(
                    code=code,
                    name=name,
                    level="village",
                    parent_code=GASA,
                    path=f"{township.path}{code}/",
                )
            )
            short = name.removesuffix("委会")
            for suffix, title, kind, numbers in (
                ("ZZ", "综治中心", "center", ("203", "205", "206", "208")),
                ("TJ", "人民调解委员会", "mediation", ("203", "204", "206", "208")),
            ):
                if number in numbers:
                    session.add(
                        Unit(
                            code=f"U{code}-{suffix}",
                            name=f"{short}{title}",
                            kind=kind,
                            region_code=code,
                            categories=["all"],
                        )
                    )


def table(ranking: Ranking) -> list[tuple[str, str, int, int]]:
    return [(s.region_code[-3:], s.unit_code, s.points, s.entries) for s in ranking.scores]


def codes(scores: tuple[UnitScore, ...]) -> list[str]:
    return [s.region_code[-3:] for s in scores]


async def rankings(services: Services, month: date) -> dict[str, Ranking]:
    async with services.sessions() as session:
        return {r.parent_code: r for r in await rank(session, RULES_FILE, ZONE, month)}


async def test_rank_villages_within_a_township(services: Services) -> None:
    await add_villages(services)
    nov = local(2026, 11, 15, 10, 0)
    u = "U" + GASA  # unit codes in 嘎洒镇: U532801101{village}-{ZZ|TJ}
    for unit, rule, key, at in [
        # 001 嘎洒社区: resolved +5 (committee), accepted +2 (centre) → 7 in 2 entries.
        (f"{u}001-TJ", "resolved_on_time", "c1", nov),
        (f"{u}001-ZZ", "accepted_on_time", "c1", nov),
        # 203: resolved +5 → 5 in 1.
        (f"{u}203-TJ", "resolved_on_time", "c2", nov),
        # 201 曼播: resolved +5, satisfied +2, overdue -3 → 4 in 3; the overdue at 23:30 on
        # 30 November local time still counts in November.
        (f"{u}201-TJ", "resolved_on_time", "c3", nov),
        (f"{u}201-TJ", "satisfied", "c3", nov),
        (f"{u}201-TJ", "overdue", "c4", local(2026, 11, 30, 23, 30)),
        # 202 曼勉: first mediation +3 (committee), basic satisfied +1 (centre) → 4 in 2:
        # equal points with 201, fewer entries, so below it.
        (f"{u}202-TJ", "first_mediation_success", "c5", nov),
        (f"{u}202-ZZ", "basic_satisfied", "c5", nov),
        # 204 (committee only): overdue -3 → -3 in 1. Its October and December entries
        # count in other months.
        (f"{u}204-TJ", "overdue", "c6", nov),
        (f"{u}204-TJ", "accepted_on_time", "c7", local(2026, 10, 31, 23, 59)),
        (f"{u}204-TJ", "accepted_on_time", "c8", local(2026, 12, 1, 0, 10)),
        # 205 (centre only): reopened -5 → -5 in 1.
        (f"{u}205-ZZ", "reopened_dissatisfied", "c9", nov),
        # 206, 208 and the demo's 209: nothing → 0 in 0, equals, listed in code order.
        # The township's own centre earns for the township, not for any village.
        (f"{u}-ZZ", "overdue", "c10", nov),
    ]:
        assert await give(services, rule, key, at, unit=unit)
    # A person's award without a unit counts for no village.
    me = await a_mediator(services, f"{u}206-TJ")
    await give(services, "resolved_on_time", "c11", nov, person=me)

    gasa = (await rankings(services, NOVEMBER))[GASA]
    assert (gasa.parent_name, gasa.level) == ("嘎洒镇", "village")
    assert table(gasa) == [
        ("001", f"{u}001-ZZ", 7, 2),
        ("203", f"{u}203-ZZ", 5, 1),
        ("201", f"{u}201-ZZ", 4, 3),
        ("202", f"{u}202-ZZ", 4, 2),
        ("206", f"{u}206-ZZ", 0, 0),
        ("208", f"{u}208-ZZ", 0, 0),
        ("209", f"{u}209-ZZ", 0, 0),  # the demo's 曼景保村委会
        ("204", f"{u}204-TJ", -3, 1),  # no centre: shown as its committee
        ("205", f"{u}205-ZZ", -5, 1),
    ]  # 207 has no unit: not ranked
    assert gasa.scores[0].unit_name == "嘎洒社区综治中心"
    assert gasa.scores[0].region_name == "嘎洒社区"
    # Nine ranked: red the top 3; black the bottom 3 (209, 204, 205) less 209, which equals
    # 208 just above the cut, worst first.
    assert codes(gasa.red) == ["001", "203", "201"]
    assert codes(gasa.black) == ["205", "204"]

    # 208 now earns an overdue -3 → -3 in 1, equal to 204, after it by code:
    # 001 203 201 202 206 209 | 204 208 205 → black, worst first: 205, 208, 204.
    assert await give(services, "overdue", "c12", nov, unit=f"{u}208-TJ")
    gasa = (await rankings(services, NOVEMBER))[GASA]
    assert codes(gasa.scores) == ["001", "203", "201", "202", "206", "209", "204", "208", "205"]
    assert codes(gasa.red) == ["001", "203", "201"]
    assert codes(gasa.black) == ["205", "208", "204"]

    # December: only 204's accepted +2; the other eight are equal at 0 and straddle both
    # cuts, so both lists are empty.
    december = (await rankings(services, DECEMBER))[GASA]
    assert table(december)[0] == ("204", f"{u}204-TJ", 2, 1)
    assert [s.points for s in december.scores[1:]] == [0] * 8
    assert codes(december.red) == ["204"]
    assert december.black == ()


async def test_rank_a_small_township_and_one_without_entries(services: Services) -> None:
    nov = local(2026, 11, 15, 10, 0)
    # 允景洪街道: 曼听 (001) resolved +5, 曼景兰 (002) accepted +2, 曼弄枫 (003) overdue -3.
    assert await give(services, "resolved_on_time", "c1", nov, unit=VILLAGE_MEDIATION)
    assert await give(services, "accepted_on_time", "c2", nov, unit="U532801001002-TJ")
    assert await give(services, "overdue", "c3", nov, unit="U532801001003-ZZ")
    by_parent = await rankings(services, NOVEMBER)

    small = by_parent[YUNJINGHONG]
    assert [(s.region_name, s.unit_code, s.points) for s in small.scores] == [
        ("曼听社区", VILLAGE_CENTRE, 5),
        ("曼景兰社区", "U532801001002-ZZ", 2),
        ("曼弄枫社区", "U532801001003-ZZ", -3),
    ]
    # Three villages, fewer than 3 + 3: black = 3 * 3 // 6 = 1, red = the other 2.
    assert codes(small.red) == ["001", "002"]
    assert codes(small.black) == ["003"]
    assert not set(small.red) & set(small.black)

    # 勐罕镇: no entries. Both villages still ranked at 0, in code order; equals, so neither
    # is put on a list.
    quiet = by_parent[MENGHAN]
    assert table(quiet) == [
        ("201", "U532801103201-ZZ", 0, 0),
        ("202", "U532801103202-ZZ", 0, 0),
    ]
    assert (quiet.red, quiet.black) == ((), ())

    # Every township with villages gets a village ranking, then every county a township one.
    order = [(r.level, r.parent_code) for r in await _all(services, NOVEMBER)]
    townships = [
        "532801001",
        "532801101",
        "532801103",
        "532822101",
        "532822102",
        "532822201",
        "532823101",
        "532823102",
        "532823104",
    ]
    counties = ["532801", "532822", "532823"]
    assert order == [("village", t) for t in townships] + [("township", c) for c in counties]


async def _all(services: Services, month: date) -> list[Ranking]:
    async with services.sessions() as session:
        return await rank(session, RULES_FILE, ZONE, month)


async def test_rank_townships_within_a_county(services: Services) -> None:
    nov = local(2026, 11, 15, 10, 0)
    # 允景洪街道 (001): committee resolved +5, centre satisfied +2 → 7 in 2.
    assert await give(services, "resolved_on_time", "c1", nov, unit=TOWNSHIP_MEDIATION)
    assert await give(services, "satisfied", "c1", nov, unit=TOWNSHIP_CENTRE)
    # 嘎洒镇 (101): centre overdue -3 → -3 in 1. Its villages' points (曼播 +5) are theirs,
    # not the township's.
    assert await give(services, "overdue", "c2", nov, unit="U532801101-ZZ")
    assert await give(services, "resolved_on_time", "c3", nov, unit="U532801101201-TJ")
    # 勐罕镇 (103): nothing → 0 in 0.
    # The county centre and departments are not in any township.
    assert await give(services, "overdue", "c4", nov, unit="U532801-ZZ")

    jinghong = (await rankings(services, NOVEMBER))[JINGHONG]
    assert (jinghong.parent_name, jinghong.level) == ("景洪市", "township")
    assert [
        (s.region_name, s.unit_code, s.unit_name, s.points, s.entries) for s in jinghong.scores
    ] == [
        ("允景洪街道", TOWNSHIP_CENTRE, "允景洪街道综治中心", 7, 2),
        ("勐罕镇", "U532801103-ZZ", "勐罕镇综治中心", 0, 0),
        ("嘎洒镇", "U532801101-ZZ", "嘎洒镇综治中心", -3, 1),
    ]
    # Three townships: red 2, black 1.
    assert codes(jinghong.red) == ["001", "103"]
    assert codes(jinghong.black) == ["101"]

    # With a red and black list of one each, 勐罕镇 is in neither.
    one_each = replace(RULES_FILE, top=1, bottom=1)
    async with services.sessions() as session:
        rankings_1 = {r.parent_code: r for r in await rank(session, one_each, ZONE, NOVEMBER)}
    assert codes(rankings_1[JINGHONG].red) == ["001"]
    assert codes(rankings_1[JINGHONG].black) == ["101"]


async def test_rank_is_a_fixed_number_of_queries(services: Services) -> None:
    """One grouped pass over the month, whatever the number of units."""
    statements: list[str] = []
    sync_engine = services.sessions.engine.sync_engine

    def count(_conn, _cursor, statement, *_args) -> None:
        statements.append(statement)

    event.listen(sync_engine, "before_cursor_execute", count)
    try:
        await _all(services, NOVEMBER)
    finally:
        event.remove(sync_engine, "before_cursor_execute", count)
    selects = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    assert len(selects) == 3
