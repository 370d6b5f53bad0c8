"""SLA clocks on a case: when each stage is due and what the sweep does, step by step.

A stage ("accept" while offered, "resolve" while in progress) starts a clock. Its ladder is
a list of steps derived from the policy — reminders, then for "accept" a hand-over to the
next person, for "resolve" an overdue notice (催办) and then escalation (督办) — and, for
major cases, a daily check for a progress note. The case stores the stage, when its clock
started, its deadline, how many steps were taken (`ladder`) and when the next one is due
(`next_action_at`, indexed): the sweep only ever looks at that column.

A third stage, "queue", has no deadline: the case waits in a centre's queue because nobody
could be found to take it, and `next_action_at` is its next daily chase.

Quiet hours (docs/architecture.md, "State and time"): a person's deadline counts from when
the notice could reach them. An accept clock that starts during quiet hours for a case whose
notices wait for the morning (not major risk) starts when quiet hours end, and its
reminders are never due inside quiet hours: one that would be moves to the end of quiet
hours, and is dropped when that is already past the deadline (the hand-over says it then).
The night does not stop a clock that is already running: a window that reaches into quiet
hours ends when it ends.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from dispatch.clock import as_utc
from dispatch.policy import Policy, Rule, urgent
from storage.models import Case

REMIND = "remind"
HAND_OVER = "hand_over"  # an offer not accepted in time goes to the next person
OVERDUE = "overdue"  # 催办
ESCALATE = "escalate"  # 督办
PROGRESS_CHECK = "progress_check"  # major cases: a progress note every day

ACCEPT = "accept"
RESOLVE = "resolve"
QUEUE = "queue"  # nobody to take it: waiting in a centre's queue, chased daily


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
    window = rule.accept if case.sla_stage == ACCEPT else rule.resolve
    ladder = [
        Step(policy.deadline(started, window * fraction, rule, zone), REMIND, fraction)
        for fraction in rule.reminders
    ]
    if not urgent(case.risk):
        ladder = _out_of_quiet_hours(ladder, due, policy, zone)
    if case.sla_stage == ACCEPT:
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


def _out_of_quiet_hours(
    reminders: list[Step], due: datetime, policy: Policy, zone: ZoneInfo
) -> list[Step]:
    """Reminders moved out of quiet hours: held by the sender they would only pile up at
    the end of the night. One that would arrive at or after the deadline is dropped, and
    two that land at the same instant are one (the later share)."""
    moved: dict[datetime, Step] = {}
    for step in reminders:
        at = policy.reachable(step.at, zone, urgent=False)
        if at < due:
            moved[at] = Step(at, REMIND, step.fraction)
    return list(moved.values())


def _schedule(case: Case, policy: Policy, zone: ZoneInfo) -> None:
    ladder = steps(case, policy, zone)
    case.next_action_at = ladder[case.ladder].at if case.ladder < len(ladder) else None


def start(
    case: Case, stage: str, at: datetime, policy: Policy, zone: ZoneInfo
) -> dict[str, object]:
    """Start the clock of `stage` at `at`; returns the fields to write with the transition.

    The accept clock belongs to someone who learns of the offer from a notice: it starts
    when that notice can reach them (the end of quiet hours, unless the case is urgent).
    The resolve clock starts when the person accepts, so they are there already.
    """
    rule: Rule = policy.rule(case.risk, case.category)
    if stage == ACCEPT:
        at = policy.reachable(at, zone, urgent=urgent(case.risk))
    window = rule.accept if stage == ACCEPT else rule.resolve
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


def queued(at: datetime, policy: Policy, zone: ZoneInfo) -> dict[str, object]:
    """The case waits in a centre's queue from `at`: no deadline, a chase every day."""
    return {
        "sla_stage": QUEUE,
        "sla_started_at": at,
        "due_at": None,
        "ladder": 0,
        "next_action_at": next_chase(at, policy, zone),
        "paused_at": None,
        "pause_reason": None,
    }


def next_chase(after: datetime, policy: Policy, zone: ZoneInfo) -> datetime:
    """The next daily chase of a queued case: at the policy's supervision time (09:00), the
    hour of the other daily chase (挂牌督办), well outside quiet hours."""
    return next_local_time(after, policy.supervision_time, zone)


def next_local_time(after: datetime, at_time: time, zone: ZoneInfo) -> datetime:
    """The next instant after `after` whose local wall-clock time is `at_time`."""
    local = after.astimezone(zone)
    candidate = local.replace(hour=at_time.hour, minute=at_time.minute, second=0, microsecond=0)
    if candidate <= local:
        candidate += timedelta(days=1)
    return candidate.astimezone(as_utc(after).tzinfo)


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
