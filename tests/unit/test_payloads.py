"""Button payloads: every kind packs and parses back to itself, stays within Telegram's 64
bytes, and anything we never sent parses to nothing."""

from __future__ import annotations

import pytest

from dispatch import payloads
from dispatch.payloads import (
    MAX_BYTES,
    Accept,
    Close,
    Decline,
    Escalate,
    FollowUp,
    GridGrade,
    KeyPersonFromCase,
    KeyPersonShow,
    KeyPersonVisit,
    Menu,
    Nav,
    PatrolReport,
    Pause,
    Payload,
    Progress,
    Reassess,
    StepChoice,
    Supervise,
    parse,
)

LARGEST_ID = 10**18 - 1  # the largest id the parser takes (18 digits)

EXAMPLES: list[Payload] = [
    Accept(LARGEST_ID),
    Decline(7),
    Progress(1),
    Close(2),
    Escalate(3),
    Pause(4),
    Supervise(5),
    FollowUp(6, "s"),
    FollowUp(LARGEST_ID, "d"),
    Menu("mycases"),
    Nav("cancel"),
    KeyPersonFromCase(LARGEST_ID),
    KeyPersonShow(8),
    KeyPersonVisit(9),
    Reassess(LARGEST_ID, "c"),
    Reassess.of(10, "raise"),
    GridGrade.of("532801001001G01", "concern"),
    PatrolReport("532801001001G01"),
    StepChoice(12, "r:532801001001G01"),
    StepChoice(LARGEST_ID, "yes"),
]


def test_every_kind_has_an_example() -> None:
    assert {type(p) for p in EXAMPLES} == {*payloads.KINDS, StepChoice}


@pytest.mark.parametrize("payload", EXAMPLES, ids=lambda p: type(p).__name__)
def test_round_trip_within_telegram_limit(payload: Payload) -> None:
    packed = payload.pack()
    assert len(packed.encode()) <= MAX_BYTES
    assert parse(packed) == payload


def test_wire_format_is_what_buttons_in_chats_already_carry() -> None:
    # Buttons sent before an upgrade stay in people's chats; they must keep working.
    assert Accept(7).pack() == "a:7"
    assert FollowUp.of(9, "basic").pack() == "f:9:b"
    assert Nav("back").pack() == "nav:back"
    assert Menu("report").pack() == "m:report"
    assert StepChoice(3, "yes").pack() == "3.yes"


def test_oversized_payload_is_refused_when_packed() -> None:
    with pytest.raises(ValueError):
        StepChoice(1, "x" * MAX_BYTES).pack()


@pytest.mark.parametrize(
    "forged",
    [
        "",
        "a:",
        "a:x",
        "a:-1",
        "a:1:2",
        "a:" + "9" * 19,
        "f:1:q",
        "f:1",
        "nav:up",
        "m:re port",
        "zz:1",
        "3.",
        "x" * 70,
        "a:1" + " " * 70,
    ],
)
def test_anything_we_never_sent_parses_to_nothing(forged: str) -> None:
    assert parse(forged) is None


def test_rating_names() -> None:
    assert FollowUp.of(1, "dissatisfied").rating_name == "dissatisfied"
    assert [FollowUp.of(1, n).rating for n in payloads.RATINGS.values()] == ["s", "b", "d"]
