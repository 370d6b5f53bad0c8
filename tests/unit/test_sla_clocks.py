"""SLA clocks on a case held in memory: when reminders, hand-overs, overdue notices and
escalations fall, how a missed sweep catches up, and how a pause moves the deadline."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from dispatch import sla_clocks
from dispatch.policy import Policy, QuietHours, Rule
from dispatch.sla_clocks import ESCALATE, HAND_OVER, OVERDUE, PROGRESS_CHECK, REMIND, Step
from storage.models import Case

ZONE = ZoneInfo("Asia/Shanghai")
# Tuesday 24 November 2026, 09:30 in 西双版纳 (a working day).
T0 = datetime(2026, 11, 24, 1, 30, tzinfo=UTC)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)

# The shipped figures (dispatch/data/sla.yaml), written out so that this test reads no file.
POLICY = Policy(
    risk={
        "general": Rule(accept=4 * HOUR, resolve=3 * DAY, reminders=(0.5, 0.9), escalate_after=DAY),
        "significant": Rule(
            accept=2 * HOUR, resolve=7 * DAY, reminders=(0.5, 0.9), escalate_after=DAY
        ),
        "major": Rule(
            accept=timedelta(minutes=30),
            resolve=15 * DAY,
            reminders=(0.5, 0.9),
            escalate_after=12 * HOUR,
            daily_progress=True,
        ),
    },
    categories={
        "labor": {
            "general": Rule(
                accept=4 * HOUR, resolve=2 * DAY, reminders=(0.5, 0.9), escalate_after=DAY
            )
        },
        "medical": {
            "general": Rule(
                accept=4 * HOUR,
                resolve=3 * DAY,
                reminders=(0.5, 0.9),
                escalate_after=DAY,
                working_time=True,
            )
        },
    },
)


def started(
    stage: str, at: datetime = T0, risk: str = "general", category: str = "neighbor"
) -> Case:
    """A case whose `stage` clock started at `at`, as the workflow would write it."""
    case = Case(risk=risk, category=category)
    for name, value in sla_clocks.start(case, stage, at, POLICY, ZONE).items():
        setattr(case, name, value)
    return case


def test_accept_reminders_at_half_and_nine_tenths_of_four_hours_then_hand_over() -> None:
    case = started("accept")
    assert sla_clocks.steps(case, POLICY, ZONE) == [
        Step(T0 + 2 * HOUR, REMIND, 0.5),
        Step(T0 + timedelta(hours=3, minutes=36), REMIND, 0.9),
        Step(T0 + 4 * HOUR, HAND_OVER),
    ]
    assert case.due_at == T0 + 4 * HOUR
    assert case.next_action_at == T0 + 2 * HOUR  # the sweep looks here first
    assert case.ladder == 0


def test_significant_and_major_offers_wait_less() -> None:
    assert started("accept", risk="significant").due_at == T0 + 2 * HOUR
    major = started("accept", risk="major")
    assert major.due_at == T0 + timedelta(minutes=30)
    assert major.next_action_at == T0 + timedelta(minutes=15)


def test_resolve_overdue_at_three_days_and_escalated_a_day_later() -> None:
    case = started("resolve")
    assert sla_clocks.steps(case, POLICY, ZONE) == [
        Step(T0 + timedelta(hours=36), REMIND, 0.5),
        Step(T0 + timedelta(hours=64, minutes=48), REMIND, 0.9),
        Step(T0 + 3 * DAY, OVERDUE),
        Step(T0 + 4 * DAY, ESCALATE),
    ]


def test_a_category_rule_overrides_the_risk_default() -> None:
    """Unpaid wages (labor) must be resolved in two days, not three."""
    assert started("resolve", category="labor").due_at == T0 + 2 * DAY
    assert started("accept", category="labor").due_at == T0 + 4 * HOUR


def test_major_cases_need_a_progress_note_every_day() -> None:
    case = started("resolve", risk="major")
    ladder = sla_clocks.steps(case, POLICY, ZONE)
    checks = [s.at for s in ladder if s.action == PROGRESS_CHECK]
    assert checks == [T0 + n * DAY for n in range(1, 15)]
    assert [s.action for s in ladder if s.action != PROGRESS_CHECK] == [
        REMIND,
        REMIND,
        OVERDUE,
        ESCALATE,
    ]
    assert ladder[-2:] == [Step(T0 + 15 * DAY, OVERDUE), Step(T0 + 15 * DAY + 12 * HOUR, ESCALATE)]
    assert [s.at for s in ladder] == sorted(s.at for s in ladder)


def test_working_time_counts_office_hours_only() -> None:
    """A medical case offered on Friday at 16:00 is due on Monday at 10:30: two hours on
    Friday until 18:00, two more from 08:30 on Monday; the half-way reminder is at 18:00."""
    friday = datetime(2026, 11, 27, 16, tzinfo=ZONE)
    case = started("accept", at=friday, category="medical")
    assert case.due_at == datetime(2026, 11, 30, 10, 30, tzinfo=ZONE)
    assert case.next_action_at == datetime(2026, 11, 27, 18, tzinfo=ZONE)


def test_nothing_is_due_before_the_first_reminder() -> None:
    case = started("accept")
    assert sla_clocks.due_step(case, POLICY, ZONE, T0 + 2 * HOUR - timedelta(seconds=1)) is None
    assert sla_clocks.due_step(case, POLICY, ZONE, T0 + 2 * HOUR) == (
        Step(T0 + 2 * HOUR, REMIND, 0.5),
        0,
    )


def test_after_a_gap_only_the_last_due_step_is_taken() -> None:
    """Back after the process was down: one escalation, not two reminders, an overdue notice
    and an escalation in a burst."""
    case = started("resolve")
    step, superseded = sla_clocks.due_step(case, POLICY, ZONE, T0 + 5 * DAY) or (None, -1)
    assert step == Step(T0 + 4 * DAY, ESCALATE)
    assert superseded == 3


def test_advancing_moves_the_ladder_to_the_next_step() -> None:
    case = started("accept")
    fields = sla_clocks.advance(case, POLICY, ZONE, 0)
    assert fields == {"ladder": 1, "next_action_at": T0 + timedelta(hours=3, minutes=36)}
    case.ladder = 1
    assert sla_clocks.due_step(case, POLICY, ZONE, T0 + 2 * HOUR + HOUR) is None
    assert sla_clocks.advance(case, POLICY, ZONE, 2) == {"ladder": 3, "next_action_at": None}


def test_a_pause_stops_the_clock_and_shifts_the_deadline_by_its_length() -> None:
    case = started("resolve")
    pause = sla_clocks.paused(case, T0 + HOUR)
    assert pause == {"paused_at": T0 + HOUR, "next_action_at": None}  # the sweep skips it
    case.paused_at = pause["paused_at"]  # type: ignore[assignment]
    case.next_action_at = None

    fields, seconds = sla_clocks.resumed(case, T0 + 3 * HOUR, POLICY, ZONE)
    assert seconds == 2 * 3600
    assert fields == {
        "sla_started_at": T0 + 2 * HOUR,
        "due_at": T0 + 3 * DAY + 2 * HOUR,
        "next_action_at": T0 + timedelta(hours=38),  # the half-way reminder, two hours later
        "paused_at": None,
        "pause_reason": None,
    }


def test_resuming_keeps_the_steps_already_taken() -> None:
    case = started("resolve")
    case.ladder = 2  # both reminders went out
    case.paused_at = T0 + 70 * HOUR
    fields, _ = sla_clocks.resumed(case, T0 + 80 * HOUR, POLICY, ZONE)
    assert fields["next_action_at"] == T0 + 3 * DAY + 10 * HOUR  # the overdue notice, moved


def test_a_stopped_clock_has_no_steps() -> None:
    case = started("resolve")
    for name, value in sla_clocks.stop().items():
        setattr(case, name, value)
    assert case.due_at is None and case.next_action_at is None
    assert sla_clocks.steps(case, POLICY, ZONE) == []
    assert sla_clocks.due_step(case, POLICY, ZONE, T0 + 30 * DAY) is None


# Quiet hours (22:00-07:30): a person's deadline counts from when the notice can reach them.
QUIET = replace(POLICY, quiet=QuietHours(time(22, 0), time(7, 30)))
NIGHT_0237 = datetime(2026, 11, 25, 2, 37, tzinfo=ZONE)
MORNING_0730 = datetime(2026, 11, 25, 7, 30, tzinfo=ZONE)


def quiet_started(stage: str, at: datetime, risk: str = "general") -> Case:
    case = Case(risk=risk, category="neighbor")
    for name, value in sla_clocks.start(case, stage, at, QUIET, ZONE).items():
        setattr(case, name, value)
    return case


def test_an_offer_at_night_starts_its_clock_when_quiet_hours_end() -> None:
    case = quiet_started("accept", NIGHT_0237)
    assert case.sla_started_at == MORNING_0730
    assert sla_clocks.steps(case, QUIET, ZONE) == [
        Step(MORNING_0730 + 2 * HOUR, REMIND, 0.5),
        Step(MORNING_0730 + timedelta(hours=3, minutes=36), REMIND, 0.9),
        Step(MORNING_0730 + 4 * HOUR, HAND_OVER),
    ]


def test_a_major_offer_at_night_runs_at_once_its_notice_is_urgent() -> None:
    case = quiet_started("accept", NIGHT_0237, risk="major")
    assert case.sla_started_at == NIGHT_0237
    assert case.due_at == NIGHT_0237 + timedelta(minutes=30)


def test_the_same_offer_in_the_afternoon_runs_at_once() -> None:
    afternoon = datetime(2026, 11, 25, 15, 0, tzinfo=ZONE)
    case = quiet_started("accept", afternoon)
    assert case.sla_started_at == afternoon and case.due_at == afternoon + 4 * HOUR


def test_reminders_never_fall_in_quiet_hours() -> None:
    """An offer at 20:00 is due at midnight: both reminders would fall at night, and 07:30 is
    past the deadline, so the hand-over is the only step. A resolve clock's 90% reminder at
    02:18 moves to 07:30."""
    evening = quiet_started("accept", datetime(2026, 11, 25, 20, 0, tzinfo=ZONE))
    assert sla_clocks.steps(evening, QUIET, ZONE) == [
        Step(datetime(2026, 11, 26, 0, 0, tzinfo=ZONE), HAND_OVER)
    ]
    resolve = quiet_started("resolve", T0)  # Tuesday 09:30; 90% of 3 days: Friday 02:18
    reminders = [s for s in sla_clocks.steps(resolve, QUIET, ZONE) if s.action == REMIND]
    assert reminders == [
        Step(T0 + timedelta(hours=36), REMIND, 0.5),
        Step(datetime(2026, 11, 27, 7, 30, tzinfo=ZONE), REMIND, 0.9),
    ]


def test_a_queued_case_is_chased_every_morning() -> None:
    fields = sla_clocks.queued(NIGHT_0237, QUIET, ZONE)
    assert fields["sla_stage"] == "queue" and fields["due_at"] is None
    assert fields["next_action_at"] == datetime(2026, 11, 25, 9, 0, tzinfo=ZONE)
    at_ten = datetime(2026, 11, 25, 10, 0, tzinfo=ZONE)
    assert sla_clocks.next_chase(at_ten, QUIET, ZONE) == datetime(2026, 11, 26, 9, 0, tzinfo=ZONE)
