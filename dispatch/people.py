"""People, their channel identities, and staff binding codes."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from dispatch import cases
from dispatch.clock import Clock, as_utc
from dispatch.context import Ctx
from dispatch.vocab import STAFF_ROLES
from storage.models import Identity, Invite, Person, Region, Unit

INVITE_TTL = timedelta(days=7)
# Unambiguous letters and digits (no 0/O, 1/I/L): codes get read aloud over the phone.
_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
# Touch last_seen at most this often: choosing the most recent channel needs no finer grain,
# and a write per message would make every update a write transaction.
_SEEN_GRANULARITY = timedelta(minutes=10)


def _hash(code: str) -> str:
    return hashlib.sha256(code.strip().upper().encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class CreatedInvite:
    code: str
    expires_at_iso: str


class InviteError(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


async def person_for(
    session: AsyncSession,
    clock: Clock,
    channel: str,
    user_ref: str,
    chat_ref: str,
    display_name: str = "",
    locale: str | None = None,
) -> tuple[Person, Identity]:
    """The person behind a channel identity; anyone new is a citizen."""
    found = (
        await session.execute(
            select(Identity, Person)
            .join(Person, Person.id == Identity.person_id)
            .where(Identity.channel == channel, Identity.user_ref == user_ref)
        )
    ).first()
    now = clock.now()
    if found is None:
        person = Person(
            display_name=display_name[:64], role="citizen", locale=locale, created_at=now
        )
        session.add(person)
        await session.flush()
        identity = Identity(
            person_id=person.id,
            channel=channel,
            user_ref=user_ref,
            chat_ref=chat_ref,
            last_seen_at=now,
        )
        session.add(identity)
        await session.flush()
        return person, identity
    identity, person = found[0], found[1]
    if (
        identity.unreachable_at is not None
        or identity.chat_ref != chat_ref
        or now - as_utc(identity.last_seen_at) > _SEEN_GRANULARITY
    ):
        identity.unreachable_at = None
        identity.chat_ref = chat_ref
        identity.last_seen_at = now
    return person, identity


async def create_invite(
    session: AsyncSession,
    clock: Clock,
    role: str,
    unit_code: str,
    name: str = "",
    region_code: str | None = None,
    ttl: timedelta = INVITE_TTL,
    link_person_id: int | None = None,
) -> CreatedInvite:
    """A one-time binding code. Only its hash is stored.

    Outcomes: InviteError("invite.bad_role") for an unknown role, ("invite.no_unit") for an
    unknown unit, ("invite.bad_region") for a region outside the unit's; else the code.
    """
    if role not in STAFF_ROLES:
        raise InviteError("invite.bad_role")
    unit = await session.get(Unit, unit_code)
    if unit is None:
        raise InviteError("invite.no_unit")
    if region_code is not None:
        region = await session.get(Region, region_code)
        unit_region = await session.get_one(Region, unit.region_code)
        if region is None or not region.path.startswith(unit_region.path):
            raise InviteError("invite.bad_region")
    code = "".join(secrets.choice(_ALPHABET) for _ in range(10))
    now = clock.now()
    session.add(
        Invite(
            code_hash=_hash(code),
            role=role,
            unit_code=unit_code,
            region_code=region_code,
            name=name[:64],
            created_at=now,
            expires_at=now + ttl,
            link_person_id=link_person_id,
        )
    )
    await session.flush()
    return CreatedInvite(code=code, expires_at_iso=(now + ttl).isoformat(timespec="minutes"))


LINK_TTL = timedelta(minutes=10)


async def create_link(session: AsyncSession, clock: Clock, person: Person) -> CreatedInvite:
    """A short-lived code that makes whoever sends it (on another chat app) this person:
    staff bind once, then link their second channel. Raises InviteError("link.staff_only")."""
    if person.role == "citizen" or person.unit_code is None:
        raise InviteError("link.staff_only")
    return await create_invite(
        session,
        clock,
        person.role,
        person.unit_code,
        person.display_name,
        person.region_code,
        LINK_TTL,
        link_person_id=person.id,
    )


async def redeem_invite(
    ctx: Ctx, person: Person, code: str, identity: Identity | None = None
) -> Unit:
    """Bind `person` to the invite's role and unit.

    Outcomes: InviteError("bind.unknown") when no such code, ("bind.revoked") when revoked
    (`pingan invite revoke`), ("bind.used") when already used,
    ("bind.expired") when past its expiry; else the person's role, unit and region are set,
    the code is spent (compare-and-set, so two people racing for one code: one wins) and
    the unit is returned. A mediator or dispatcher is offered, in the same unit of work,
    the cases waiting in a queue with nobody to take them that they could take
    (cases.pick_up_waiting).
    """
    session, clock = ctx.session, ctx.clock
    invite = await session.scalar(select(Invite).where(Invite.code_hash == _hash(code)))
    if invite is None:
        raise InviteError("bind.unknown")
    if invite.revoked_at is not None:
        raise InviteError("bind.revoked")
    if invite.used_at is not None:
        raise InviteError("bind.used")
    now = clock.now()
    if as_utc(invite.expires_at) <= now:
        raise InviteError("bind.expired")
    spent = await session.execute(
        update(Invite)
        .where(Invite.id == invite.id, Invite.used_at.is_(None), Invite.revoked_at.is_(None))
        .values(used_at=now, used_by=person.id)
        .execution_options(synchronize_session=False)
    )
    if spent.rowcount != 1:  # type: ignore[attr-defined]
        raise InviteError("bind.used")
    if invite.link_person_id is not None:
        # A link code: this chat identity now belongs to the person who asked for the code.
        if identity is None or invite.link_person_id == person.id:
            raise InviteError("bind.used")
        identity.person_id = invite.link_person_id
        return await session.get_one(Unit, invite.unit_code)
    person.role = invite.role
    person.unit_code = invite.unit_code
    person.region_code = invite.region_code
    if invite.name:
        person.display_name = invite.name
    await session.flush()
    await cases.pick_up_waiting(ctx, person)
    return await session.get_one(Unit, invite.unit_code)


async def reachable_identity(session: AsyncSession, person_id: int) -> Identity | None:
    """The channel the person used most recently and that has not told us they blocked us."""
    return await session.scalar(
        select(Identity)
        .where(Identity.person_id == person_id, Identity.unreachable_at.is_(None))
        .order_by(Identity.last_seen_at.desc(), Identity.id.desc())
        .limit(1)
    )
