"""Policy lookups: which rule a case gets, how a deadline is counted, when quiet hours hold."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from dispatch.policy import Policy, QuietHours, Rule
from dispatch.worktime import WorkingHours

ZONE = ZoneInfo("Asia/Shanghai")
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)

GENERAL = Rule(accept=4 * HOUR, resolve=3 * DAY, reminders=(0.5, 0.9), escalate_after=DAY)
MAJOR = Rule(accept=HOUR / 2, resolve=15 * DAY, reminders=(0.5, 0.9), escalate_after=12 * HOUR)
LABOR_GENERAL = Rule(accept=4 * HOUR, resolve=2 * DAY, reminders=(0.5, 0.9), escalate_after=DAY)
MEDICAL_GENERAL = Rule(
    accept=4 * HOUR, resolve=3 * DAY, reminders=(0.5, 0.9), escalate_after=DAY, working_time=True
)
POLICY = Policy(
    risk={"general": GENERAL, "significant": GENERAL, "major": MAJOR},
    categories={"labor": {"general": LABOR_GENERAL}, "medical": {"general": MEDICAL_GENERAL}},
    quiet=QuietHours(time(22, 0), time(7, 30)),
)


def test_a_category_rule_wins_for_its_risk_only() -> None:
    assert POLICY.rule("general", "labor") is LABOR_GENERAL
    # Labour has no rule of its own for major risk: the risk's default applies.
    assert POLICY.rule("major", "labor") is MAJOR
    assert POLICY.rule("general", "neighbor") is GENERAL
    assert POLICY.rule("major", "neighbor") is MAJOR


def test_an_unknown_risk_is_a_programming_error() -> None:
    with pytest.raises(KeyError):
        POLICY.rule("catastrophic", "neighbor")


def test_deadlines_count_wall_clock_time_unless_the_rule_says_working_time() -> None:
    # Friday 27 November 2026, 16:00 local.
    friday = datetime(2026, 11, 27, 16, tzinfo=ZONE)
    assert POLICY.deadline(friday, 4 * HOUR, GENERAL, ZONE) == datetime(
        2026, 11, 27, 20, tzinfo=ZONE
    )
    assert POLICY.deadline(friday, 4 * HOUR, MEDICAL_GENERAL, ZONE) == datetime(
        2026, 11, 30, 10, 30, tzinfo=ZONE
    )
    # Deadlines come back in UTC, as they are stored.
    assert POLICY.deadline(friday, 4 * HOUR, GENERAL, ZONE).utcoffset() == timedelta(0)


def test_working_hours_of_the_policy_are_used() -> None:
    mornings = Policy(risk=POLICY.risk, hours=WorkingHours(((time(8), time(12)),)))
    friday = datetime(2026, 11, 27, 11, tzinfo=ZONE)
    assert mornings.deadline(friday, 2 * HOUR, MEDICAL_GENERAL, ZONE) == datetime(
        2026, 11, 30, 9, tzinfo=ZONE
    )


@pytest.mark.parametrize(
    ("hour", "minute", "quiet"),
    [
        (21, 59, False),
        (22, 0, True),
        (23, 30, True),
        (0, 0, True),
        (7, 29, True),
        (7, 30, False),
        (12, 0, False),
    ],
)
def test_quiet_hours_span_midnight(hour: int, minute: int, quiet: bool) -> None:
    at = datetime(2026, 11, 24, hour, minute, tzinfo=ZONE).astimezone(UTC)
    assert POLICY.quiet is not None
    assert POLICY.quiet.holds(at, ZONE) is quiet


def test_quiet_hours_within_one_day() -> None:
    lunch = QuietHours(time(12, 0), time(14, 30))
    assert lunch.holds(datetime(2026, 11, 24, 13, tzinfo=ZONE), ZONE)
    assert not lunch.holds(datetime(2026, 11, 24, 14, 30, tzinfo=ZONE), ZONE)
    assert not lunch.holds(datetime(2026, 11, 24, 23, tzinfo=ZONE), ZONE)


def test_quiet_hours_are_local_time() -> None:
    """23:00 in 西双版纳 is 15:00 UTC: quiet there, whatever the server's zone."""
    assert POLICY.quiet is not None
    assert POLICY.quiet.holds(datetime(2026, 11, 24, 15, tzinfo=UTC), ZONE)
    assert not POLICY.quiet.holds(datetime(2026, 11, 24, 15, tzinfo=UTC), ZoneInfo("UTC"))
