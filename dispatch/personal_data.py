"""A person's rights over their data (个人信息保护法 arts. 45 and 47): see everything held about
them (:func:`export`) and have it removed (:func:`erase`). `pingan person export|erase REF`
(bot/cli/person.py) are the front ends; docs/architecture.md, "Privacy", and the README's
"Personal information" say what each covers.

A person is named by a REF (:func:`find_person`): their id, ``CHANNEL:USER_REF`` (the chat
identity, ``telegram:12345``, ``wechat:OPENID``) or a case number (its reporter).
"""

from __future__ import annotations

import re
from collections import Counter
from datetime import date, datetime
from typing import Any, Final

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase

from dispatch.clock import Clock, as_utc
from dispatch.retention import forget_person, redact_case, redact_reply
from dispatch.rows import fetch_rows
from dispatch.stats import OPEN_STATES
from storage.models import (
    Case,
    CaseEvent,
    CaseMedia,
    CaseOffer,
    CaseRead,
    DialogState,
    Identity,
    Invite,
    OutboxMessage,
    Person,
    PointsEntry,
    PrivacyRecord,
)

__all__ = [
    "ErasureRefused",
    "UnknownPerson",
    "erase",
    "export",
    "find_person",
    "open_ties",
]

_PERSON_ID: Final = re.compile(r"^\d{1,18}$")
_CASE_NUMBER: Final = re.compile(r"^\d{4}-\d{1,12}$")
_IDENTITY: Final = re.compile(r"^([a-z]{2,16}):(.+)$")


class UnknownPerson(Exception):
    """Nobody answers to the REF; `reason` is a message key, `params` its parameters."""

    def __init__(self, reason: str, **params: Any) -> None:
        super().__init__(reason)
        self.reason = reason
        self.params = params


class ErasureRefused(Exception):
    """Erasure must wait (an open case as reporter or holder, an open offer); `reason` is a
    message key and `params` name the cases."""

    def __init__(self, reason: str, **params: Any) -> None:
        super().__init__(reason)
        self.reason = reason
        self.params = params


async def find_person(session: AsyncSession, ref: str) -> Person:
    """The person a REF names, or UnknownPerson ("privacy.unknown_ref", or
    "privacy.bad_ref" for text that is none of the three forms)."""
    ref = ref.strip()
    person: Person | None = None
    if _PERSON_ID.match(ref):
        person = await session.get(Person, int(ref))
    elif _CASE_NUMBER.match(ref):
        reporter = await session.scalar(select(Case.reporter_id).where(Case.number == ref))
        person = await session.get(Person, reporter) if reporter is not None else None
    elif match := _IDENTITY.match(ref):
        person = await session.scalar(
            select(Person)
            .join(Identity, Identity.person_id == Person.id)
            .where(Identity.channel == match[1], Identity.user_ref == match[2])
        )
    else:
        raise UnknownPerson("privacy.bad_ref", ref=ref)
    if person is None:
        raise UnknownPerson("privacy.unknown_ref", ref=ref)
    return person


# -- export ---------------------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return as_utc(value).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return value


def _row(obj: DeclarativeBase, *leave_out: str) -> dict[str, Any]:
    return {
        column.key: _plain(getattr(obj, column.key))
        for column in obj.__mapper__.column_attrs
        if column.key not in leave_out
    }


def _notice(notice: OutboxMessage, own: set[int]) -> dict[str, Any]:
    """A notice to the person; one about someone else's case (a case card sent to a mediator)
    keeps its kind but not its text: that is the reporter's data, not theirs."""
    row = _row(notice, "person_id")
    if notice.case_id is not None and notice.case_id not in own:
        row["reply"] = redact_reply(notice.reply or {})
    return row


async def export(session: AsyncSession, clock: Clock, person: Person) -> dict[str, Any]:
    """Everything held about `person`, as JSON-ready data: the person, their chat identities,
    the cases they reported (whole, with events and photo references: it is their own
    report), their unfinished dialog, the notices to them (the text only of those about their
    own cases or none: a case card sent to a mediator is the reporter's data), the cases they
    handled (numbers and states only, for the same reason), their points, their reads of
    cases, the invites they used, and the privacy log about them. The export itself is
    logged (without its contents)."""
    pid = person.id

    async def rows(model: Any, *where: Any) -> list[Any]:
        return await fetch_rows(session, model, *where, order_by=model.id)

    reported = []
    own: set[int] = set()
    for case in await rows(Case, Case.reporter_id == pid):
        own.add(case.id)
        events = await rows(CaseEvent, CaseEvent.case_id == case.id)
        media = await rows(CaseMedia, CaseMedia.case_id == case.id)
        reported.append(
            {
                **_row(case),
                "events": [_row(e, "case_id") for e in events],
                "media": [_row(m, "case_id") for m in media],
            }
        )
    handled = (
        await session.execute(
            select(Case.number, Case.status)
            .where(
                or_(
                    Case.assignee_id == pid,
                    Case.id.in_(select(CaseOffer.case_id).where(CaseOffer.person_id == pid)),
                )
            )
            .order_by(Case.id)
        )
    ).all()
    dialog = await session.get(DialogState, pid)
    data = {
        "exported_at": _plain(clock.now()),
        "person": _row(person),
        "identities": [
            _row(i, "person_id") for i in await rows(Identity, Identity.person_id == pid)
        ],
        "cases_reported": reported,
        "dialog": _row(dialog, "person_id") if dialog is not None else None,
        "notices": [
            _notice(n, own) for n in await rows(OutboxMessage, OutboxMessage.person_id == pid)
        ],
        "cases_handled": [{"number": number, "status": status} for number, status in handled],
        "points": [
            _row(p, "person_id") for p in await rows(PointsEntry, PointsEntry.person_id == pid)
        ],
        "case_reads": [
            _row(r, "person_id") for r in await rows(CaseRead, CaseRead.person_id == pid)
        ],
        "invites_used": [
            _row(i, "code_hash")
            for i in await rows(Invite, or_(Invite.used_by == pid, Invite.link_person_id == pid))
        ],
        "privacy_log": [
            _row(r, "person_id") for r in await rows(PrivacyRecord, PrivacyRecord.person_id == pid)
        ],
    }
    session.add(
        PrivacyRecord(
            action="export",
            person_id=pid,
            at=clock.now(),
            data={"cases_reported": len(reported), "notices": len(data["notices"])},
        )
    )
    return data


# -- erasure --------------------------------------------------------------------------------------


async def open_ties(session: AsyncSession, person: Person) -> dict[str, list[str]]:
    """The open cases that keep a person's data needed: reported by them, held by them, or
    offered to them and not yet answered (case numbers)."""

    async def numbers(*where: Any) -> list[str]:
        query = select(Case.number).where(Case.status.in_(OPEN_STATES), *where).order_by(Case.id)
        return list((await session.scalars(query)).all())

    offered = select(CaseOffer.case_id).where(
        CaseOffer.person_id == person.id, CaseOffer.state == "open"
    )
    return {
        "reported": await numbers(Case.reporter_id == person.id),
        "held": await numbers(or_(Case.assignee_id == person.id, Case.id.in_(offered))),
    }


async def erase(session: AsyncSession, clock: Clock, person: Person) -> Counter[str]:
    """Remove or redact everything about `person`, in the caller's unit of work.

    Outcomes: ErasureRefused("privacy.erase_open_reported" / "privacy.erase_open_held", with
    the case numbers) while a case they reported is open, or one is theirs to handle or
    offered to them; ErasureRefused("privacy.erase_busy") when one of their cases changed
    meanwhile (try again). Otherwise: what :func:`~dispatch.retention.forget_person` removes,
    and every case they reported redacted now (:func:`~dispatch.retention.redact_case`),
    whatever its age; the cases' facts and events stay for statistics, and a privacy-log
    row records that an erasure happened and counts of what it touched. Returns the counts.
    """
    ties = await open_ties(session, person)
    if ties["reported"]:
        raise ErasureRefused("privacy.erase_open_reported", cases=", ".join(ties["reported"]))
    if ties["held"]:
        raise ErasureRefused("privacy.erase_open_held", cases=", ".join(ties["held"]))
    done = await forget_person(session, person)
    reported = (
        await session.scalars(
            select(Case).where(Case.reporter_id == person.id, Case.redacted_at.is_(None))
        )
    ).all()
    for case in reported:
        if not await redact_case(session, clock, case, "erasure"):
            raise ErasureRefused("privacy.erase_busy", cases=case.number)
        done["cases"] += 1
    session.add(
        PrivacyRecord(
            action="erase",
            person_id=person.id,
            at=clock.now(),
            data={key: int(value) for key, value in sorted(done.items())},
        )
    )
    return done
