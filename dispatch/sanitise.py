"""What a person typed, made safe to store and to show: invisible controls taken out.

A bidirectional override (U+202E) in a description reverses what follows it on a staff
member's screen, so a report can make its card say something it does not; isolates
(U+2066-2069), marks (U+200E/F, U+061C) and embeddings do the same more quietly. C0 and C1
control characters corrupt logs, terminals and WeChat's XML. Zero-width characters split
a phone number ("139\u200b1234\u200b5678") so that masking no longer sees it.

Taken out: C0 controls except tab and line feed (a carriage return becomes a line break),
DEL and C1 controls, every bidirectional control, zero-width spaces and joiners used as
such, the BOM, invisible operators, deprecated format characters, interlinear annotation
marks and the soft hyphen. Kept: everything an emoji is made of — the zero-width joiner
inside a sequence (👨‍👩‍👧), variation selectors (U+FE0F), skin tones, regional-indicator
flags, the tag characters of subdivision flags (🏴󠁧󠁢󠁳󠁣󠁴󠁿) and keycaps — and every printable
character of every script.

`Inbound` (dispatch/messages.py) runs its text and display name through `clean()` when it
is built, so every channel's adapter gets this without calling it.
"""

from __future__ import annotations

import re
import unicodedata

ZWJ = "\u200d"

# One pass removes these outright.
_REMOVE = re.compile(
    "["
    "\x00-\x08\x0b\x0c\x0e-\x1f"  # C0 controls but \t \n (\r is handled first)
    "\x7f-\x9f"  # DEL and C1 controls
    "\u00ad"  # soft hyphen: invisible, splits digits
    "\u061c"  # Arabic letter mark (bidi)
    "\u200b\u200c"  # zero-width space, zero-width non-joiner
    "\u200e\u200f"  # left-to-right / right-to-left marks
    "\u202a-\u202e"  # embeddings, overrides, pop
    "\u2060-\u2064"  # word joiner, invisible operators
    "\u2066-\u2069"  # isolates
    "\u206a-\u206f"  # deprecated format characters
    "\ufeff"  # byte order mark, zero-width no-break space
    "\ufff9-\ufffb"  # interlinear annotation
    "]"
)
_LINE_BREAKS = re.compile("\r\n?|[\u2028\u2029\x85]")


def _joins_emoji(before: str) -> bool:
    """Whether a zero-width joiner after `before` is part of an emoji sequence: it follows
    a pictograph, a variation selector, a skin tone or a tag (🏳️‍🌈, 👩🏽‍💻, 👨‍👩‍👧)."""
    if not before:
        return False
    code = ord(before)
    if 0xFE00 <= code <= 0xFE0F or 0x1F3FB <= code <= 0x1F3FF or 0xE0020 <= code <= 0xE007F:
        return True
    return unicodedata.category(before) == "So"


def clean(text: str) -> str:
    """`text` without the invisible characters listed above; idempotent."""
    if text.isascii() and text.isprintable():
        return text  # the common case, cheaply
    text = _LINE_BREAKS.sub("\n", text)
    text = _REMOVE.sub("", text)
    if ZWJ not in text:
        return text
    # A joiner is kept only between emoji; elsewhere (between digits, letters) it hides.
    out: list[str] = []
    for i, char in enumerate(text):
        if char == ZWJ:
            after = text[i + 1] if i + 1 < len(text) else ""
            if not (out and _joins_emoji(out[-1]) and after and _pictograph(after)):
                continue
        out.append(char)
    return "".join(out)


def _pictograph(after: str) -> bool:
    # What follows a joiner in an emoji sequence is itself a pictograph (♀, ❤, 👧, 🔥).
    return unicodedata.category(after) == "So"
