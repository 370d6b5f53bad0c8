"""Masking of phone and ID numbers outside the case itself (docs/architecture.md, "Privacy")."""

from __future__ import annotations

import re

# Mainland mobile numbers (11 digits from 1[3-9]) and landlines with an area code.
_MOBILE = re.compile(r"(?<!\d)(1[3-9]\d)(\d{4})(\d{4})(?!\d)")
_LANDLINE = re.compile(r"(?<!\d)(0\d{2,3})[- ]?(\d{3,4})(\d{4})(?!\d)")
# Resident identity numbers: 17 digits and a digit or X.
_ID_CARD = re.compile(r"(?<![0-9A-Za-z])(\d{6})(\d{8})(\d{3}[\dXx])(?![0-9A-Za-z])")


def mask_phone(phone: str | None) -> str:
    if not phone:
        return ""
    digits = re.sub(r"\D", "", phone)
    if len(digits) < 7:
        return "*" * len(digits)
    return f"{digits[:3]}****{digits[-4:]}"


def mask_text(text: str) -> str:
    """Mask every phone and ID number in free text (descriptions, summaries, logs)."""
    text = _ID_CARD.sub(lambda m: f"{m[1][:3]}***********{m[3][-4:]}", text)
    text = _MOBILE.sub(lambda m: f"{m[1]}****{m[3]}", text)
    return _LANDLINE.sub(lambda m: f"{m[1]}-****{m[3]}", text)
