"""What every part of the dialogs works with: the long-lived Services, one handled message
(a Turn), the Answer sent back, and a step's Retry (the steps themselves: dialogs/steps.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from dispatch.classify import Classifier
from dispatch.clock import Clock
from dispatch.context import Ctx, Domain, WithDomain
from dispatch.limits import MessageLimiter
from dispatch.messages import Button, Inbound, Reply
from dispatch.place_match import PlaceNames
from locales import text as render_text
from storage.database import Sessions
from storage.models import Identity, Person


@dataclass(frozen=True, slots=True)
class Services(WithDomain):
    """Long-lived resources, built once by the composition root (the domain's clock, zone
    and policy read through)."""

    sessions: Sessions
    domain: Domain
    classifier: Classifier
    default_locale: str = "zh_CN"
    # Inbound limits (dispatch/limits.py); both off unless the composition root sets them.
    limiter: MessageLimiter = field(default_factory=MessageLimiter)
    reports_per_day: int = 0
    # The organisation's place names for typed places, built once and rebuilt when the
    # regions change (dispatch/place_match.py).
    places: PlaceNames = field(default_factory=PlaceNames)


@dataclass(frozen=True, slots=True)
class Answer:
    """What the adapter sends back to the person who wrote, and in which language."""

    replies: list[Reply]
    locale: str
    person_id: int | None = None
    # The message was not handled because the database was unavailable (nothing was
    # committed). A channel whose platform redelivers (Telegram's webhook) refuses the
    # update so that it comes again; others send `replies` (an apology) as usual.
    retry_later: bool = False


@dataclass(frozen=True, slots=True)
class Retry:
    """Explain (message key) and ask the same question again."""

    key: str
    params: dict[str, Any] = field(default_factory=dict)


Outcome = str | Retry


@dataclass(slots=True)
class Turn:
    """One handled message: its unit of work, who sent it, and what we answer."""

    services: Services
    session: AsyncSession
    person: Person
    identity: Identity
    inbound: Inbound
    replies: list[Reply] = field(default_factory=list)

    @property
    def clock(self) -> Clock:
        return self.services.clock

    @property
    def ctx(self) -> Ctx:
        """This turn's unit of work, for domain operations."""
        return self.services.domain.within(self.session)

    @property
    def locale(self) -> str:
        return self.person.locale or self.services.default_locale

    def say(self, key: str, buttons: Sequence[Sequence[Button]] = (), **params: Any) -> None:
        self.replies.append(Reply(key, params, tuple(tuple(row) for row in buttons)))

    def words(self, key: str) -> str:
        """A message as the person reads it (to match typed answers against button labels)."""
        return render_text(key, self.locale)
