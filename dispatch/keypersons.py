"""Key persons in assistance (重点人员包保帮扶): enrolment with its 1+1+N chain, need-to-know
reads (each one audited), visits and their risk signals, the ladder for missing visits and
the quarterly re-assessment.

A party to a dispute that stays unresolved and may end in harm is moved by the centre into
assistance; a grid worker or a department's staff may register someone they know of. Each
person has a tier (1 the closest watch … 3), a reason, and a chain: one leader, one lead (a
station or department) and N workers who visit. What happens is appended to
`key_person_events`; the notices it causes are dispatch/keyperson_notices.py's.
"""

from __future__ import annotations

import calendar
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from dispatch import workflow
from dispatch.clock import Clock, as_utc
from dispatch.context import Ctx, Domain
from dispatch.events import (
    KeyPersonClosed,
    KeyPersonEnrolled,
    KeyPersonReassessed,
    ReassessAsked,
    VisitRisk,
    VisitsShort,
)
from dispatch.masking import mask_phone
from dispatch.org import CENTRE_READERS
from dispatch.org import may_read as may_read_case
from storage.database import Sessions
from storage.models import (
    Case,
    KeyPerson,
    KeyPersonChain,
    KeyPersonEvent,
    KeyPersonRead,
    KeyPersonVisit,
    Person,
    Region,
    Unit,
)
from storage.upserts import insert_ignoring_conflict

CHAIN_ROLES = ("leader", "lead", "worker")
# Who may move a case's party into assistance, and who may register someone in a dialog.
FROM_CASE_ROLES = frozenset({"dispatcher", "leader", "admin"})
REGISTER_ROLES = frozenset({"grid_worker", "dept_staff", "dispatcher", "leader", "admin"})
ANSWERS = ("keep", "raise", "lower", "close")


class KeyPersonRefused(Exception):
    """An operation the person may not do, or not now; `reason` is the message key."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# -- masking -------------------------------------------------------------------------------


def mask_name(name: str) -> str:
    """张三丰 → 张**: the family name only, as every list and notice shows a key person."""
    name = name.strip()
    if not name:
        return "*"
    return name[0] + "*" * min(max(len(name) - 1, 1), 3)


def mask_id(number: str | None) -> str:
    """532801199001011234 → 532***********1234."""
    if not number:
        return "-"
    if len(number) <= 7:
        return "*" * len(number)
    return number[:3] + "*" * (len(number) - 7) + number[-4:]


def masked_phone(phone: str | None) -> str:
    return mask_phone(phone) if phone else "-"


# -- months --------------------------------------------------------------------------------


def add_months(at: datetime, months: int) -> datetime:
    """The same day and time `months` later (the month's last day when it is shorter)."""
    index = at.month - 1 + months
    year, month = at.year + index // 12, index % 12 + 1
    day = min(at.day, calendar.monthrange(year, month)[1])
    return at.replace(year=year, month=month, day=day)


def month_start(day: date) -> date:
    return day.replace(day=1)


def next_month(day: date) -> date:
    return (day.replace(day=28) + timedelta(days=4)).replace(day=1)


def previous_month(day: date) -> date:
    return (day.replace(day=1) - timedelta(days=1)).replace(day=1)


# -- reads ---------------------------------------------------------------------------------


async def chain_of(session: AsyncSession, key_person_id: int) -> list[tuple[str, Person]]:
    """The chain, leader first, then the lead, then the workers."""
    rows = await session.execute(
        select(KeyPersonChain.role, Person)
        .join(Person, Person.id == KeyPersonChain.person_id)
        .where(KeyPersonChain.key_person_id == key_person_id)
        .order_by(KeyPersonChain.id)
    )
    found = [(role, person) for role, person in rows.all()]
    return sorted(found, key=lambda rp: CHAIN_ROLES.index(rp[0]))


async def _on_chain(session: AsyncSession, key_person_id: int, person_id: int) -> set[str]:
    rows = await session.scalars(
        select(KeyPersonChain.role).where(
            KeyPersonChain.key_person_id == key_person_id, KeyPersonChain.person_id == person_id
        )
    )
    return set(rows.all())


async def _centre_path(session: AsyncSession, person: Person) -> str | None:
    """The region path of the centre a dispatcher, leader or admin works at, else None."""
    if person.role not in CENTRE_READERS or person.unit_code is None:
        return None
    unit = await session.get(Unit, person.unit_code)
    if unit is None or unit.kind != "center":
        return None
    region = await session.get(Region, unit.region_code)
    return region.path if region is not None else None


async def may_read(session: AsyncSession, person: Person, key_person: KeyPerson) -> bool:
    """Need-to-know, narrower than a case's: the people on the chain, and the dispatchers,
    leaders and admins of a centre over the person's place. Never a citizen, a disabled
    person, a mediator or a department off the chain."""
    if person.role == "citizen" or person.disabled_at is not None:
        return False
    if await _on_chain(session, key_person.id, person.id):
        return True
    path = await _centre_path(session, person)
    return path is not None and key_person.region_path.startswith(path)


def audit(
    session: AsyncSession,
    clock: Clock,
    key_person_ids: Sequence[int],
    person_id: int | None,
    via: str,
) -> None:
    """One `key_person_reads` row per record read (a list reads every record it shows)."""
    now = clock.now()
    for kp_id in key_person_ids:
        session.add(KeyPersonRead(key_person_id=kp_id, person_id=person_id, via=via, at=now))


async def readable(
    session: AsyncSession, clock: Clock, person: Person, key_person_id: int
) -> KeyPerson | None:
    """The record if `person` may read it (and the read audited); None otherwise, exactly as
    for a record that does not exist."""
    key_person = await session.get(KeyPerson, key_person_id)
    if key_person is None or not await may_read(session, person, key_person):
        return None
    audit(session, clock, [key_person.id], person.id, "chat")
    return key_person


async def visible_to(
    session: AsyncSession, clock: Clock, person: Person, *, limit: int = 30
) -> list[KeyPerson]:
    """The active key persons a person may read: those whose chain they are on, then those
    under their centre; every one listed is audited as read."""
    if person.role == "citizen" or person.disabled_at is not None:
        return []
    on_chain = select(KeyPersonChain.key_person_id).where(KeyPersonChain.person_id == person.id)
    condition: ColumnElement[bool] = KeyPerson.id.in_(on_chain)
    path = await _centre_path(session, person)
    if path is not None:
        condition = condition | KeyPerson.region_path.startswith(path)
    rows = await session.scalars(
        select(KeyPerson)
        .where(KeyPerson.status == "active", condition)
        .order_by(KeyPerson.tier, KeyPerson.id)
        .limit(limit)
    )
    found = list(rows.all())
    audit(session, clock, [kp.id for kp in found], person.id, "chat")
    return found


async def visitable_by(session: AsyncSession, person: Person) -> list[KeyPerson]:
    """The active key persons whose chain the person is on (whom they may visit)."""
    rows = await session.scalars(
        select(KeyPerson)
        .join(KeyPersonChain, KeyPersonChain.key_person_id == KeyPerson.id)
        .where(KeyPersonChain.person_id == person.id, KeyPerson.status == "active")
        .order_by(KeyPerson.tier, KeyPerson.id)
        .distinct()
    )
    return list(rows.all())


async def visits_between(session: AsyncSession, key_person_id: int, start: date, end: date) -> int:
    """Visits dated in [start, end)."""
    count = await session.scalar(
        select(func.count())
        .select_from(KeyPersonVisit)
        .where(
            KeyPersonVisit.key_person_id == key_person_id,
            KeyPersonVisit.visited_on >= start,
            KeyPersonVisit.visited_on < end,
        )
    )
    return int(count or 0)


async def recent_visits(
    session: AsyncSession, key_person_id: int, limit: int = 5
) -> list[KeyPersonVisit]:
    rows = await session.scalars(
        select(KeyPersonVisit)
        .where(KeyPersonVisit.key_person_id == key_person_id)
        .order_by(KeyPersonVisit.visited_on.desc(), KeyPersonVisit.id.desc())
        .limit(limit)
    )
    return list(rows.all())


# -- the chain's candidates ------------------------------------------------------------------


async def _ancestor_codes(session: AsyncSession, region_code: str) -> list[str]:
    region = await session.get(Region, region_code)
    if region is None:
        return []
    return [c for c in region.path.strip("/").split("/") if c]


async def candidates(
    session: AsyncSession, region_code: str, role: str, *, limit: int = 8
) -> list[Person]:
    """Staff who may take `role` on a chain for someone living in `region_code`, nearest
    level first: leaders of a centre over the place; a lead from a centre, mediation
    committee or department over it; workers (grid workers, mediators, department staff)
    of a unit over it."""
    roles = {
        "leader": ("leader",),
        "lead": ("dispatcher", "mediator", "dept_staff"),
        "worker": ("grid_worker", "mediator", "dept_staff"),
    }[role]
    codes = await _ancestor_codes(session, region_code)
    if not codes:
        return []
    rows = await session.execute(
        select(Person, Region.path)
        .join(Unit, Unit.code == Person.unit_code)
        .join(Region, Region.code == Unit.region_code)
        .where(
            Unit.region_code.in_(codes),
            Person.role.in_(roles),
            Person.disabled_at.is_(None),
        )
    )
    found = sorted(rows.all(), key=lambda row: (-len(row[1]), row[0].id))
    return [person for person, _ in found][:limit]


# -- enrolment -------------------------------------------------------------------------------


@dataclass(slots=True)
class Enrolment:
    """What the enrolment dialog gathered."""

    name: str
    region_code: str
    tier: int
    reason: str
    leader_id: int
    lead_id: int
    worker_ids: list[int]
    id_number: str | None = None
    phone: str | None = None
    case_id: int | None = None


async def _staff(session: AsyncSession, person_id: int) -> Person:
    person = await session.get(Person, person_id)
    if person is None or person.role == "citizen" or person.disabled_at is not None:
        raise KeyPersonRefused("keyperson.chain_gone")
    return person


def record(
    session: AsyncSession,
    clock: Clock,
    key_person: KeyPerson,
    kind: str,
    actor: Person | None,
    data: dict[str, Any] | None = None,
) -> None:
    session.add(
        KeyPersonEvent(
            key_person_id=key_person.id,
            kind=kind,
            actor_id=actor.id if actor else None,
            at=clock.now(),
            data=dict(data or {}),
        )
    )


async def enrol(ctx: Ctx, actor: Person, draft: Enrolment) -> KeyPerson:
    """Put a person into assistance.

    Outcomes: the new record, its chain, an `enrol` event (and a `key_person` event on the
    case it came from), and KeyPersonEnrolled published (each person on the chain is told);
    KeyPersonRefused when the actor may not enrol ("keyperson.not_allowed"), may not read
    the case ("status.not_found"), or someone on the chain has left ("keyperson.chain_gone").
    """
    session, clock = ctx.session, ctx.clock
    case: Case | None = None
    if draft.case_id is not None:
        case = await session.get(Case, draft.case_id)
        if actor.role not in FROM_CASE_ROLES:
            raise KeyPersonRefused("keyperson.not_allowed")
        if case is None or not await may_read_case(session, actor, case):
            raise KeyPersonRefused("status.not_found")
    elif actor.role not in REGISTER_ROLES:
        raise KeyPersonRefused("keyperson.not_allowed")
    region = await session.get(Region, draft.region_code)
    if region is None or draft.tier not in (1, 2, 3):
        raise KeyPersonRefused("keyperson.not_allowed")
    chain: list[tuple[str, Person]] = [
        ("leader", await _staff(session, draft.leader_id)),
        ("lead", await _staff(session, draft.lead_id)),
    ]
    for worker_id in dict.fromkeys(draft.worker_ids):
        chain.append(("worker", await _staff(session, worker_id)))
    now = clock.now()
    key_person = KeyPerson(
        name=draft.name[:64],
        id_number=draft.id_number,
        phone=draft.phone,
        region_code=region.code,
        region_path=region.path,
        tier=draft.tier,
        reason=draft.reason[:500],
        case_id=case.id if case else None,
        status="active",
        enrolled_by=actor.id,
        enrolled_at=now,
        next_reassess_at=add_months(now, ctx.domain.keypersons.reassess_months),
        reassess_chases=0,
        version=1,
    )
    session.add(key_person)
    await session.flush()
    for role, person in chain:
        session.add(KeyPersonChain(key_person_id=key_person.id, role=role, person_id=person.id))
    record(
        session,
        clock,
        key_person,
        "enrol",
        actor,
        {"tier": draft.tier, "case": case.number if case else None},
    )
    if case is not None:
        workflow.record(session, clock, case, "key_person", actor, {"key_person": key_person.id})
    await session.flush()
    await ctx.publish(KeyPersonEnrolled(key_person, chain, case))
    return key_person


# -- visits ----------------------------------------------------------------------------------


@dataclass(slots=True)
class VisitDraft:
    visited_on: date
    done: str
    situation: str
    channel: str
    photos: list[str] = field(default_factory=list)
    latitude: float | None = None
    longitude: float | None = None


async def record_visit(
    ctx: Ctx, visitor: Person, key_person_id: int, draft: VisitDraft
) -> tuple[KeyPerson, KeyPersonVisit]:
    """A visit by someone on the chain.

    Outcomes: the visit and a `visit` event; when its words carry a risk signal
    (keypersons.yaml `risk_words`), VisitRisk is published too (an urgent alert to the
    chain and the centres over the place); KeyPersonRefused "keyperson.not_on_chain" for
    anyone else, "keyperson.closed" when the assistance ended.
    """
    session, clock = ctx.session, ctx.clock
    key_person = await session.get(KeyPerson, key_person_id)
    if key_person is None or not await _on_chain(session, key_person_id, visitor.id):
        raise KeyPersonRefused("keyperson.not_on_chain")
    if key_person.status != "active":
        raise KeyPersonRefused("keyperson.closed")
    flags = ctx.domain.keypersons.risk_flags(f"{draft.done}\n{draft.situation}")
    visit = KeyPersonVisit(
        key_person_id=key_person.id,
        visitor_id=visitor.id,
        visited_on=draft.visited_on,
        done=draft.done[:500],
        situation=draft.situation[:500],
        channel=draft.channel,
        photos=list(draft.photos)[:9],
        latitude=draft.latitude,
        longitude=draft.longitude,
        risk_flags=flags,
        at=clock.now(),
    )
    session.add(visit)
    await session.flush()
    record(session, clock, key_person, "visit", visitor, {"visit": visit.id, "flags": flags})
    if flags:
        await ctx.publish(VisitRisk(key_person, visit, visitor, flags))
    return key_person, visit


# -- the ladder for missing visits -------------------------------------------------------------


@dataclass(slots=True)
class Tally:
    done: Counter[str] = field(default_factory=Counter)

    def summary(self) -> str:
        return ", ".join(f"{k} {v}" for k, v in sorted(self.done.items())) or "nothing due"


async def _step_once(
    ctx: Ctx, key_person: KeyPerson, kind: str, dedupe: str, data: dict[str, Any]
) -> bool:
    """Record a job's step as an event unless it was recorded before (its dedupe key)."""
    inserted = await insert_ignoring_conflict(
        ctx.session,
        KeyPersonEvent.__table__,  # type: ignore[arg-type]
        {
            "key_person_id": key_person.id,
            "kind": kind,
            "actor_id": None,
            "at": ctx.clock.now(),
            "data": data,
            "dedupe_key": dedupe,
        },
        key="dedupe_key",
    )
    return inserted is not None


async def check_visits(sessions: Sessions, domain: Domain) -> Tally:
    """The `visits` job: each active key person's visits this month against the tier's
    quota, and last month's once the leader's day comes.

    - from `remind_day`, a month still short: the chain's workers are reminded;
    - from `urge_day`: 催办 to the chain's lead;
    - from `leader_day` of the next month, a month that ended short: the chain's leader.

    Each step once per person and month (an event with a dedupe key), whatever the number
    of runs; the month a person was enrolled in is not counted.
    """
    tally = Tally()
    policy = domain.keypersons
    now = domain.clock.now()
    today = now.astimezone(domain.zone).date()
    this_month, last_month = month_start(today), previous_month(today)
    due: list[tuple[date, str]] = []
    if today.day >= policy.remind_day:
        due.append((this_month, "remind"))
    if today.day >= policy.urge_day:
        due.append((this_month, "urge"))
    if today.day >= policy.leader_day:
        due.append((last_month, "leader"))
    if not due:
        return tally
    for kp_id, month, step in await _short_steps(sessions, domain, due):
        async with sessions() as session, session.begin():
            ctx = domain.within(session)
            key_person = await session.get(KeyPerson, kp_id)
            if key_person is None or key_person.status != "active":
                continue
            quota = policy.quota(key_person.tier)
            # Counted again in this unit of work: a visit may have come in since the read.
            done = await visits_between(session, kp_id, month, next_month(month))
            if done >= quota:
                continue
            period = f"{month:%Y-%m}"
            data = {"period": period, "step": step, "visits": done, "quota": quota}
            if await _step_once(
                ctx, key_person, "visits_short", f"kpv:{kp_id}:{period}:{step}", data
            ):
                await ctx.publish(VisitsShort(key_person, period, step, done, quota, now))
                tally.done[step] += 1
    return tally


async def _short_steps(
    sessions: Sessions, domain: Domain, due: list[tuple[date, str]]
) -> list[tuple[int, date, str]]:
    """(key person, month, step) for each step due and not taken yet, found in a few reads
    (visits counted per person and month, steps already taken by their dedupe keys), so a
    run with nothing new opens no unit of work at all."""
    policy = domain.keypersons
    months = sorted({month for month, _ in due})
    found: list[tuple[int, date, str]] = []
    async with sessions.read() as session:
        people = (
            await session.execute(
                select(KeyPerson.id, KeyPerson.tier, KeyPerson.enrolled_at).where(
                    KeyPerson.status == "active"
                )
            )
        ).all()
        counts: dict[tuple[int, date], int] = {}
        for month in months:
            rows = await session.execute(
                select(KeyPersonVisit.key_person_id, func.count())
                .where(
                    KeyPersonVisit.visited_on >= month,
                    KeyPersonVisit.visited_on < next_month(month),
                )
                .group_by(KeyPersonVisit.key_person_id)
            )
            for kp_id, count in rows.all():
                counts[(kp_id, month)] = int(count)
        wanted: dict[str, tuple[int, date, str]] = {}
        for kp_id, tier, enrolled_at in people:
            enrolled = as_utc(enrolled_at).astimezone(domain.zone).date()
            for month, step in due:
                if enrolled >= month:
                    continue  # enrolled during (or after) that month: not counted
                if counts.get((kp_id, month), 0) < policy.quota(tier):
                    wanted[f"kpv:{kp_id}:{month:%Y-%m}:{step}"] = (kp_id, month, step)
        keys = list(wanted)
        for start in range(0, len(keys), 500):
            taken = await session.scalars(
                select(KeyPersonEvent.dedupe_key).where(
                    KeyPersonEvent.dedupe_key.in_(keys[start : start + 500])
                )
            )
            for key in taken.all():
                wanted.pop(str(key), None)
        found = sorted(wanted.values(), key=lambda item: (item[0], item[1], item[2]))
    return found


# -- the quarterly re-assessment ---------------------------------------------------------------


async def _claim(session: AsyncSession, key_person: KeyPerson, **values: Any) -> bool:
    """Compare-and-set on the record's version; False when someone changed it first."""
    result = await session.execute(
        update(KeyPerson)
        .where(KeyPerson.id == key_person.id, KeyPerson.version == key_person.version)
        .values(version=KeyPerson.version + 1, **values)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return False
    await session.refresh(key_person)
    return True


async def ask_reassessments(sessions: Sessions, domain: Domain) -> Tally:
    """The `reassess` job: for each active key person whose `next_reassess_at` has come,
    ask the chain's lead to keep, raise or lower the tier or close the assistance; a question
    still unanswered `answer_within_days` later is asked again (a chase), the chain's leader
    told too. Claimed by compare-and-set, so two runners ask once."""
    tally = Tally()
    now = domain.clock.now()
    within = timedelta(days=domain.keypersons.answer_within_days)
    async with sessions.read() as reading:
        ids = list(
            (
                await reading.scalars(
                    select(KeyPerson.id)
                    .where(KeyPerson.status == "active", KeyPerson.next_reassess_at <= now)
                    .order_by(KeyPerson.next_reassess_at)
                )
            ).all()
        )
    for kp_id in ids:
        async with sessions() as session, session.begin():
            ctx = domain.within(session)
            key_person = await session.get(KeyPerson, kp_id)
            if key_person is None or as_utc(key_person.next_reassess_at) > now:
                continue
            asked = key_person.reassess_asked_at is None
            chases = 0 if asked else key_person.reassess_chases + 1
            if not await _claim(
                session,
                key_person,
                reassess_asked_at=now if asked else key_person.reassess_asked_at,
                reassess_chases=chases,
                next_reassess_at=now + within,
            ):
                continue
            record(
                session,
                ctx.clock,
                key_person,
                "reassess_ask" if asked else "reassess_chase",
                None,
                {"tier": key_person.tier, "chase": chases},
            )
            await ctx.publish(ReassessAsked(key_person, chases, now))
            tally.done["asked" if asked else "chased"] += 1
    return tally


def tier_after(tier: int, answer: str) -> int:
    """raise: a closer watch (tier 1 is the closest); lower: a looser one."""
    if answer == "raise":
        return max(1, tier - 1)
    if answer == "lower":
        return min(3, tier + 1)
    return tier


async def answer_reassessment(
    ctx: Ctx, person: Person, key_person_id: int, answer: str, reason: str = ""
) -> KeyPerson:
    """The chain's lead (or leader) answers the quarterly question.

    Outcomes: keep / raise / lower — a `reassess` event (and `tier_change` when the tier
    moved), the next re-assessment scheduled, KeyPersonReassessed published (the chain is
    told); close — a `close` event with the reason, the assistance ended, KeyPersonClosed
    published. KeyPersonRefused: "keyperson.not_lead" for anyone else,
    "keyperson.not_asked" when no question is open, "keyperson.tier_limit" for raising
    tier 1 or lowering tier 3, "keyperson.closed" when already closed.
    """
    session, clock = ctx.session, ctx.clock
    key_person = await session.get(KeyPerson, key_person_id)
    roles = await _on_chain(session, key_person_id, person.id) if key_person else set()
    if key_person is None or not roles & {"lead", "leader"}:
        raise KeyPersonRefused("keyperson.not_lead")
    if key_person.status != "active":
        raise KeyPersonRefused("keyperson.closed")
    if key_person.reassess_asked_at is None:
        raise KeyPersonRefused("keyperson.not_asked")
    if answer not in ANSWERS:
        raise KeyPersonRefused("button.unknown")
    old = key_person.tier
    new = tier_after(old, answer)
    if answer in ("raise", "lower") and new == old:
        raise KeyPersonRefused("keyperson.tier_limit")
    now = clock.now()
    if answer == "close":
        if not await _claim(
            session,
            key_person,
            status="closed",
            closed_at=now,
            reassess_asked_at=None,
            reassess_chases=0,
        ):
            raise KeyPersonRefused("keyperson.changed")
        record(session, clock, key_person, "close", person, {"reason": reason[:300], "tier": old})
        await ctx.publish(KeyPersonClosed(key_person, person, reason[:300]))
        return key_person
    months = ctx.domain.keypersons.reassess_months
    if not await _claim(
        session,
        key_person,
        tier=new,
        reassess_asked_at=None,
        reassess_chases=0,
        next_reassess_at=add_months(now, months),
    ):
        raise KeyPersonRefused("keyperson.changed")
    record(
        session, clock, key_person, "reassess", person, {"answer": answer, "from": old, "to": new}
    )
    if new != old:
        record(session, clock, key_person, "tier_change", person, {"from": old, "to": new})
    await ctx.publish(KeyPersonReassessed(key_person, person, answer, old, new))
    return key_person


async def events_of(session: AsyncSession, key_person_id: int) -> list[KeyPersonEvent]:
    rows = await session.scalars(
        select(KeyPersonEvent)
        .where(KeyPersonEvent.key_person_id == key_person_id)
        .order_by(KeyPersonEvent.id)
    )
    return list(rows.all())


# -- the operator's list ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ListedKeyPerson:
    """One line of `pingan keypersons list`: masked, with this month's visits."""

    ref: str
    name: str  # masked
    tier: int
    status: str
    region: str
    place: str
    visits: int
    quota: int
    enrolled_at: datetime
    next_reassess_at: datetime


async def operator_list(
    session: AsyncSession,
    domain: Domain,
    *,
    tier: int | None = None,
    region: str | None = None,
    include_closed: bool = False,
) -> list[ListedKeyPerson]:
    """Key persons for the operator at the shell (names masked), filtered by tier and by a
    region and everything under it; each one listed is audited as read (via "cli", no
    person: the operator has no person row)."""
    conditions: list[ColumnElement[bool]] = []
    if not include_closed:
        conditions.append(KeyPerson.status == "active")
    if tier is not None:
        conditions.append(KeyPerson.tier == tier)
    if region is not None:
        found = await session.get(Region, region)
        if found is None:
            return []
        conditions.append(KeyPerson.region_path.startswith(found.path))
    rows = await session.execute(
        select(KeyPerson, Region.name)
        .join(Region, Region.code == KeyPerson.region_code)
        .where(*conditions)
        .order_by(KeyPerson.tier, KeyPerson.id)
    )
    today = domain.clock.now().astimezone(domain.zone).date()
    month = month_start(today)
    listed = []
    for kp, place in rows.all():
        listed.append(
            ListedKeyPerson(
                ref=f"K{kp.id}",
                name=mask_name(kp.name),
                tier=kp.tier,
                status=kp.status,
                region=kp.region_code,
                place=place,
                visits=await visits_between(session, kp.id, month, next_month(month)),
                quota=domain.keypersons.quota(kp.tier),
                enrolled_at=as_utc(kp.enrolled_at),
                next_reassess_at=as_utc(kp.next_reassess_at),
            )
        )
    audit(session, domain.clock, [int(line.ref[1:]) for line in listed], None, "cli")
    return listed


async def month_figures(
    session: AsyncSession, domain: Domain, path: str, month: date
) -> dict[str, int]:
    """For the leaders' monthly report (counts only, nobody named): key persons in
    assistance under `path` by tier, and of those enrolled before `month`, how many had the
    month's visits."""
    rows = await session.scalars(
        select(KeyPerson).where(
            KeyPerson.status == "active", KeyPerson.region_path.startswith(path)
        )
    )
    figures = {"total": 0, "tier1": 0, "tier2": 0, "tier3": 0, "due": 0, "met": 0}
    for kp in rows.all():
        figures["total"] += 1
        figures[f"tier{kp.tier}"] += 1
        if as_utc(kp.enrolled_at).astimezone(domain.zone).date() >= month:
            continue
        figures["due"] += 1
        done = await visits_between(session, kp.id, month, next_month(month))
        if done >= domain.keypersons.quota(kp.tier):
            figures["met"] += 1
    return figures
