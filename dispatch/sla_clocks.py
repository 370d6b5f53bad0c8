"""SLA clocks on a case: when each stage is due and what the sweep does, step by step.

A stage ("accept" while offered, "resolve" while in progress) starts a clock. Its ladder is
a list of steps derived from the policy — reminders, then for "accept" a hand-over to the
next person, for "resolve" an overdue notice (催办) and then escalation (督办) — and, for
major cases, a daily check for a progress note. The case stores the stage, when its clock
started, its deadline, how many steps were taken (`ladder`) and when the next one is due
(`next_action_at`, indexed): the sweep only ever looks at that column.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from dispatch.clock import as_utc
from dispatch.policy import Policy, Rule
from storage.models import Case

REMIND = "remind"
HAND_OVER = "hand_over"  # an offer not accepted in time goes to the next person
OVERDUE = "overdue"  # 催办
ESCALATE = "escalate"  # 督办
PROGRESS_CHECK = "progress_check"  # major cases: a progress note every day


@dataclass(frozen=True, slots=True)
class Step:
    at: datetime
    action: str
    fraction: float = 0.0  # for reminders: how much of the window is gone


def steps(case: Case, policy: Policy, zone: ZoneInfo) -> list[Step]:
    """The ladder of the case's current stage, in time order (empty without a clock)."""
    if case.sla_stage is None or case.sla_started_at is None or case.due_at is None:
        return []
    rule = policy.rule(case.risk, case.category)
    started, due = as_utc(case.sla_started_at), as_utc(case.due_at)
    window = rule.accept if case.sla_stage == "accept" else rule.resolve
    ladder = [
        Step(policy.deadline(started, window * fraction, rule, zone), REMIND, fraction)
        for fraction in rule.reminders
    ]
    if case.sla_stage == "accept":
        ladder.append(Step(due, HAND_OVER))
    else:
        ladder.append(Step(due, OVERDUE))
        ladder.append(Step(due + rule.escalate_after, ESCALATE))
        if rule.daily_progress:
            day = started + timedelta(days=1)
            while day < due:
                ladder.append(Step(day, PROGRESS_CHECK))
                day += timedelta(days=1)
    return sorted(ladder, key=lambda s: (s.at, s.action != ESCALATE))


def _schedule(case: Case, policy: Policy, zone: ZoneInfo) -> None:
    ladder = steps(case, policy, zone)
    case.next_action_at = ladder[case.ladder].at if case.ladder < len(ladder) else None


def start(
    case: Case, stage: str, at: datetime, policy: Policy, zone: ZoneInfo
) -> dict[str, object]:
    """Start the clock of `stage` at `at`; returns the fields to write with the transition."""
    rule: Rule = policy.rule(case.risk, case.category)
    window = rule.accept if stage == "accept" else rule.resolve
    due = policy.deadline(at, window, rule, zone)
    probe = Case(
        risk=case.risk, category=case.category, sla_stage=stage, sla_started_at=at, due_at=due
    )
    ladder = steps(probe, policy, zone)
    return {
        "sla_stage": stage,
        "sla_started_at": at,
        "due_at": due,
        "ladder": 0,
        "next_action_at": ladder[0].at if ladder else None,
        "paused_at": None,
        "pause_reason": None,
    }


def stop() -> dict[str, object]:
    """No clock: the case is closed, waiting for triage, or with nobody to take it."""
    return {
        "sla_stage": None,
        "sla_started_at": None,
        "due_at": None,
        "ladder": 0,
        "next_action_at": None,
        "paused_at": None,
        "pause_reason": None,
    }


def due_step(case: Case, policy: Policy, zone: ZoneInfo, now: datetime) -> tuple[Step, int] | None:
    """The step to take now and how many earlier due steps it supersedes.

    After a gap (the process was down) several steps may be due at once; only the last one
    is taken — one escalation, not a reminder, an overdue notice and an escalation in a
    burst — so a missed sweep catches up once.
    """
    ladder = steps(case, policy, zone)
    due = [i for i in range(case.ladder, len(ladder)) if ladder[i].at <= now]
    if not due:
        return None
    last = due[-1]
    return ladder[last], len(due) - 1


def advance(case: Case, policy: Policy, zone: ZoneInfo, past: int) -> dict[str, object]:
    """The fields after taking the step at index `past` (the ladder moves beyond it)."""
    ladder = steps(case, policy, zone)
    nxt = past + 1
    return {"ladder": nxt, "next_action_at": ladder[nxt].at if nxt < len(ladder) else None}


def paused(case: Case, at: datetime) -> dict[str, object]:
    return {"paused_at": at, "next_action_at": None}


def resumed(
    case: Case, at: datetime, policy: Policy, zone: ZoneInfo
) -> tuple[dict[str, object], int]:
    """Shift the clock by the time it stood still; returns the fields and the seconds paused."""
    assert case.paused_at is not None and case.sla_started_at is not None
    assert case.due_at is not None
    still = at - as_utc(case.paused_at)
    moved = Case(
        risk=case.risk,
        category=case.category,
        sla_stage=case.sla_stage,
        sla_started_at=as_utc(case.sla_started_at) + still,
        due_at=as_utc(case.due_at) + still,
        ladder=case.ladder,
    )
    _schedule(moved, policy, zone)
    fields: dict[str, object] = {
        "sla_started_at": moved.sla_started_at,
        "due_at": moved.due_at,
        "next_action_at": moved.next_action_at,
        "paused_at": None,
        "pause_reason": None,
    }
    return fields, int(still.total_seconds())
