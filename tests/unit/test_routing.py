"""Routing decisions that need no database: which units handle a category, and which levels
a case of each risk may go to."""

from __future__ import annotations

import pytest

from dispatch.routing import TARGET_LEVEL, candidate_regions, handles
from storage.models import Region, Unit

# 景洪市 允景洪街道 曼听社区 and one of its grids, nearest first as dispatch.org.ancestors gives.
CHAIN = [
    Region(code="532801001001G01", level="grid"),
    Region(code="532801001001", level="village"),
    Region(code="532801001", level="township"),
    Region(code="532801", level="county"),
    Region(code="532800", level="prefecture"),
]


def codes(regions: list[Region]) -> list[str]:
    return [r.code for r in regions]


def test_a_unit_handles_its_categories_or_everything() -> None:
    labor_bureau = Unit(code="U532801-RS", kind="department", categories=["labor"])
    centre = Unit(code="U532801-ZZ", kind="center", categories=["all"])
    assert handles(labor_bureau, "labor")
    assert not handles(labor_bureau, "neighbor")
    assert handles(centre, "labor") and handles(centre, "neighbor")


def test_risk_sets_the_lowest_level() -> None:
    assert TARGET_LEVEL == {"general": "village", "significant": "township", "major": "county"}


@pytest.mark.parametrize(
    ("risk", "expected"),
    [
        ("general", ["532801001001", "532801001", "532801", "532800"]),
        ("significant", ["532801001", "532801", "532800"]),
        ("major", ["532801", "532800"]),
    ],
)
def test_a_case_goes_to_its_risk_level_or_higher_nearest_first(
    risk: str, expected: list[str]
) -> None:
    # Never to the grid: a grid worker reports, a committee or centre handles.
    assert codes(candidate_regions(CHAIN, risk, None)) == expected


def test_escalation_goes_strictly_above_the_level_it_left() -> None:
    assert codes(candidate_regions(CHAIN, "general", "village")) == [
        "532801001",
        "532801",
        "532800",
    ]
    assert codes(candidate_regions(CHAIN, "general", "county")) == ["532800"]
    assert candidate_regions(CHAIN, "general", "prefecture") == []
    # Escalating from below the risk's level does not bring it lower.
    assert codes(candidate_regions(CHAIN, "major", "village")) == ["532801", "532800"]


def test_a_case_reported_above_village_level_starts_where_it_was_reported() -> None:
    """A report placed at the township (no grid known) never goes down to a village."""
    assert codes(candidate_regions(CHAIN[2:], "general", None)) == ["532801001", "532801", "532800"]
