"""Staff leave: who is on the staff, disabling someone who left, and the binding codes
(invites) handed out — `pingan staff` and `pingan invite` (docs/architecture.md, "Privacy").

Nothing here returns a phone number or an invite's code: the lists are what an
administrator may print on a shared screen.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from dispatch import cases, outbox, sla_clocks, workflow
from dispatch.clock import Clock, as_utc
from dispatch.context import Ctx
from dispatch.messages import Reply
from dispatch.people import reachable_identity
from dispatch.recipients import open_offer_holders
from dispatch.routing import centre_target
from dispatch.rows import fetch_rows
from storage.models import Case, CaseOffer, DialogState, Identity, Invite, Person, Unit


class StaffError(Exception):
    """A refusal for the administrator: a message key and its parameters."""

    def __init__(self, reason: str, **params: Any) -> None:
        super().__init__(reason)
        self.reason = reason
        self.params = params


@dataclass(frozen=True, slots=True)
class StaffRow:
    id: int
    name: str
    role: str
    unit: str | None
    unit_name: str
    channels: list[str]
    disabled_at: datetime | None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "role": self.role,
            "unit": self.unit,
            "unit_name": self.unit_name,
            "channels": self.channels,
            "disabled": self.disabled_at is not None,
            "disabled_at": self.disabled_at.isoformat() if self.disabled_at else None,
        }


async def list_staff(session: AsyncSession, unit_code: str | None = None) -> list[StaffRow]:
    """Everyone who is or was on the staff (disabled people included, marked), by unit then
    id; `unit_code` narrows to one unit. StaffError("invite.no_unit") for an unknown unit."""
    if unit_code is not None and await session.get(Unit, unit_code) is None:
        raise StaffError("invite.no_unit")
    stmt = select(Person).where(Person.role != "citizen")
    if unit_code is not None:
        stmt = stmt.where(Person.unit_code == unit_code)
    people = (await session.scalars(stmt.order_by(Person.unit_code, Person.id))).all()
    units = {u.code: u.name for u in (await session.scalars(select(Unit))).all()}
    channels: dict[int, list[str]] = {}
    for person_id, channel in await session.execute(
        select(Identity.person_id, Identity.channel)
        .where(Identity.person_id.in_([p.id for p in people]))
        .order_by(Identity.channel)
    ):
        channels.setdefault(person_id, []).append(channel)
    return [
        StaffRow(
            id=p.id,
            name=p.display_name,
            role=p.role,
            unit=p.unit_code,
            unit_name=units.get(p.unit_code or "", ""),
            channels=channels.get(p.id, []),
            disabled_at=as_utc(p.disabled_at) if p.disabled_at else None,
        )
        for p in people
    ]


@dataclass(slots=True)
class Disabled:
    """What disabling someone did."""

    person_id: int
    offers_passed: list[str] = field(default_factory=list)  # case numbers
    cases_handed: list[str] = field(default_factory=list)
    identities: int = 0
    told: bool = False


async def disable(ctx: Ctx, person: Person) -> Disabled:
    """The person left: in one unit of work,

    - `disabled_at` set (role and unit kept for the history; routing, notices to leaders
      and dispatchers, and need-to-know reads skip them from now on);
    - a notice to them ("staff.left"), queued to their most recent reachable chat before
      their identities go, so the running bot still delivers it;
    - each open offer withdrawn with a `hand_back` event and, when nobody else holds one
      for the case, passed on as a decline would be (the next person at that level, else
      the centre's dispatcher, else a level up, else the top centre's queue);
    - each case they were working on: a `hand_back` event (in_progress → reported, the
      clock stopped) and an offer to the dispatcher of the centre over its unit
      (routing.centre_target; when that centre has nobody, routed afresh);
    - their dialog in progress and all their chat identities deleted: the same chat account
      writing again is a new citizen, so every command and button of theirs is refused as
      for anyone unbound.

    StaffError("staff.not_staff") for a citizen, ("staff.already_disabled") when done before.
    """
    session, clock = ctx.session, ctx.clock
    ref = str(person.id)
    if person.role == "citizen":
        raise StaffError("staff.not_staff", ref=ref)
    if person.disabled_at is not None:
        raise StaffError("staff.already_disabled", ref=ref, at=as_utc(person.disabled_at))
    now = clock.now()
    done = Disabled(person.id)
    person.disabled_at = now
    await session.flush()
    unit = await session.get(Unit, person.unit_code) if person.unit_code else None
    done.told = await reachable_identity(session, person.id) is not None
    await outbox.enqueue(
        session,
        clock,
        person.id,
        Reply("staff.left", {"unit": unit.name if unit else "-"}),
        purpose="staff_left",
        dedupe_key=f"staff_left:{person.id}",
    )
    offers = await fetch_rows(
        session,
        CaseOffer,
        CaseOffer.person_id == person.id,
        CaseOffer.state == "open",
        order_by=CaseOffer.id,
    )
    for offer in offers:
        case = await session.get_one(Case, offer.case_id)
        offer.state, offer.decided_at, offer.reason = "withdrawn", now, "staff_disabled"
        workflow.record(
            session, clock, case, "hand_back", None, {"offer_id": offer.id, "person_id": person.id}
        )
        await session.flush()
        done.offers_passed.append(case.number)
        if case.status == "assigned" and not await open_offer_holders(session, case):
            await cases.pass_on(ctx, case, offer, from_dispatcher=False)
    held = await fetch_rows(
        session, Case, Case.assignee_id == person.id, Case.status == "in_progress", order_by=Case.id
    )
    for case in held:
        await workflow.apply(
            session,
            clock,
            case,
            "hand_back",
            None,
            {"person_id": person.id, "unit": case.unit_code},
            assignee_id=None,
            **sla_clocks.stop(),
        )
        await cases.offer_next(ctx, case, target=await centre_target(session, case))
        done.cases_handed.append(case.number)
    # A /link code they asked for would make someone else's chat account them again.
    await session.execute(
        update(Invite)
        .where(
            Invite.link_person_id == person.id,
            Invite.used_at.is_(None),
            Invite.revoked_at.is_(None),
        )
        .values(revoked_at=now)
        .execution_options(synchronize_session=False)
    )
    await session.execute(delete(DialogState).where(DialogState.person_id == person.id))
    gone = await session.execute(delete(Identity).where(Identity.person_id == person.id))
    done.identities = gone.rowcount or 0  # type: ignore[attr-defined]
    return done


# invites ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class InviteRow:
    id: int
    role: str
    unit: str
    name: str
    created_at: datetime
    expires_at: datetime
    state: str  # open | used | revoked | expired
    link: bool  # a /link code (a staff member's second chat app)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "role": self.role,
            "unit": self.unit,
            "name": self.name,
            "created": self.created_at.isoformat(),
            "expires": self.expires_at.isoformat(),
            "state": self.state,
            "link": self.link,
        }


def _state(invite: Invite, now: datetime) -> str:
    if invite.revoked_at is not None:
        return "revoked"
    if invite.used_at is not None:
        return "used"
    return "expired" if as_utc(invite.expires_at) <= now else "open"


async def list_invites(
    session: AsyncSession, clock: Clock, *, all_: bool = False
) -> list[InviteRow]:
    """The invites that can still be redeemed (with `all_`, every one ever made), oldest
    first. Never the code: only its hash is stored anyway."""
    now = clock.now()
    invites = (await session.scalars(select(Invite).order_by(Invite.id))).all()
    rows = [
        InviteRow(
            id=i.id,
            role=i.role,
            unit=i.unit_code,
            name=i.name,
            created_at=as_utc(i.created_at),
            expires_at=as_utc(i.expires_at),
            state=_state(i, now),
            link=i.link_person_id is not None,
        )
        for i in invites
    ]
    return rows if all_ else [r for r in rows if r.state == "open"]


async def revoke_invite(session: AsyncSession, clock: Clock, invite_id: int) -> Invite:
    """Make an invite unredeemable (compare-and-set against a redemption at the same
    instant: one of them wins). StaffError("invite.unknown_id"), ("invite.already_used"),
    ("invite.already_revoked"). An expired invite may still be revoked (it says so after)."""
    invite = await session.get(Invite, invite_id)
    if invite is None:
        raise StaffError("invite.unknown_id", id=invite_id)
    if invite.revoked_at is not None:
        raise StaffError("invite.already_revoked", id=invite_id)
    if invite.used_at is not None:
        raise StaffError("invite.already_used", id=invite_id)
    result = await session.execute(
        update(Invite)
        .where(Invite.id == invite_id, Invite.used_at.is_(None), Invite.revoked_at.is_(None))
        .values(revoked_at=clock.now())
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise StaffError("invite.already_used", id=invite_id)
    await session.refresh(invite)
    return invite
