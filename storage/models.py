"""SQLAlchemy models: the database is the only source of truth
(docs/architecture.md, "State and time").

Times are stored as UTC. Columns that a sweep or a lookup filters on carry an index.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# Deterministic constraint names so Alembic migrations stay portable between SQLite and PostgreSQL.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# BIGINT on PostgreSQL, but INTEGER on SQLite so that the primary key is the rowid alias.
BigId = BigInteger().with_variant(Integer(), "sqlite")
UtcDateTime = DateTime(timezone=True)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        dict[str, Any]: JSON,
        list[Any]: JSON,
        datetime: UtcDateTime,
    }


class Region(Base):
    __tablename__ = "regions"

    code: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(60))
    level: Mapped[str] = mapped_column(String(16))
    parent_code: Mapped[str | None] = mapped_column(ForeignKey("regions.code"), index=True)
    # "/532800/532801/532801001/" — jurisdiction is a prefix test on this column.
    path: Mapped[str] = mapped_column(String(400), index=True)


class Unit(Base):
    __tablename__ = "units"

    code: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(60))
    kind: Mapped[str] = mapped_column(String(16))
    region_code: Mapped[str] = mapped_column(ForeignKey("regions.code"), index=True)
    categories: Mapped[list[Any]] = mapped_column(JSON)


class Person(Base):
    __tablename__ = "people"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    display_name: Mapped[str] = mapped_column(String(64), default="")
    role: Mapped[str] = mapped_column(String(16), default="citizen")
    unit_code: Mapped[str | None] = mapped_column(ForeignKey("units.code"), index=True)
    # A grid worker's own grid (or any staff member's home region inside their unit's).
    region_code: Mapped[str | None] = mapped_column(ForeignKey("regions.code"))
    locale: Mapped[str | None] = mapped_column(String(8))
    # A leader's daily report time, "HH:MM" local; None means the policy's default (18:00).
    digest_time: Mapped[str | None] = mapped_column(String(5))
    created_at: Mapped[datetime]
    # Set by `pingan staff disable`: the person left; their role and unit stay for the
    # history, but routing skips them and their chat identities are gone.
    disabled_at: Mapped[datetime | None]


class Identity(Base):
    """One person on one channel. A person may have several (Telegram and WeChat)."""

    __tablename__ = "identities"
    __table_args__ = (UniqueConstraint("channel", "user_ref"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), index=True)
    channel: Mapped[str] = mapped_column(String(16))
    user_ref: Mapped[str] = mapped_column(String(64))
    chat_ref: Mapped[str] = mapped_column(String(64))
    last_seen_at: Mapped[datetime]
    # Set when the platform says the person blocked us (Telegram 403);
    # cleared when they write again.
    unreachable_at: Mapped[datetime | None]


class Invite(Base):
    __tablename__ = "invites"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # sha256 of the code: a leaked database does not leak usable codes.
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    unit_code: Mapped[str] = mapped_column(ForeignKey("units.code"))
    region_code: Mapped[str | None] = mapped_column(ForeignKey("regions.code"))
    name: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    used_by: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    # A link code (/link): whoever redeems it is this person on another channel.
    link_person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    # Set by `pingan invite revoke`: the code can no longer be redeemed.
    revoked_at: Mapped[datetime | None]


class CaseCounter(Base):
    """Per-year sequence for case numbers (YYYY-NNNNNN), portable across databases."""

    __tablename__ = "case_counters"

    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last: Mapped[int] = mapped_column(Integer, default=0)


class Case(Base):
    __tablename__ = "cases"
    __table_args__ = (
        Index("ix_cases_status_unit", "status", "unit_code"),
        Index("ix_cases_assignee_status", "assignee_id", "status"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    number: Mapped[str] = mapped_column(String(16), unique=True)
    status: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(16))  # citizen | grid_worker | dept_staff
    category: Mapped[str] = mapped_column(String(16))
    confidence: Mapped[float] = mapped_column(Float, default=0.0)
    risk: Mapped[str] = mapped_column(String(16))
    cues: Mapped[list[Any]] = mapped_column(JSON, default=list)
    description: Mapped[str] = mapped_column(Text)
    region_code: Mapped[str | None] = mapped_column(ForeignKey("regions.code"), index=True)
    region_path: Mapped[str] = mapped_column(String(400), default="/", index=True)
    address: Mapped[str | None] = mapped_column(String(200))
    latitude: Mapped[float | None]
    longitude: Mapped[float | None]
    people_involved: Mapped[str | None] = mapped_column(String(16))
    danger: Mapped[bool] = mapped_column(Boolean, default=False)
    parties: Mapped[str | None] = mapped_column(String(500))
    phone: Mapped[str | None] = mapped_column(String(32))
    reporter_id: Mapped[int] = mapped_column(ForeignKey("people.id"), index=True)
    unit_code: Mapped[str | None] = mapped_column(ForeignKey("units.code"))
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    outcome: Mapped[str | None] = mapped_column(String(16))  # success | failed
    outcome_summary: Mapped[str | None] = mapped_column(String(500))
    agreement: Mapped[str | None] = mapped_column(String(16))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    accepted_at: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]
    # Incremented by every transition: the compare-and-set guard against lost updates.
    version: Mapped[int] = mapped_column(Integer, default=1)

    # SLA clock (docs/architecture.md, "State and time"): the deadline of the current stage
    # ("accept" while offered, "resolve" while in progress), when that clock started, and
    # the next instant the sweep must act on this case. Only `next_action_at` is searched,
    # through its index, so a sweep costs what is due, not what is open.
    sla_stage: Mapped[str | None] = mapped_column(String(8))
    sla_started_at: Mapped[datetime | None]
    due_at: Mapped[datetime | None]
    next_action_at: Mapped[datetime | None] = mapped_column(UtcDateTime, index=True)
    ladder: Mapped[int] = mapped_column(Integer, default=0)  # ladder steps already taken
    paused_at: Mapped[datetime | None]
    pause_reason: Mapped[str | None] = mapped_column(String(200))
    # 挂牌督办: the leader who put the red card on, and the next daily notice.
    supervised_by: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    supervise_next_at: Mapped[datetime | None] = mapped_column(UtcDateTime, index=True)
    # 回访: when to ask the reporter, and where that stands (asked | answered | unanswered).
    followup_at: Mapped[datetime | None] = mapped_column(UtcDateTime, index=True)
    followup_state: Mapped[str | None] = mapped_column(String(12))
    rating: Mapped[str | None] = mapped_column(String(16))
    # When the reporter's contact details and the case's free text were redacted (retention
    # or erasure; docs/architecture.md, "Privacy"). The facts and events stay for statistics.
    redacted_at: Mapped[datetime | None]


class CaseEvent(Base):
    """Append-only audit trail; the source of every statistic."""

    __tablename__ = "case_events"
    # Statistics read events by kind over a time range (a day, a week, a month).
    __table_args__ = (Index("ix_case_events_kind_at", "kind", "at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    kind: Mapped[str] = mapped_column(String(24))
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str | None] = mapped_column(String(16))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class CaseOffer(Base):
    """A case offered to one person (a mediator, or a dispatcher when no mediator is left)."""

    __tablename__ = "case_offers"
    __table_args__ = (Index("ix_case_offers_case_state", "case_id", "state"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), index=True)
    unit_code: Mapped[str] = mapped_column(ForeignKey("units.code"))
    state: Mapped[str] = mapped_column(String(16))  # open | accepted | declined | withdrawn
    offered_at: Mapped[datetime]
    decided_at: Mapped[datetime | None]
    reason: Mapped[str | None] = mapped_column(String(500))


class CaseMedia(Base):
    __tablename__ = "case_media"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    channel: Mapped[str] = mapped_column(String(16))
    file_ref: Mapped[str] = mapped_column(String(256))
    added_by: Mapped[int] = mapped_column(ForeignKey("people.id"))
    at: Mapped[datetime]


class CaseRead(Base):
    """Who on the staff opened which case, and when (docs/architecture.md, "Privacy")."""

    __tablename__ = "case_reads"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    at: Mapped[datetime]


class StatusMiss(Base):
    """A case look-up (/status, /supervise) that found nothing the person may read: the
    sliding window that throttles walking the case numbers (dispatch/cases.py)."""

    __tablename__ = "status_misses"
    __table_args__ = (Index("ix_status_misses_person_at", "person_id", "at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    at: Mapped[datetime]


class DialogState(Base):
    """A conversation in progress, so a restart resumes it."""

    __tablename__ = "dialog_states"

    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), primary_key=True)
    dialog: Mapped[str] = mapped_column(String(32))
    step: Mapped[str] = mapped_column(String(32))
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # Bumped on every step; buttons carry it, so a button from an earlier question is recognised.
    nonce: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime]


class OutboxMessage(Base):
    """A notice to one person, written in the same transaction as the change that causes it."""

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_due", "status", "not_before"),
        Index("ix_outbox_sent_ref", "channel", "chat_ref", "sent_ref"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    dedupe_key: Mapped[str] = mapped_column(String(128), unique=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), index=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"))
    offer_id: Mapped[int | None] = mapped_column(ForeignKey("case_offers.id"))
    purpose: Mapped[str] = mapped_column(String(24))
    # Urgent notices (major-risk alerts) go out during quiet hours; the rest wait for morning.
    urgent: Mapped[bool] = mapped_column(Boolean, default=False)
    reply: Mapped[dict[str, Any]] = mapped_column(JSON)
    # pending → sending → sent; or failed, waiting (WeChat's window), in_doubt (see
    # dispatch/outbox.py: a send left in flight twice by a dead sender)
    status: Mapped[str] = mapped_column(String(12), default="pending")
    created_at: Mapped[datetime]
    # NULL: due at once (a fresh notice, whatever the domain clock read when it was written);
    # otherwise not before this time of the sender's clock (a retry's backoff, a 429's wait).
    not_before: Mapped[datetime | None]
    # Tries that failed in a way that counts (network, 5xx); a 429 is a wait and does not.
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    channel: Mapped[str | None] = mapped_column(String(16))
    chat_ref: Mapped[str | None] = mapped_column(String(64))
    sent_ref: Mapped[str | None] = mapped_column(String(64))
    sent_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(String(300))
    # While status is "sending": the sender holds the notice until then (claimed just before
    # its send call); past it, the call is taken to have died in flight.
    lease_until: Mapped[datetime | None]
    # Parts (images, pieces of a long text) already delivered: a retry resumes after them.
    parts_sent: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # The first try that did not deliver: the retry horizon and an urgent notice's delay
    # count from it.
    first_failed_at: Mapped[datetime | None]
    # How many times a send of this notice was left in doubt (in flight when a sender died).
    doubts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # An urgent notice delayed past the threshold: how many of its case's centre dispatchers
    # were told on another channel (0: nobody reachable there); NULL: not reported.
    delay_told: Mapped[int | None] = mapped_column(Integer)


class PrivacyRecord(Base):
    """That a person's data was exported, erased or forgotten, when, and counts of what was
    touched: never the data itself (docs/architecture.md, "Privacy")."""

    __tablename__ = "privacy_log"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    action: Mapped[str] = mapped_column(String(16))  # export | erase | forget
    person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"), index=True)
    at: Mapped[datetime]
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class PointsEntry(Base):
    """The points ledger: appended, never updated (a correction is another entry)."""

    __tablename__ = "points_ledger"
    __table_args__ = (
        Index("ix_points_person_at", "person_id", "at"),
        Index("ix_points_unit_at", "unit_code", "at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    dedupe_key: Mapped[str] = mapped_column(String(128), unique=True)
    person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    unit_code: Mapped[str | None] = mapped_column(ForeignKey("units.code"))
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"))
    rule: Mapped[str] = mapped_column(String(32))
    points: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime]


class JobRun(Base):
    """When each scheduled job last ran, for `pingan jobs list` and for catching up once."""

    __tablename__ = "job_runs"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    # When it really ran (the wall clock), even when replayed with `pingan jobs run --at`.
    last_run_at: Mapped[datetime]
    last_result: Mapped[str] = mapped_column(String(300), default="")
    # The time a replayed run ran as (`--at`); None when it ran as of its own time.
    as_of: Mapped[datetime | None]
    # The process that ran it (host:pid of the active worker, or "pingan jobs run").
    ran_by: Mapped[str] = mapped_column(String(100), default="", server_default="")


class InboundSeen(Base):
    """Platform messages already handled, so a retry (WeChat resends after 5 s, up to three
    times) is answered once, even when the retry reaches another worker."""

    __tablename__ = "inbound_seen"

    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)


class AccessToken(Base):
    """A platform access token shared by every worker (WeChat allows few fetches a day)."""

    __tablename__ = "access_tokens"

    app_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    token: Mapped[str] = mapped_column(String(600))
    expires_at: Mapped[datetime]


class KeyPerson(Base):
    """A person in assistance (重点人员包保帮扶): the most sensitive record the system holds.

    Name, ID and phone are stored whole, like a case's personal data, and shown whole only
    on the record itself to those who may read it (dispatch/keypersons.may_read); every list
    and digest masks them.
    """

    __tablename__ = "key_persons"
    __table_args__ = (Index("ix_key_persons_status_tier", "status", "tier"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    id_number: Mapped[str | None] = mapped_column(String(32))
    phone: Mapped[str | None] = mapped_column(String(32))
    region_code: Mapped[str] = mapped_column(ForeignKey("regions.code"))
    # A copy of the region's path: reads are need-to-know by a prefix test, as for cases.
    region_path: Mapped[str] = mapped_column(String(400), index=True)
    tier: Mapped[int] = mapped_column(Integer)  # 1 帮扶一类 (closest watch) … 3
    reason: Mapped[str] = mapped_column(String(500))
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"))
    status: Mapped[str] = mapped_column(String(12), default="active")  # active | closed
    enrolled_by: Mapped[int] = mapped_column(ForeignKey("people.id"))
    enrolled_at: Mapped[datetime]
    closed_at: Mapped[datetime | None]
    # The quarterly re-assessment: when the reassess job acts next (ask, or chase an
    # unanswered question), and whether a question is waiting for the chain's lead.
    next_reassess_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    reassess_asked_at: Mapped[datetime | None]
    reassess_chases: Mapped[int] = mapped_column(Integer, default=0)
    # When a closed record lost the person's name, numbers, reason and visit notes
    # (retention, like a closed case's `redacted_at`).
    redacted_at: Mapped[datetime | None]
    # Compare-and-set guard: two job runners never take the same step.
    version: Mapped[int] = mapped_column(Integer, default=1)


class KeyPersonChain(Base):
    """The 1+1+N responsibility chain: a leader, a lead (station or department) and workers."""

    __tablename__ = "key_person_chain"
    __table_args__ = (UniqueConstraint("key_person_id", "role", "person_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    key_person_id: Mapped[int] = mapped_column(ForeignKey("key_persons.id"), index=True)
    role: Mapped[str] = mapped_column(String(8))  # leader | lead | worker
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), index=True)


class KeyPersonVisit(Base):
    """One visit (走访) by someone on the chain: the monthly measure."""

    __tablename__ = "key_person_visits"
    __table_args__ = (Index("ix_key_person_visits_person_on", "key_person_id", "visited_on"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    key_person_id: Mapped[int] = mapped_column(ForeignKey("key_persons.id"))
    visitor_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    visited_on: Mapped[date] = mapped_column(Date)
    done: Mapped[str] = mapped_column(String(500))
    situation: Mapped[str] = mapped_column(String(500))
    channel: Mapped[str] = mapped_column(String(16))
    photos: Mapped[list[Any]] = mapped_column(JSON, default=list)
    latitude: Mapped[float | None]
    longitude: Mapped[float | None]
    risk_flags: Mapped[list[Any]] = mapped_column(JSON, default=list)
    at: Mapped[datetime]


class KeyPersonEvent(Base):
    """Append-only trail of a key person's assistance: enrol, tier change, re-assessment
    asked and answered, visit ladder steps, close. `dedupe_key` makes a job's step once-only
    (two runners, a replay)."""

    __tablename__ = "key_person_events"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    key_person_id: Mapped[int] = mapped_column(ForeignKey("key_persons.id"), index=True)
    kind: Mapped[str] = mapped_column(String(24))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    at: Mapped[datetime]
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    dedupe_key: Mapped[str | None] = mapped_column(String(128), unique=True)


class KeyPersonRead(Base):
    """Every read of a key person's record: who (NULL: the operator at the CLI), through
    what (`via`: chat, cli), when."""

    __tablename__ = "key_person_reads"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    key_person_id: Mapped[int] = mapped_column(ForeignKey("key_persons.id"), index=True)
    person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    via: Mapped[str] = mapped_column(String(8))
    at: Mapped[datetime]


class GridState(Base):
    """A grid's grade (网格分级分类: key 重点, concern 关注, normal 常态), the key places a
    centre entered for it, and the grading job's proposal waiting for the county's
    dispatcher."""

    __tablename__ = "grid_states"

    region_code: Mapped[str] = mapped_column(ForeignKey("regions.code"), primary_key=True)
    grade: Mapped[str] = mapped_column(String(8), default="normal")
    key_places: Mapped[int] = mapped_column(Integer, default=0)
    graded_at: Mapped[datetime | None]
    proposed_grade: Mapped[str | None] = mapped_column(String(8))
    proposed_score: Mapped[float | None]
    proposed_at: Mapped[datetime | None]
    proposal: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # indicator values
    version: Mapped[int] = mapped_column(Integer, default=1)


class GridGradeChange(Base):
    """The grade history: every confirmed (or changed) proposal, with the figures behind it."""

    __tablename__ = "grid_grade_history"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    region_code: Mapped[str] = mapped_column(ForeignKey("regions.code"), index=True)
    grade: Mapped[str] = mapped_column(String(8))
    previous: Mapped[str] = mapped_column(String(8))
    proposed: Mapped[str | None] = mapped_column(String(8))
    score: Mapped[float | None]
    indicators: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    at: Mapped[datetime]


class GridPatrol(Base):
    """A patrol or rectification (巡查/整治) of a grid, recorded by its grid worker."""

    __tablename__ = "grid_patrols"
    __table_args__ = (Index("ix_grid_patrols_region_at", "region_code", "at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    region_code: Mapped[str] = mapped_column(ForeignKey("regions.code"))
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    kind: Mapped[str] = mapped_column(String(8))  # patrol | rectify
    done: Mapped[str] = mapped_column(String(500))
    found: Mapped[str] = mapped_column(String(500))
    photos: Mapped[list[Any]] = mapped_column(JSON, default=list)
    at: Mapped[datetime]
