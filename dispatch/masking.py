"""Masking of phone and ID numbers outside the case itself (docs/architecture.md, "Privacy").

People write numbers every way a keyboard allows: "139 1234 5678", "+86-13912345678",
"(0691)2123456", full-width "１３９１２３４５６７８", an identity number in groups of four. Phone
numbers are found by libphonenumber's matcher (the `phonenumbers` package), which knows which
mainland prefixes and area codes exist and how long the numbers behind them are; what it is
known to miss is caught by three short patterns below, each with the case behind it. Resident
identity numbers (18 characters, and the old 15-digit ones) are matched by shape and checked
for a plausible date of birth, so unrelated digit runs stay readable.

Everything is matched on a folded copy of the text of the same length (full-width digits and
signs made ASCII, Latin letters blanked), so a match's offsets are the original's.
"""

from __future__ import annotations

import re
from collections.abc import Callable

# ~20 ms and ~1.5 MB to import (the mainland's metadata is loaded on first use, a few ms more):
# cheap enough to import with the domain rather than lazily.
import phonenumbers
from phonenumbers import Leniency, PhoneNumber, PhoneNumberMatcher, PhoneNumberType

_REGION = "CN"

# Same-length folding: full-width digits, plus, hyphen and space as ASCII; the ideographic
# space too. Every other character is kept (so offsets never move).
_FOLD = {0xFF10 + i: ord("0") + i for i in range(10)} | {
    ord("＋"): ord("+"),
    ord("－"): ord("-"),
    ord("\u3000"): ord(" "),
    ord("Ｘ"): ord("X"),
    ord("ｘ"): ord("x"),
}
# libphonenumber refuses a number next to a Latin letter ("a product code"), but people write
# "vx13912345678" and "tel0691-2123456"; a masked product code costs nothing, a leaked number
# does. So the matcher sees letters as spaces.
_LETTERS = re.compile(r"[A-Za-zＡ-Ｚａ-ｚ]")

# Resident identity numbers: 6-digit region, birth date, sequence, check character, with at
# most one space or hyphen between any two characters (people group them by 4 or by field).
_ID_18 = re.compile(r"(?<!\d)[1-9](?:[ \-]?\d){16}[ \-]?[\dXx](?!\d)")
_ID_15 = re.compile(r"(?<!\d)[1-9](?:[ \-]?\d){14}(?!\d)")
_SEPARATORS = re.compile(r"[\s\-]")

# A bare mobile number the matcher can pass over: when it takes "139 1234 5678 2026-000012"
# as one candidate, or a number split over lines ("139\n1234\n5678").
_MOBILE = re.compile(r"(?<!\d)(1[3-9]\d)[\s\-]?(\d{4})[\s\-]?(\d{4})(?!\d)")
# A local landline without its area code ("座机 2123456") is only a number after a word that
# says so: on its own, seven or eight digits are as likely an amount or a date.
_LOCAL_LANDLINE = re.compile(
    r"(?:电话|座机|固话|手机|号码|联系|热线|tel|phone)[^\d\n]{0,6}?"
    r"(?<!\d)(\d{3,4}[ \-]?\d{4})(?!\d)",
    re.IGNORECASE,
)


def _fold(text: str) -> str:
    return text.translate(_FOLD)


def _digits(text: str) -> str:
    return "".join(c for c in _fold(text) if c.isascii() and c.isdigit())


def mask_phone(phone: str | None) -> str:
    """A phone number as staff off the case may see it: 139****5678."""
    if not phone:
        return ""
    digits = _digits(phone)
    # "+86 139…", "0086 139…", "86139…": the country code is not part of the number.
    for prefix in ("0086", "86"):
        if len(digits) == len(prefix) + 11 and digits.startswith(prefix + "1"):
            digits = digits[len(prefix) :]
    if len(digits) < 7:
        return "*" * len(digits)
    return f"{digits[:3]}****{digits[-4:]}"


def mask_text(text: str) -> str:
    """Mask every phone and ID number in free text (descriptions, summaries, reasons,
    comments) shown to anyone but the people who may see it whole."""
    text = _sub(_ID_18, text, _masked_id)
    text = _sub(_ID_15, text, _masked_id)
    text = _mask_matched_numbers(text)
    text = _sub(_MOBILE, text, lambda m: f"{m[1]}****{m[3]}")
    return _sub(_LOCAL_LANDLINE, text, _masked_local, group=1)


def _sub(
    pattern: re.Pattern[str],
    text: str,
    mask: Callable[[re.Match[str]], str | None],
    *,
    group: int = 0,
) -> str:
    """`pattern.sub` run on the folded text and applied to the original: `mask` returns the
    masked form of a match's `group`, or None to leave it as written."""
    out: list[str] = []
    end = 0
    for match in pattern.finditer(_fold(text)):
        masked = mask(match)
        if masked is None:
            continue
        start, stop = match.span(group)
        out += [text[end:start], masked]
        end = stop
    out.append(text[end:])
    return "".join(out)


def _masked_id(match: re.Match[str]) -> str | None:
    number = _SEPARATORS.sub("", match[0])
    if len(number) == 18:
        year, month, day = int(number[6:10]), int(number[10:12]), int(number[12:14])
        stars = 11
    else:  # 15 digits, before 1999: a two-digit year
        year, month, day = 1900 + int(number[6:8]), int(number[8:10]), int(number[10:12])
        stars = 8
    # A birth date that cannot be one: a bank account, an order number, two numbers in a row.
    if not (1900 <= year <= 2099 and 1 <= month <= 12 and 1 <= day <= 31):
        return None
    return f"{number[:3]}{'*' * stars}{number[-4:]}"


def _masked_local(match: re.Match[str]) -> str:
    return f"****{_digits(match[1])[-4:]}"


def _mask_matched_numbers(text: str) -> str:
    """The numbers libphonenumber finds, masked. A candidate it finds but we refuse (a case
    number such as 2026-000012 reads as a Guangzhou landline) is blanked and the text searched
    again, because the matcher does not look inside a candidate it has used."""
    seen = _LETTERS.sub(" ", _fold(text))
    spans: list[tuple[int, int, str]] = []
    while True:
        refused = False
        for match in PhoneNumberMatcher(seen, _REGION, leniency=Leniency.VALID):
            masked = _masked_number(match.number, match.raw_string)
            if masked is None:
                refused = True
            else:
                spans.append((match.start, match.end, masked))
            seen = seen[: match.start] + " " * (match.end - match.start) + seen[match.end :]
        if not refused:
            break
    for start, end, masked in sorted(spans, reverse=True):
        text = text[:start] + masked + text[end:]
    return text


def _masked_number(number: PhoneNumber, raw: str) -> str | None:
    national = phonenumbers.national_significant_number(number)
    if number.country_code != 86:
        return f"+{number.country_code} ****{national[-4:]}"
    kind = phonenumbers.number_type(number)
    if kind in (PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE) and (
        len(national) == 11 and national.startswith("1")
    ):
        return f"{national[:3]}****{national[-4:]}"
    # Mainland landlines are written with the trunk 0 ("0691-…") or a country code; digits
    # written without either are a case number, a date or an amount that happens to fit.
    if _digits(raw) == national:
        return None
    area = phonenumbers.length_of_geographical_area_code(number)
    if area:
        return f"0{national[:area]}-****{national[-4:]}"
    return f"****{national[-4:]}"
