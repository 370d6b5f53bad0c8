"""Points (积分) and the monthly red and black lists (红榜/黑榜).

Awards go to an append-only ledger (:class:`storage.models.PointsEntry`). Each award carries
a dedupe key, ``"{rule}:{key}"``, so replaying its cause (a sweep run twice, a retried
message) records it exactly once. An entry keeps the points the rule was worth when it was
made, so editing ``dispatch/data/points.yaml`` changes future awards only.

Months are local calendar months in the centre's zone: an entry at 23:30 on 30 November in
Asia/Shanghai (15:30 UTC) belongs to November, one at 00:10 on 1 December (16:10 UTC on
30 November) to December.

Ranking (:func:`rank`), for each ``ranked``/``within`` pair of the rules file (villages within
their township, townships within their county):

* **What is ranked** is a region, and its score is the sum of the ledger entries of the
  units located in that region itself (``Unit.region_code``): for a village, its mediation
  committee and its 综治中心; for a township, the township's own committee and centre (not
  its villages, which have their own list). Entries without a unit count for no region.
* **Who represents it**: the region's 综治中心 (the unit of kind ``center``; the one with the
  smallest code if there are several), or, for a region without a centre, its unit with the
  smallest code. A region with no unit at all cannot earn points and is not ranked; every
  region with a unit is, with 0 points and 0 entries if nothing was recorded.
* **Order** (best first): more points; on equal points, more entries (for the same net
  score, the unit that handled more); then region code. Units with the same points and
  entries are equals: the code only fixes the order in which equals are listed.
* **Lists**: the red list is the first ``top`` scores, the black list the last ``bottom``,
  worst first. With fewer than ``top + bottom`` ranked units, every unit goes on one list,
  shared in proportion ``top : bottom`` with the odd one to the red list: ``black = n *
  bottom // (top + bottom)`` and ``red = n - black`` (top 3 and bottom 3 with 5 villages:
  red 3, black 2; with 3: red 2, black 1). A single unit has nobody to be compared with and
  goes on neither list.
* **Ties at a cut**: a list never takes some of a group of equals and leaves the others
  out, so a group of equals that straddles a list's cut is left off that list, which is then
  shorter. Nobody is blacklisted for a code that sorts late, and nobody shares the black list
  with an equal on the red list; with the default top = bottom, a month without entries
  has empty lists.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, ClassVar, Final
from zoneinfo import ZoneInfo

from pydantic import AfterValidator, BeforeValidator, PlainValidator, model_validator
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from dispatch.datafile import DataModel, errors_at, parse_model, read_text
from dispatch.vocab import LEVELS
from storage.models import Case, PointsEntry, Region, Unit
from storage.upserts import insert_ignoring_conflict

if TYPE_CHECKING:
    from dispatch.context import Ctx

__all__ = [
    "DEFAULT_POINTS_PATH",
    "RULES",
    "PointRules",
    "RankedLevel",
    "Ranking",
    "UnitScore",
    "award",
    "default_rules",
    "month_points",
    "month_window",
    "rank",
    "red_and_black",
]

_DATA_DIR: Final = Path(__file__).resolve().parent / "data"
# Spelt in two pieces: tests/test_locales.py reads "section.word" literals as message keys.
DEFAULT_POINTS_PATH: Final = (_DATA_DIR / "points").with_suffix(".yaml")

# The rule codes the code awards. The rules file must give each exactly once.
RULES: Final = (
    "accepted_on_time",
    "resolved_on_time",
    "first_mediation_success",
    "satisfied",
    "basic_satisfied",
    "overdue",
    "escalated_for_delay",
    "reopened_dissatisfied",
    "patrol_quota_met",
    "patrol_quota_missed",
)

MAX_DEDUPE_KEY: Final = 128  # PointsEntry.dedupe_key is String(128)
CENTER: Final = "center"

_RULE_CODE_RE: Final = re.compile(r"[a-z][a-z0-9_]{0,31}")


@dataclass(frozen=True, slots=True)
class RankedLevel:
    """Regions at level ``ranked`` are ranked against the others under the same ``within``."""

    ranked: str
    within: str


DEFAULT_LEVELS: Final = (
    RankedLevel(ranked="village", within="township"),
    RankedLevel(ranked="township", within="county"),
)


@dataclass(frozen=True, slots=True)
class PointRules:
    points: dict[str, int]  # rule code -> points, in the order of RULES
    top: int  # N for the red list
    bottom: int  # N for the black list
    descriptions: dict[str, str] = field(default_factory=dict)
    levels: tuple[RankedLevel, ...] = DEFAULT_LEVELS

    @classmethod
    def load(cls, path: Path | None = None) -> PointRules:
        """Read and validate a rules file (default: ``dispatch/data/points.yaml``).

        Every problem is reported at once in one :class:`ValueError`, one per line, as
        ``"path: message"`` naming the offending key (``rules.overdue.points: ...``).
        """
        path = path or DEFAULT_POINTS_PATH
        return cls.parse(read_text(path), source=str(path))

    @classmethod
    def parse(cls, text: str, *, source: str = "points rules") -> PointRules:
        """Validate a rules file's text; problems raise :class:`DataFileError` (a ValueError)."""
        return parse_model(_PointsFile, text, source).point_rules()


@dataclass(frozen=True, slots=True)
class UnitScore:
    unit_code: str  # the unit shown for the region (its 综治中心 when it has one)
    unit_name: str
    region_code: str
    region_name: str
    points: int  # summed over every unit located in the region
    entries: int


@dataclass(frozen=True, slots=True)
class Ranking:
    parent_code: str
    parent_name: str
    level: str  # the level of the ranked regions (village or township)
    scores: tuple[UnitScore, ...]  # every ranked unit, best first
    red: tuple[UnitScore, ...]  # best first
    black: tuple[UnitScore, ...]  # worst first; never shares a unit with `red`


@cache
def default_rules() -> PointRules:
    """The shipped rules (``dispatch/data/points.yaml``), read once per process."""
    return PointRules.load(DEFAULT_POINTS_PATH)


# -- awards -------------------------------------------------------------------------------------


async def award(
    session: AsyncSession,
    rules: PointRules,
    *,
    rule: str,
    at: datetime,
    case_id: int | None,
    person_id: int | None,
    unit_code: str | None,
    key: str,
) -> bool:
    """Append one ledger entry worth ``rules.points[rule]``, keyed ``"{rule}:{key}"``.

    Returns False (and writes nothing) if that key is already in the ledger, so a replayed
    cause awards once. ``key`` names the cause, e.g. ``f"case:{case_id}"`` or
    ``f"offer:{offer_id}"``; it need not repeat the rule. An award to nobody (no person and
    no unit) records nothing and returns False. Raises ValueError for an unknown rule, a
    naive ``at``, or an empty or over-long key: those are bugs in the caller.
    """
    if rule not in rules.points:
        raise ValueError(f"unknown points rule {rule!r}")
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("award needs an aware datetime")
    if not key:
        raise ValueError("award needs a non-empty key")
    if person_id is None and unit_code is None:
        return False  # nobody to credit (an unassigned case without a unit): nothing to record
    dedupe_key = f"{rule}:{key}"
    if len(dedupe_key) > MAX_DEDUPE_KEY:
        raise ValueError(f"dedupe key longer than {MAX_DEDUPE_KEY} characters: {dedupe_key!r}")
    new_id = await insert_ignoring_conflict(
        session,
        PointsEntry.__table__,  # type: ignore[arg-type]
        {
            "dedupe_key": dedupe_key,
            "person_id": person_id,
            "unit_code": unit_code,
            "case_id": case_id,
            "rule": rule,
            "points": rules.points[rule],
            # SQLite stores the wall time without its offset: always write UTC.
            "at": at.astimezone(UTC),
        },
        key="dedupe_key",
    )
    return new_id is not None


async def award_case(
    ctx: Ctx,
    case: Case,
    rule: str,
    key: str,
    *,
    at: datetime,
    person_id: int | None,
    unit_code: str | None,
) -> bool:
    """`award` in `ctx`'s unit of work for what happened to `case`, with its outcomes."""
    return await award(
        ctx.session,
        ctx.rules,
        rule=rule,
        at=at,
        case_id=case.id,
        person_id=person_id,
        unit_code=unit_code,
        key=key,
    )


# -- months -------------------------------------------------------------------------------------


def month_window(zone: ZoneInfo, month: date) -> tuple[datetime, datetime]:
    """The local calendar month containing ``month`` as a half-open UTC range [start, end)."""
    year, number = month.year, month.month
    following = (year + 1, 1) if number == 12 else (year, number + 1)
    start = datetime(year, number, 1, tzinfo=zone)
    end = datetime(*following, 1, tzinfo=zone)
    return start.astimezone(UTC), end.astimezone(UTC)


async def month_points(
    session: AsyncSession, person_id: int, zone: ZoneInfo, month: date
) -> tuple[int, list[tuple[str, int, int]]]:
    """A person's total for the local month containing ``month``, and per rule
    ``(rule, count, points)`` ordered by rule code. Points are those recorded in the ledger."""
    start, end = month_window(zone, month)
    stmt = (
        select(PointsEntry.rule, func.count(), func.sum(PointsEntry.points))
        .where(
            PointsEntry.person_id == person_id,
            PointsEntry.at >= start,
            PointsEntry.at < end,
        )
        .group_by(PointsEntry.rule)
        .order_by(PointsEntry.rule)
    )
    per_rule = [
        (rule, int(count), int(points)) for rule, count, points in await session.execute(stmt)
    ]
    return sum(points for _, _, points in per_rule), per_rule


# -- ranking ------------------------------------------------------------------------------------


def _order(score: UnitScore) -> tuple[int, int, str]:
    return (-score.points, -score.entries, score.region_code)


def _tier(score: UnitScore) -> tuple[int, int]:
    """What makes two units equal: the region code only orders equals."""
    return (score.points, score.entries)


def red_and_black(
    scores: Sequence[UnitScore], top: int, bottom: int
) -> tuple[tuple[UnitScore, ...], tuple[UnitScore, ...]]:
    """The red list (best first) and black list (worst first) of ``scores`` (best first).

    See the module docstring for the split of small groups and for ties.
    """
    n = len(scores)
    if n < 2 or top + bottom == 0:
        return (), ()
    if n >= top + bottom:
        red_n, black_n = top, bottom
    else:
        black_n = n * bottom // (top + bottom)
        red_n = n - black_n
    red = list(scores[:red_n])
    if red_n < n:  # equals of the first unit left off the red list stay off it too
        red = [s for s in red if _tier(s) != _tier(scores[red_n])]
    black = list(scores[n - black_n :]) if black_n else []
    if black and black_n < n:  # likewise for the last unit kept off the black list
        black = [s for s in black if _tier(s) != _tier(scores[n - black_n - 1])]
    return tuple(red), tuple(reversed(black))


async def rank(
    session: AsyncSession, rules: PointRules, zone: ZoneInfo, month: date
) -> list[Ranking]:
    """The rankings for the local month containing ``month``: for each pair in
    ``rules.levels`` (in file order), one :class:`Ranking` per parent region that has ranked
    children with units, parents in code order. Three queries whatever the size."""
    if not rules.levels:
        return []
    start, end = month_window(zone, month)
    ranked_levels = {lv.ranked for lv in rules.levels}
    wanted_levels = ranked_levels | {lv.within for lv in rules.levels}

    regions = {
        r.code: r
        for r in await session.scalars(select(Region).where(Region.level.in_(wanted_levels)))
    }

    # The representative unit of each ranked region: its centre, else its smallest code.
    shown: dict[str, tuple[str, str]] = {}
    unit_rows = await session.execute(
        select(Unit.code, Unit.name, Unit.kind, Unit.region_code)
        .join(Region, Region.code == Unit.region_code)
        .where(Region.level.in_(ranked_levels))
        .order_by(Unit.region_code, (Unit.kind != CENTER), Unit.code)
    )
    for code, name, _kind, region_code in unit_rows:
        shown.setdefault(region_code, (code, name))

    # One grouped pass over the month's ledger: points and entries per ranked region.
    totals: dict[str, tuple[int, int]] = {}
    total_rows = await session.execute(
        select(Unit.region_code, func.sum(PointsEntry.points), func.count(PointsEntry.id))
        .join(Unit, Unit.code == PointsEntry.unit_code)
        .join(Region, Region.code == Unit.region_code)
        .where(
            PointsEntry.at >= start,
            PointsEntry.at < end,
            Region.level.in_(ranked_levels),
        )
        .group_by(Unit.region_code)
    )
    for region_code, points, entries in total_rows:
        totals[region_code] = (int(points or 0), int(entries))

    rankings: list[Ranking] = []
    for pair in rules.levels:
        groups: dict[str, list[UnitScore]] = {}
        for region in regions.values():
            if region.level != pair.ranked or region.code not in shown:
                continue
            parent = _ancestor_at(region, pair.within, regions)
            if parent is None:
                continue
            unit_code, unit_name = shown[region.code]
            points, entries = totals.get(region.code, (0, 0))
            groups.setdefault(parent.code, []).append(
                UnitScore(unit_code, unit_name, region.code, region.name, points, entries)
            )
        for parent_code in sorted(groups):
            scores = tuple(sorted(groups[parent_code], key=_order))
            red, black = red_and_black(scores, rules.top, rules.bottom)
            parent = regions[parent_code]
            rankings.append(Ranking(parent.code, parent.name, pair.ranked, scores, red, black))
    return rankings


def _ancestor_at(region: Region, level: str, regions: dict[str, Region]) -> Region | None:
    """The ancestor of ``region`` at ``level``, found on its path ("/532800/532801/…/")."""
    for code in region.path.strip("/").split("/")[:-1]:
        ancestor = regions.get(code)
        if ancestor is not None and ancestor.level == level:
            return ancestor
    return None


# -- the rules file -----------------------------------------------------------------------------


def _points(value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(f"expected an integer, got {value!r}")
    return value


def _description(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"expected non-empty text, got {value!r}")
    return value.strip()


def _count(value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(f"expected an integer >= 0, got {value!r}")
    return value


def _level(value: object) -> str:
    if value not in LEVELS:
        raise ValueError(f"unknown level {value!r}")
    assert isinstance(value, str)
    return value


def _non_empty_list(value: object) -> object:
    if not isinstance(value, list) or not value:
        raise ValueError(f"expected a non-empty list, got {value!r}")
    return value


class _Rule(DataModel):
    points: Annotated[int, PlainValidator(_points)]
    description: Annotated[str, PlainValidator(_description)]


class _RuleTable(DataModel):
    """One entry per code of :data:`RULES`, each required (tests check the two agree)."""

    missing_message: ClassVar[str] = "required rule missing"

    accepted_on_time: _Rule
    resolved_on_time: _Rule
    first_mediation_success: _Rule
    satisfied: _Rule
    basic_satisfied: _Rule
    overdue: _Rule
    escalated_for_delay: _Rule
    reopened_dissatisfied: _Rule
    patrol_quota_met: _Rule
    patrol_quota_missed: _Rule

    @classmethod
    def unknown_key_message(cls, key: object) -> str:
        if not isinstance(key, str) or not _RULE_CODE_RE.fullmatch(key):
            return "a rule code is lower-case letters, digits and _ (at most 32)"
        return f"unknown rule (known: {', '.join(RULES)})"


class _LevelPair(DataModel):
    ranked: Annotated[str, PlainValidator(_level)]
    within: Annotated[str, PlainValidator(_level)]

    @model_validator(mode="after")
    def _within_is_above(self) -> _LevelPair:
        if LEVELS.index(self.within) >= LEVELS.index(self.ranked):
            raise errors_at([(("within",), f"{self.within} is not above {self.ranked}", self)])
        return self


def _no_pair_twice(pairs: list[_LevelPair]) -> list[_LevelPair]:
    twice = [
        ((i,), f"{pair.ranked} within {pair.within} is listed twice", pair)
        for i, pair in enumerate(pairs)
        if pair in pairs[:i]
    ]
    if twice:
        raise errors_at(twice)
    return pairs


class _Ranking(DataModel):
    top: Annotated[int, PlainValidator(_count)]
    bottom: Annotated[int, PlainValidator(_count)]
    levels: Annotated[
        list[_LevelPair], BeforeValidator(_non_empty_list), AfterValidator(_no_pair_twice)
    ]


class _PointsFile(DataModel):
    rules: _RuleTable
    ranking: _Ranking

    def point_rules(self) -> PointRules:
        table = {code: getattr(self.rules, code) for code in RULES}
        return PointRules(
            points={code: rule.points for code, rule in table.items()},
            top=self.ranking.top,
            bottom=self.ranking.bottom,
            descriptions={code: rule.description for code, rule in table.items()},
            levels=tuple(RankedLevel(p.ranked, p.within) for p in self.ranking.levels),
        )
