"""dispatch/data/retention.yaml: the shipped defaults, and an edited file's mistakes reported
with the path of the bad field."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from dispatch.datafile import DataFileError
from dispatch.retention import (
    DEFAULT_RETENTION_PATH,
    RetentionPeriod,
    RetentionPolicy,
    redact_event_data,
)


def test_the_shipped_file_is_the_documented_defaults() -> None:
    assert RetentionPolicy.load() == RetentionPolicy(
        dialogs=RetentionPeriod(days=30),
        closed_cases=RetentionPeriod(years=3),
        notices=RetentionPeriod(days=90),
        inactive_citizens=RetentionPeriod(years=3),
    )


def test_every_mistake_is_reported_with_its_path(tmp_path: Path) -> None:
    text = DEFAULT_RETENTION_PATH.read_text(encoding="utf-8")
    broken = (
        text.replace("closed_cases: 3y", "closed_cases: three years")
        .replace("notices: 90d", "notices: 0d")
        .replace("dialogs: 30d", "dialog: 30d")
    )
    path = tmp_path / "retention.yaml"
    path.write_text(broken, encoding="utf-8")
    with pytest.raises(DataFileError) as error:
        RetentionPolicy.load(path)
    assert error.value.errors == [
        f"{path}: dialog: unknown key (allowed: dialogs, closed_cases, notices, inactive_citizens)",
        f"{path}: dialogs: required key missing",
        f"{path}: closed_cases: 'three years' is not a period like 30d, 3y or 1y180d",
        f"{path}: notices: must be at least one day",
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[]", "top level: expected a mapping with keys dialogs, closed_cases, notices,"),
        ("dialogs: 30d\ndialogs: 31d\n", "line 2, column 1: dialogs: duplicate key"),
        ("dialogs: true", "dialogs: True is not a period"),
        ("dialogs: 30", "dialogs: 30 is not a period"),
    ],
)
def test_other_mistakes(text: str, message: str) -> None:
    with pytest.raises(DataFileError) as error:
        RetentionPolicy.parse(text, source="retention.yaml")
    assert error.value.errors[0].startswith(f"retention.yaml: {message}"), error.value.errors


def test_a_period_counts_calendar_years() -> None:
    leap = datetime(2028, 2, 29, 12, tzinfo=UTC)
    assert RetentionPeriod(years=3).before(leap) == datetime(2025, 2, 28, 12, tzinfo=UTC)
    assert RetentionPeriod(years=1, days=2).before(leap) == datetime(2027, 2, 26, 12, tzinfo=UTC)
    assert RetentionPeriod(days=30).before(leap) == leap - timedelta(days=30)
    assert str(RetentionPeriod(years=1, days=180)) == "1y180d"


def test_event_data_keeps_facts_and_loses_free_text() -> None:
    data = {
        "category": "neighbor",
        "risk": "general",
        "cues": ["邻居", "装修"],
        "offer_id": 3,
        "paused_seconds": 3600.0,
        "offers": [1, 2],
        "note": "王五 13912345678",
        "summary": "双方和解",
        "future_free_text": "张三家",
    }
    kept, removed = redact_event_data(data)
    assert removed == ["future_free_text", "note", "summary"]
    assert kept == {
        "category": "neighbor",
        "risk": "general",
        "cues": ["邻居", "装修"],
        "offer_id": 3,
        "paused_seconds": 3600.0,
        "offers": [1, 2],
        "redacted": ["future_free_text", "note", "summary"],
    }
    assert redact_event_data(kept) == (kept, [])  # a second pass changes nothing
