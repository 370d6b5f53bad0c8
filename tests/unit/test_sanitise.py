"""What a person types is stored without the invisible characters that could make a card
lie, and with every emoji whole."""

from __future__ import annotations

import pytest

from dispatch.messages import Inbound
from dispatch.sanitise import clean

EMOJI = [
    "👨‍👩‍👧",  # family: ZWJ sequence
    "🏳️‍🌈",  # flag + VS16 + ZWJ + rainbow
    "👩🏽‍💻",  # skin tone + ZWJ
    "❤️‍🔥",  # text-default heart + VS16 + ZWJ
    "🇨🇳",  # regional indicators
    "🏴\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f",  # Scotland: tags
    "1️⃣",  # keycap
    "👍🏿",
]


@pytest.mark.parametrize("emoji", EMOJI)
def test_emoji_and_their_joiners_stay_whole(emoji: str) -> None:
    text = f"邻居{emoji}吵架"
    assert clean(text) == text


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        ("欠款\u202e0005\u202c元", "欠款0005元"),  # right-to-left override and pop
        ("\u2067مرحبا\u2069 hi", "مرحبا hi"),  # isolates
        ("a\u200eb\u200fc\u061cd", "abcd"),  # marks
        ("139\u200b1234\u200b5678", "13912345678"),  # zero-width space hides a number
        ("139\u200d1234\u200d5678", "13912345678"),  # a joiner between digits hides too
        ("\u200d👧", "👧"),  # a joiner with nothing to join
        ("139\u00ad1234\u20605678\ufeff", "13912345678"),
        ("bell\x07 esc\x1b[31m nul\x00", "bell esc[31m nul"),
        ("c1\x85next\x9bline", "c1\nnextline"),
        ("a\r\nb\rc\u2028d", "a\nb\nc\nd"),
        ("tab\tand\nline", "tab\tand\nline"),
    ],
)
def test_controls_and_bidi_are_taken_out(raw: str, stored: str) -> None:
    assert clean(raw) == stored
    assert clean(stored) == stored


def test_every_inbound_is_cleaned_where_it_is_built() -> None:
    inbound = Inbound(
        channel="console",
        user_ref="u",
        chat_ref="u",
        kind="text",
        text="工资\u202e不给👨‍👩‍👧",
        display_name="张\u202e三",
    )
    assert inbound.text == "工资不给👨‍👩‍👧"
    assert inbound.display_name == "张三"
