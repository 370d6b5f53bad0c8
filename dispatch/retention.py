"""Retention of personal information (docs/architecture.md, "Privacy").

The policy is a data file, ``dispatch/data/retention.yaml``, validated here and loaded once by
the composition root. The ``retention`` job (dispatch/jobs.py) applies it:

- **dialogs**: a ``dialog_states`` row (the answers so far: descriptions, phone numbers) not
  stepped for ``dialogs`` is deleted;
- **closed cases**: a case in a closed state with no event for ``closed_cases`` is redacted
  (:func:`redact_case`): the reporter's phone, the description, address, map point, parties,
  outcome summary and pause reason, the free text of its events and offers, its photos, and
  the text of its notices. Its facts stay (category, risk, region, source, status, times,
  cues, rating) and so do its events' kinds, times and facts, so dispatch/stats.py gives the
  same figures for any period afterwards;
- **notices**: a notice sent, failed or cancelled more than ``notices`` ago keeps who, when,
  why and its dedupe key (so a replayed cause still does not send it twice) but loses its
  text and buttons (:func:`redact_reply`);
- **inactive citizens**: a citizen not seen for ``inactive_citizens`` and with no open case
  is forgotten (:func:`forget_person`): identities deleted, name gone, dialog dropped,
  pending notices cancelled. Their cases follow the closed-case rule.

Handled-message keys (``inbound_seen``) are not here: the ``housekeeping`` job forgets them
after a day. Every step is idempotent: a second run finds nothing left to do.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Final

from pydantic import PlainValidator
from sqlalchemy import delete, exists, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from dispatch import workflow
from dispatch.clock import Clock
from dispatch.datafile import DataModel, parse_model, read_text
from dispatch.stats import CLOSED_STATES, OPEN_STATES
from storage.models import (
    Case,
    CaseEvent,
    CaseMedia,
    CaseOffer,
    DialogState,
    Identity,
    Invite,
    KeyPerson,
    KeyPersonEvent,
    KeyPersonVisit,
    OutboxMessage,
    Person,
    PrivacyRecord,
)

if TYPE_CHECKING:
    from dispatch.context import Domain
    from storage.database import Sessions

__all__ = [
    "DEFAULT_RETENTION_PATH",
    "RetentionPeriod",
    "RetentionPolicy",
    "RetentionRun",
    "apply_retention",
    "default_retention",
    "forget_person",
    "redact_case",
    "redact_event_data",
    "redact_reply",
]

_DATA_DIR: Final = Path(__file__).resolve().parent / "data"
# Spelt in two pieces, like points.yaml: tests/test_locales.py reads "section.word" literals.
DEFAULT_RETENTION_PATH: Final = (_DATA_DIR / "retention").with_suffix(".yaml")
_PERIOD: Final = re.compile(r"^(?:(\d+)y)?(?:(\d+)d)?$")
BATCH: Final = 200  # rows per unit of work: short transactions, nothing held for long

# Event data a statistic, a timeline or an audit reads: codes, ids, counts, never a person's
# words. Any other string in an event's data is free text and is removed by redaction, so a
# free-text field added later is redacted without anyone remembering to list it here.
FACT_KEYS: Final = frozenset(
    {
        "channel",
        "category",
        "risk",
        "cues",  # classifier vocabulary matched in the description, not the description
        "unit",
        "outcome",
        "agreement",
        "rating",
        "followup",
        "from_level",
        "stage",
        "by",
    }
)
# Notices that are finished: nothing will send them again, so their text is only a copy.
FINISHED_NOTICES: Final = ("sent", "failed", "cancelled")
# Notices that may still go out; an erased person's, or a redacted case's, are cancelled.
UNSENT_NOTICES: Final = ("pending", "waiting")
CANCELLED: Final = "cancelled"


# -- the policy file -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RetentionPeriod:
    """Calendar years and days: "3 years" after 29 February is 28 February."""

    years: int = 0
    days: int = 0

    def before(self, now: datetime) -> datetime:
        """The instant this long before `now`."""
        year = now.year - self.years
        try:
            shifted = now.replace(year=year)
        except ValueError:  # 29 February in a year without one
            shifted = now.replace(year=year, day=28)
        return shifted - timedelta(days=self.days)

    def __str__(self) -> str:
        return (f"{self.years}y" if self.years else "") + (f"{self.days}d" if self.days else "")


def _period(value: object) -> RetentionPeriod:
    text = str(value).strip().replace(" ", "") if isinstance(value, str | int) else ""
    match = _PERIOD.match(text)
    if not text or match is None or not any(match.groups()) or isinstance(value, bool):
        raise ValueError(f"{value!r} is not a period like 30d, 3y or 1y180d")
    years, days = (int(g) if g else 0 for g in match.groups())
    if years == 0 and days == 0:
        raise ValueError("must be at least one day")
    if years > 100:
        raise ValueError("more than 100 years")
    return RetentionPeriod(years, days)


Period = Annotated[RetentionPeriod, PlainValidator(_period)]


class _RetentionFile(DataModel):
    dialogs: Period
    closed_cases: Period
    notices: Period
    inactive_citizens: Period


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    dialogs: RetentionPeriod = RetentionPeriod(days=30)
    closed_cases: RetentionPeriod = RetentionPeriod(years=3)
    notices: RetentionPeriod = RetentionPeriod(days=90)
    inactive_citizens: RetentionPeriod = RetentionPeriod(years=3)

    @classmethod
    def load(cls, path: Path | None = None) -> RetentionPolicy:
        """Read and validate a retention file (default ``dispatch/data/retention.yaml``); every
        problem raises one :class:`~dispatch.datafile.DataFileError`, a ``"file: path:
        message"`` line each."""
        path = path or DEFAULT_RETENTION_PATH
        return cls.parse(read_text(path), source=str(path))

    @classmethod
    def parse(cls, text: str, *, source: str = "retention policy") -> RetentionPolicy:
        model = parse_model(_RetentionFile, text, source)
        return cls(model.dialogs, model.closed_cases, model.notices, model.inactive_citizens)


@cache
def default_retention() -> RetentionPolicy:
    """The shipped retention file, read once (a centre edits it and restarts)."""
    return RetentionPolicy.load()


# -- redaction -----------------------------------------------------------------------------------


def _is_fact(value: object) -> bool:
    return value is None or isinstance(value, bool | int | float)


def redact_event_data(data: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """An event's data without free text, and the names of the keys removed by this call
    (all removed names are kept under ``"redacted"``, so an auditor sees that something was
    there, not what)."""
    kept: dict[str, Any] = {}
    removed: list[str] = []
    for key, value in data.items():
        if key == "redacted":
            continue
        if key in FACT_KEYS or _is_fact(value):
            kept[key] = value
        elif isinstance(value, list) and all(_is_fact(v) for v in value):
            kept[key] = value  # ids, e.g. the offers that expired
        else:
            removed.append(key)
    earlier = data.get("redacted")
    names = {*(earlier if isinstance(earlier, list) else ()), *removed}
    if names:
        kept["redacted"] = sorted(names)
    return kept, sorted(removed)


def redact_reply(reply: dict[str, Any]) -> dict[str, Any]:
    """A notice's reply without its text: the message key stays (what kind of notice it was),
    its parameters (case cards: descriptions, phones, names), buttons and media go."""
    return {
        "text_key": reply.get("text_key", ""),
        "params": {},
        "buttons": [],
        "media": [],
        "redacted": True,
    }


def _is_redacted(reply: object) -> bool:
    return isinstance(reply, dict) and reply.get("redacted") is True


_CASE_TEXT: Final[dict[str, Any]] = {
    "description": "",
    "phone": None,
    "address": None,
    "latitude": None,
    "longitude": None,
    "parties": None,
    "outcome_summary": None,
    "pause_reason": None,
}


async def _redact_notices(session: AsyncSession, *where: Any) -> int:
    """Redact the notices `where` selects and cancel those not sent yet; returns how many
    changed."""
    rows = (
        await session.execute(
            select(OutboxMessage.id, OutboxMessage.reply, OutboxMessage.status).where(*where)
        )
    ).all()
    changed = 0
    for notice_id, reply, status in rows:
        values: dict[str, Any] = {}
        if not _is_redacted(reply):
            values["reply"] = redact_reply(reply or {})
        if status in UNSENT_NOTICES:
            values.update(status=CANCELLED, last_error="cancelled: personal data removed")
        if values:
            await session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id == notice_id, OutboxMessage.status == status)
                .values(**values)
                .execution_options(synchronize_session=False)
            )
            changed += 1
    return changed


async def redact_case(session: AsyncSession, clock: Clock, case: Case, why: str) -> bool:
    """Remove the reporter's contact details and every free text of a closed case, keeping its
    facts and events for statistics; a `redact` event records that it happened (``why``:
    "retention" or "erasure"). Returns False, writing nothing, for an open case, one already
    redacted, or one changed meanwhile (the compare-and-set of workflow.claim)."""
    if case.status not in CLOSED_STATES or case.redacted_at is not None:
        return False
    if not await workflow.claim(session, clock, case, **_CASE_TEXT, redacted_at=clock.now()):
        return False
    events = (await session.scalars(select(CaseEvent).where(CaseEvent.case_id == case.id))).all()
    for event in events:
        data, removed = redact_event_data(dict(event.data or {}))
        if removed:
            event.data = data
    await session.execute(
        update(CaseOffer)
        .where(CaseOffer.case_id == case.id, CaseOffer.reason.is_not(None))
        .values(reason=None)
        .execution_options(synchronize_session=False)
    )
    await session.execute(delete(CaseMedia).where(CaseMedia.case_id == case.id))
    await _redact_notices(session, OutboxMessage.case_id == case.id)
    workflow.record(session, clock, case, "redact", None, {"by": why})
    return True


async def forget_person(session: AsyncSession, person: Person) -> Counter[str]:
    """Remove what identifies a person: chat identities (whoever writes from that chat next is
    a stranger), name, language, report time, unfinished dialog, the names on invites they
    used; notices to them lose their text and those not sent yet are cancelled. A staff
    member also loses their role, so routing offers them nothing more. Their cases and the
    events they acted in stay (statistics); the caller redacts the cases it must."""
    done: Counter[str] = Counter()
    result = await session.execute(delete(Identity).where(Identity.person_id == person.id))
    done["identities"] += result.rowcount  # type: ignore[attr-defined]
    result = await session.execute(delete(DialogState).where(DialogState.person_id == person.id))
    done["dialogs"] += result.rowcount  # type: ignore[attr-defined]
    done["notices"] += await _redact_notices(session, OutboxMessage.person_id == person.id)
    await session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.person_id == person.id, OutboxMessage.chat_ref.is_not(None))
        .values(chat_ref=None)
        .execution_options(synchronize_session=False)
    )
    await session.execute(
        update(Invite)
        .where((Invite.used_by == person.id) | (Invite.link_person_id == person.id))
        .values(name="")
        .execution_options(synchronize_session=False)
    )
    person.display_name = ""
    person.locale = None
    person.digest_time = None
    if person.role != "citizen":
        person.role = "citizen"
        person.unit_code = None
        person.region_code = None
    return done


# -- the job -------------------------------------------------------------------------------------


@dataclass(slots=True)
class RetentionRun:
    done: Counter[str] = field(default_factory=Counter)

    def summary(self) -> str:
        d = self.done
        return (
            f"{d['dialogs']} dialogs deleted, {d['cases']} closed cases redacted, "
            f"{d['notices']} notices redacted, {d['key_persons']} closed key persons redacted, "
            f"{d['citizens']} inactive citizens forgotten"
        )


async def _pages(sessions: Sessions, query: Any, id_column: Any) -> Any:
    """Candidate ids in pages of BATCH, each page read in its own short read, resuming after
    the last id seen (a row skipped because it changed meanwhile is not read again)."""
    last = 0
    while True:
        async with sessions.read() as session:
            ids = list(
                (
                    await session.scalars(
                        query.where(id_column > last).order_by(id_column).limit(BATCH)
                    )
                ).all()
            )
        if not ids:
            return
        last = ids[-1]
        yield ids


async def _delete_dialogs(sessions: Sessions, cutoff: datetime) -> int:
    async with sessions() as session, session.begin():
        result = await session.execute(delete(DialogState).where(DialogState.updated_at < cutoff))
    return int(result.rowcount)  # type: ignore[attr-defined]


async def _redact_closed_cases(sessions: Sessions, clock: Clock, cutoff: datetime) -> int:
    recent = exists().where(CaseEvent.case_id == Case.id, CaseEvent.at > cutoff)
    query = select(Case.id).where(
        Case.status.in_(CLOSED_STATES), Case.redacted_at.is_(None), ~recent
    )
    count = 0
    async for ids in _pages(sessions, query, Case.id):
        async with sessions() as session, session.begin():
            for case in (await session.scalars(select(Case).where(Case.id.in_(ids)))).all():
                count += await redact_case(session, clock, case, "retention")
    return count


async def _redact_old_notices(sessions: Sessions, cutoff: datetime) -> int:
    query = select(OutboxMessage.id).where(
        OutboxMessage.status.in_(FINISHED_NOTICES),
        OutboxMessage.created_at < cutoff,
        OutboxMessage.reply["redacted"].as_boolean().is_(None),
    )
    count = 0
    async for ids in _pages(sessions, query, OutboxMessage.id):
        async with sessions() as session, session.begin():
            count += await _redact_notices(session, OutboxMessage.id.in_(ids))
    return count


async def _forget_inactive(sessions: Sessions, clock: Clock, cutoff: datetime) -> int:
    open_case = exists().where(Case.reporter_id == Person.id, Case.status.in_(OPEN_STATES))
    last_seen = (
        select(Identity.person_id)
        .group_by(Identity.person_id)
        .having(func.max(Identity.last_seen_at) < cutoff)
    )
    query = select(Person.id).where(Person.role == "citizen", Person.id.in_(last_seen), ~open_case)
    count = 0
    async for ids in _pages(sessions, query, Person.id):
        for person_id in ids:
            async with sessions() as session, session.begin():
                person = await session.get_one(Person, person_id, with_for_update=True)
                # Seen again, or a case opened, since the page was read: keep them.
                still = await session.scalar(query.where(Person.id == person_id))
                if still is None:
                    continue
                done = await forget_person(session, person)
                session.add(
                    PrivacyRecord(
                        action="forget",
                        person_id=person_id,
                        at=clock.now(),
                        data={"reason": "inactive", **_counts(done)},
                    )
                )
                count += 1
    return count


def _counts(done: Counter[str] | Iterable[tuple[str, int]]) -> dict[str, int]:
    return {key: int(value) for key, value in dict(done).items()}


async def apply_retention(sessions: Sessions, domain: Domain) -> RetentionRun:
    """Apply the domain's retention policy as of its clock's now."""
    policy, clock = domain.retention, domain.clock
    now = clock.now()
    run = RetentionRun()
    run.done["dialogs"] = await _delete_dialogs(sessions, policy.dialogs.before(now))
    run.done["cases"] = await _redact_closed_cases(sessions, clock, policy.closed_cases.before(now))
    run.done["notices"] = await _redact_old_notices(sessions, policy.notices.before(now))
    run.done["key_persons"] = await _redact_closed_key_persons(
        sessions, clock, policy.closed_cases.before(now)
    )
    run.done["citizens"] = await _forget_inactive(
        sessions, clock, policy.inactive_citizens.before(now)
    )
    return run


async def _redact_closed_key_persons(sessions: Sessions, clock: Clock, cutoff: datetime) -> int:
    """A key person's assistance closed before `cutoff` (the closed-case period) keeps its
    facts (tier, place, dates, chain, how many visits and when, risk kinds) and loses the
    name, ID and phone numbers, the reason, the visits' notes, photos and places, and the
    close reason in its events. Once per record (`redacted_at`)."""
    async with sessions.read() as session:
        ids = list(
            (
                await session.scalars(
                    select(KeyPerson.id).where(
                        KeyPerson.status == "closed",
                        KeyPerson.closed_at < cutoff,
                        KeyPerson.redacted_at.is_(None),
                    )
                )
            ).all()
        )
    done = 0
    for kp_id in ids:
        async with sessions() as session, session.begin():
            changed = await session.execute(
                update(KeyPerson)
                .where(KeyPerson.id == kp_id, KeyPerson.redacted_at.is_(None))
                .values(
                    name="*",
                    id_number=None,
                    phone=None,
                    reason="",
                    redacted_at=clock.now(),
                    version=KeyPerson.version + 1,
                )
            )
            if changed.rowcount != 1:  # type: ignore[attr-defined]
                continue  # another run took it
            await session.execute(
                update(KeyPersonVisit)
                .where(KeyPersonVisit.key_person_id == kp_id)
                .values(done="", situation="", photos=[], latitude=None, longitude=None)
            )
            for event in await session.scalars(
                select(KeyPersonEvent).where(
                    KeyPersonEvent.key_person_id == kp_id, KeyPersonEvent.kind == "close"
                )
            ):
                event.data = {k: v for k, v in (event.data or {}).items() if k != "reason"}
            done += 1
    return done
