"""What a button carries back: one class per action, packed and parsed here and nowhere else.

A payload travels as Telegram's callback data (at most 64 bytes), a WeChat menu key, or the
value behind a number typed on WeChat or in the console. It names an action and the object
it acts on; it is never proof of a right — whoever handles it re-checks the person against
the database. The wire format is kept stable on purpose: buttons already sitting in
people's chats must still work after an upgrade.

    Accept(offer_id=7).pack() == "a:7"         parse("a:7") == Accept(offer_id=7)
    StepChoice(nonce=3, value="yes").pack() == "3.yes"
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import ClassVar

MAX_BYTES = 64  # Telegram's limit on callback data; WeChat keys and numbers stay under it too
_MAX_ID_DIGITS = 18  # fits a signed 64-bit integer whatever the digits


class Payload:
    """A button's action. Subclasses are frozen dataclasses with a unique `prefix`."""

    prefix: ClassVar[str] = ""
    # Payloads whose action works anywhere, inside a dialog or not (the router's own).
    global_action: ClassVar[bool] = True

    def pack(self) -> str:
        parts = [self.prefix, *(str(getattr(self, f.name)) for f in fields(self))]  # type: ignore[arg-type]
        packed = ":".join(parts)
        if len(packed.encode()) > MAX_BYTES:
            raise ValueError(f"payload {packed[:20]}… is over {MAX_BYTES} bytes")
        return packed

    @classmethod
    def _unpack(cls, parts: list[str]) -> Payload | None:
        own = fields(cls)  # type: ignore[arg-type]
        if len(parts) != len(own):
            return None
        values: dict[str, object] = {}
        for f, raw in zip(own, parts, strict=True):
            if f.type in (int, "int"):
                if not raw.isdigit() or len(raw) > _MAX_ID_DIGITS:
                    return None
                values[f.name] = int(raw)
            elif raw:
                values[f.name] = raw
            else:
                return None
        made = cls(**values)
        return made if made.valid() else None

    def valid(self) -> bool:
        return True


@dataclass(frozen=True, slots=True)
class Accept(Payload):
    """Take the offered case.

    接单
    """

    prefix: ClassVar[str] = "a"
    offer_id: int


@dataclass(frozen=True, slots=True)
class Decline(Payload):
    """Hand the offered case back, with a reason asked next.

    退回
    """

    prefix: ClassVar[str] = "d"
    offer_id: int


@dataclass(frozen=True, slots=True)
class Progress(Payload):
    """Record progress on a case the person holds.

    记录进展
    """

    prefix: ClassVar[str] = "p"
    case_id: int


@dataclass(frozen=True, slots=True)
class Close(Payload):
    """Record the outcome of a case the person holds.

    结案
    """

    prefix: ClassVar[str] = "c"
    case_id: int


@dataclass(frozen=True, slots=True)
class Escalate(Payload):
    """Move a case the person holds one level up.

    上报上级
    """

    prefix: ClassVar[str] = "e"
    case_id: int


@dataclass(frozen=True, slots=True)
class Pause(Payload):
    """Stop the case's clock while waiting for a party; on a paused case, start it again."""

    prefix: ClassVar[str] = "z"
    case_id: int


@dataclass(frozen=True, slots=True)
class Supervise(Payload):
    """A leader's red card on a case.

    挂牌督办
    """

    prefix: ClassVar[str] = "s"
    case_id: int


RATINGS: dict[str, str] = {"s": "satisfied", "b": "basic", "d": "dissatisfied"}


@dataclass(frozen=True, slots=True)
class FollowUp(Payload):
    """The reporter's rating of a closed case:
    s 满意, b 基本满意, d 不满意.

    回访
    """

    prefix: ClassVar[str] = "f"
    case_id: int
    rating: str

    @classmethod
    def of(cls, case_id: int, rating: str) -> FollowUp:
        """From a rating's name ("satisfied") to its one-letter code on the wire."""
        return cls(case_id, next(code for code, name in RATINGS.items() if name == rating))

    @property
    def rating_name(self) -> str:
        return RATINGS[self.rating]

    def valid(self) -> bool:
        return self.rating in RATINGS


@dataclass(frozen=True, slots=True)
class Menu(Payload):
    """A main-menu entry (also the WeChat custom menu's keys): run the command `command`."""

    prefix: ClassVar[str] = "m"
    command: str

    def valid(self) -> bool:
        return self.command.isascii() and self.command.isalpha() and len(self.command) <= 16


@dataclass(frozen=True, slots=True)
class Nav(Payload):
    """A dialog's own ⬅️ back or ✖️ cancel."""

    prefix: ClassVar[str] = "nav"
    action: str

    def valid(self) -> bool:
        return self.action in ("back", "cancel")


@dataclass(frozen=True, slots=True)
class StepChoice(Payload):
    """An answer to a dialog step. The nonce ties it to the question it was sent with, so a
    button from an earlier question is recognised as stale instead of answering this one."""

    prefix: ClassVar[str] = ""
    global_action: ClassVar[bool] = False
    nonce: int
    value: str

    def pack(self) -> str:
        packed = f"{self.nonce}.{self.value}"
        if len(packed.encode()) > MAX_BYTES:
            raise ValueError(f"payload {packed[:20]}… is over {MAX_BYTES} bytes")
        return packed


@dataclass(frozen=True, slots=True)
class KeyPersonFromCase(Payload):
    """Move a party of this case into assistance (a centre's dispatcher or leader).

    转入包保帮扶
    """

    prefix: ClassVar[str] = "ke"
    case_id: int


@dataclass(frozen=True, slots=True)
class KeyPersonShow(Payload):
    """Open a key person's record (need-to-know, audited)."""

    prefix: ClassVar[str] = "ks"
    key_person_id: int


@dataclass(frozen=True, slots=True)
class KeyPersonVisit(Payload):
    """Record a visit to this key person.

    记录走访
    """

    prefix: ClassVar[str] = "kv"
    key_person_id: int


# The quarterly re-assessment's answers on the wire: k keep, r raise, l lower, c close.
REASSESS_ANSWERS: dict[str, str] = {"k": "keep", "r": "raise", "l": "lower", "c": "close"}


@dataclass(frozen=True, slots=True)
class Reassess(Payload):
    """The chain's lead answers the quarterly re-assessment.

    一季度一评估
    """

    prefix: ClassVar[str] = "kr"
    key_person_id: int
    answer: str

    @classmethod
    def of(cls, key_person_id: int, answer: str) -> Reassess:
        code = next(code for code, name in REASSESS_ANSWERS.items() if name == answer)
        return cls(key_person_id, code)

    @property
    def answer_name(self) -> str:
        return REASSESS_ANSWERS[self.answer]

    def valid(self) -> bool:
        return self.answer in REASSESS_ANSWERS


GRID_GRADES: dict[str, str] = {"k": "key", "c": "concern", "n": "normal"}


def _grid_code(code: str) -> bool:
    return code.isascii() and code.isalnum() and len(code) <= 40


@dataclass(frozen=True, slots=True)
class GridGrade(Payload):
    """The county's dispatcher sets a grid's grade (confirming the proposal or not):
    k 重点, c 关注, n 常态.

    网格分级
    """

    prefix: ClassVar[str] = "gg"
    region_code: str
    grade: str

    @classmethod
    def of(cls, region_code: str, grade: str) -> GridGrade:
        code = next(code for code, name in GRID_GRADES.items() if name == grade)
        return cls(region_code, code)

    @property
    def grade_name(self) -> str:
        return GRID_GRADES[self.grade]

    def valid(self) -> bool:
        return self.grade in GRID_GRADES and _grid_code(self.region_code)


@dataclass(frozen=True, slots=True)
class PatrolReport(Payload):
    """Report a dispute found on patrol, the place filled in with the grid.

    巡查发现纠纷
    """

    prefix: ClassVar[str] = "pr"
    region_code: str

    def valid(self) -> bool:
        return _grid_code(self.region_code)


KINDS: tuple[type[Payload], ...] = (
    Accept,
    Decline,
    Progress,
    Close,
    Escalate,
    Pause,
    Supervise,
    FollowUp,
    Menu,
    Nav,
    KeyPersonFromCase,
    KeyPersonShow,
    KeyPersonVisit,
    Reassess,
    GridGrade,
    PatrolReport,
)
_BY_PREFIX = {kind.prefix: kind for kind in KINDS}


def parse(payload: str) -> Payload | None:
    """The action a payload names, or None for anything we never sent (forged, truncated,
    from an older version we no longer understand)."""
    if not payload or len(payload.encode()) > MAX_BYTES:
        return None
    # A step's answer first: its value may itself hold a colon ("3.r:532801"), while no
    # action's prefix starts with a digit.
    nonce, dot, value = payload.partition(".")
    if dot and nonce.isdigit():
        if not value or len(nonce) > _MAX_ID_DIGITS:
            return None
        return StepChoice(int(nonce), value)
    head, colon, rest = payload.partition(":")
    kind = _BY_PREFIX.get(head) if colon else None
    return kind._unpack(rest.split(":")) if kind is not None else None
