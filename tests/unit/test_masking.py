"""Masking: phone and ID numbers shown outside the case itself keep only what identifies
them to the person who knows them already."""

from __future__ import annotations

import pytest

from dispatch.masking import mask_phone, mask_text


@pytest.mark.parametrize(
    ("phone", "shown"),
    [
        ("13812345678", "138****5678"),
        ("138-1234-5678", "138****5678"),
        ("138 1234 5678", "138****5678"),
        ("12345", "*****"),  # too short to keep anything
        ("", ""),
        (None, ""),
    ],
)
def test_mask_phone(phone: str | None, shown: str) -> None:
    assert mask_phone(phone) == shown


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("电话13812345678找我", "电话138****5678找我"),
        ("座机0691-2123456", "座机0691-****3456"),
        ("身份证53280119900101123X", "身份证532***********123X"),
        ("身份证532801199001011234。", "身份证532***********1234。"),
        ("两个号码 13812345678 和 15987654321", "两个号码 138****5678 和 159****4321"),
    ],
)
def test_mask_text(text: str, masked: str) -> None:
    assert mask_text(text) == masked


@pytest.mark.parametrize(
    "text",
    [
        "案件 2026-000001 已受理",  # case numbers stay readable
        "欠薪 12000 元，拖了 3 个月",
        "卡号 6222021234567890123",  # a longer run of digits is no phone number
        "12812345678",  # no mobile number starts with 12
    ],
)
def test_text_without_phone_or_id_numbers_is_left_alone(text: str) -> None:
    assert mask_text(text) == text
