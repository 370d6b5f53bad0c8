"""What happened to a case, as the domain reports it to dispatch.notifications.

An event carries the objects as they are at that moment in the unit of work; whoever hears
it reads the case then, so a notice shows the status the case had when it was sent. Most
events mirror a `case_events` row that dispatch.workflow wrote just before (MajorRisk and
SupervisionDue do not: the `report` row and the case's supervision columns say it). The
table is the record of what was done; these classes exist so that one module decides who
is told.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from dispatch.routing import Target
from storage.models import Case, CaseOffer, KeyPerson, KeyPersonVisit, Person, Region, Unit


@dataclass(frozen=True, slots=True)
class MajorRisk:
    """A major-risk case was reported."""

    case: Case


@dataclass(frozen=True, slots=True)
class Offered:
    """The case was offered to `target.person` (a mediator, or a centre dispatcher);
    `held`: to a dispatcher to check, the reporter being past the daily report limit;
    `reopened`: back to a centre because the reporter was not satisfied."""

    case: Case
    offer: CaseOffer
    target: Target
    held: bool = False
    reopened: bool = False


@dataclass(frozen=True, slots=True)
class Accepted:
    """The offered person accepted the case."""

    case: Case
    offer: CaseOffer


@dataclass(frozen=True, slots=True)
class Closed:
    """The assignee recorded the outcome (`success` or `failed`)."""

    case: Case
    outcome: str
    summary: str


@dataclass(frozen=True, slots=True)
class Paused:
    """The assignee stopped the clock while waiting for a party."""

    case: Case
    by: Person
    reason: str


@dataclass(frozen=True, slots=True)
class Reopened:
    """The reporter was dissatisfied; the case was reopened and offered again."""

    case: Case
    offer: CaseOffer
    comment: str


@dataclass(frozen=True, slots=True)
class Reminded:
    """A share (`fraction`) of the current stage's time has passed without an answer."""

    case: Case
    stage: str | None
    fraction: float
    key: str  # the SLA step: "{case}:{stage}:{clock start}:{step}"
    at: datetime  # when the sweep took the step


@dataclass(frozen=True, slots=True)
class ProgressRequired:
    """A major case had no progress note in the last day."""

    case: Case
    key: str


@dataclass(frozen=True, slots=True)
class OfferExpired:
    """An offer was not accepted in time, and where the case went (`moved`)."""

    case: Case
    offer: CaseOffer
    holder: Person
    moved: Moved


@dataclass(frozen=True, slots=True)
class Moved:
    """Where a case went after an offer lapsed: `outcome` is "passed" (the next mediator at
    the same level), "centre" (that level's centre, to assign it), "escalated" (a level up,
    督办) or "queued" (nobody left: it waits in `unit`'s queue, chased daily); `unit` and
    `region` are where it went."""

    outcome: str
    unit: Unit | None
    region: Region | None


@dataclass(frozen=True, slots=True)
class Overdue:
    """The case passed its deadline.

    催办
    """

    case: Case
    key: str
    at: datetime


@dataclass(frozen=True, slots=True)
class Escalated:
    """The case moved one level up because it passed its deadline long enough
    (`reason` "overdue") or because nobody at its level accepted the offer ("unaccepted"):
    督办."""

    case: Case
    from_region: Region | None
    to_region: Region | None
    key: str
    reason: str = "overdue"


@dataclass(frozen=True, slots=True)
class Queued:
    """Nobody is left to offer the case to: it waits in `centre`'s queue (the top centre;
    None when the organisation has no centre) and the sweep chases it daily. `from_region`
    is the level where the last offer lapsed or was declined, if any."""

    case: Case
    centre: Unit | None
    from_region: Region | None


@dataclass(frozen=True, slots=True)
class QueueChased:
    """The daily chase of a queued case: `holders` hold its open offers (the queue centre's
    dispatchers), `days` since it entered the queue."""

    case: Case
    centre: Unit | None
    holders: list[tuple[CaseOffer, Person]]
    days: int
    at: datetime


@dataclass(frozen=True, slots=True)
class SupervisionDue:
    """The daily notice on a supervised case is due.

    挂牌督办
    """

    case: Case
    at: datetime  # when the sweep took it; the notice is once per local day


@dataclass(frozen=True, slots=True)
class FollowUpAsked:
    """The reporter is asked how the case went.

    回访
    """

    case: Case


# Key persons (重点人员包保帮扶, dispatch/keypersons.py): not about a case, so
# dispatch.notifications hands them to dispatch/keyperson_notices.py.


@dataclass(frozen=True, slots=True)
class KeyPersonEnrolled:
    """A person was moved into assistance; `chain` is (role, person) for each on the chain,
    `case` the case they came from, if any."""

    key_person: KeyPerson
    chain: list[tuple[str, Person]]
    case: Case | None


@dataclass(frozen=True, slots=True)
class VisitRisk:
    """A visit's words carry risk signals (`flags`: threat, self_harm, petition,
    sudden_change): an immediate alert, like a major-risk case."""

    key_person: KeyPerson
    visit: KeyPersonVisit
    visitor: Person
    flags: list[str]


@dataclass(frozen=True, slots=True)
class VisitsShort:
    """A month (`period`, YYYY-MM) has fewer visits than the tier asks: `step` is remind
    (the workers), urge (催办, the lead) or leader (the month ended short)."""

    key_person: KeyPerson
    period: str
    step: str
    visits: int
    quota: int
    at: datetime


@dataclass(frozen=True, slots=True)
class ReassessAsked:
    """The quarterly re-assessment is asked of the chain's lead (`chase` 0), or asked again
    because nobody answered (`chase` 1, 2, …: the leader is told too)."""

    key_person: KeyPerson
    chase: int
    at: datetime


@dataclass(frozen=True, slots=True)
class KeyPersonReassessed:
    """The lead answered: keep, raise or lower; the tier went from `old` to `new`."""

    key_person: KeyPerson
    by: Person
    answer: str
    old: int
    new: int


@dataclass(frozen=True, slots=True)
class KeyPersonClosed:
    """The assistance ended, with the reason given."""

    key_person: KeyPerson
    by: Person
    reason: str


AboutKeyPerson = (
    KeyPersonEnrolled
    | VisitRisk
    | VisitsShort
    | ReassessAsked
    | KeyPersonReassessed
    | KeyPersonClosed
)

AboutCase = (
    MajorRisk
    | Offered
    | Accepted
    | Closed
    | Paused
    | Reopened
    | Reminded
    | ProgressRequired
    | OfferExpired
    | Overdue
    | Escalated
    | Queued
    | QueueChased
    | SupervisionDue
    | FollowUpAsked
)

Event = AboutCase | AboutKeyPerson
