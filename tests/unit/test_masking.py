"""Masking: phone and ID numbers shown outside the case itself keep only what identifies
them to the person who knows them already, however the reporter wrote them."""

from __future__ import annotations

import pytest

from dispatch.masking import mask_phone, mask_text


@pytest.mark.parametrize(
    ("phone", "shown"),
    [
        ("13812345678", "138****5678"),
        ("138-1234-5678", "138****5678"),
        ("138 1234 5678", "138****5678"),
        ("+8613812345678", "138****5678"),  # a shared contact card's form
        ("8613812345678", "138****5678"),
        ("１３８１２３４５６７８", "138****5678"),
        ("0691-2123456", "069****3456"),
        ("12345", "*****"),  # too short to keep anything
        ("", ""),
        (None, ""),
    ],
)
def test_mask_phone(phone: str | None, shown: str) -> None:
    assert mask_phone(phone) == shown


MOBILE = "139****5678"
LANDLINE = "0691-****3456"


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        # Mobile numbers, grouped, prefixed, full-width, next to letters or other numbers.
        ("电话13912345678找我", f"电话{MOBILE}找我"),
        ("139 1234 5678", MOBILE),
        ("139-1234-5678", MOBILE),
        ("1391-234-5678", MOBILE),
        ("139.1234.5678", MOBILE),
        ("139　1234　5678", MOBILE),  # ideographic spaces
        ("139\n1234\n5678", MOBILE),
        ("+86 139 1234 5678", MOBILE),
        ("+86-13912345678", MOBILE),
        ("(+86)13912345678", MOBILE),
        ("0086 139 1234 5678", MOBILE),
        ("86-13912345678", MOBILE),
        ("１３９１２３４５６７８", MOBILE),
        ("１３９-１２３４-５６７８", MOBILE),
        ("＋８６ １３９ １２３４ ５６７８", MOBILE),
        ("1391234567８", MOBILE),  # one full-width digit among ASCII ones
        ("加vx13912345678", f"加vx{MOBILE}"),
        ("13912345678@163.com", f"{MOBILE}@163.com"),
        ("手机：139 1234 5678，", f"手机：{MOBILE}，"),
        ("电话139 1234 5678 2026-000012", f"电话{MOBILE} 2026-000012"),
        ("转账12000元到13912345678", f"转账12000元到{MOBILE}"),
        ("两个号码 13812345678 和 15987654321", "两个号码 138****5678 和 159****4321"),
        ("19212345678", "192****5678"),  # a newer carrier's prefix
        # Landlines with their area code, however grouped or bracketed.
        ("座机0691-2123456", f"座机{LANDLINE}"),
        ("(0691)2123456", LANDLINE),
        ("（０６９１）２１２３４５６", LANDLINE),
        ("０６９１－２１２３４５６", LANDLINE),
        ("0691-212 3456", LANDLINE),
        ("0691 2123456", LANDLINE),
        ("06912123456", LANDLINE),
        ("0691—2123456", LANDLINE),
        ("+86 (0691) 212-3456", LANDLINE),
        ("tel0691-2123456", f"tel{LANDLINE}"),
        ("0691-2123456转123", f"{LANDLINE}转123"),
        ("010-12345678", "010-****5678"),
        ("(010)12345678", "010-****5678"),
        ("021-6123 4567", "021-****4567"),
        # Without the area code only after a word that says it is a number.
        ("座机 2123456", "座机 ****3456"),
        ("电话：212 3456", "电话：****3456"),
        # Numbers abroad keep their country code and last four digits.
        ("+1 650-253-0000", "+1 ****0000"),
        # Resident identity numbers: 18 characters, grouped or not, and the old 15 digits.
        ("身份证53280119900101123X", "身份证532***********123X"),
        ("身份证532801199001011234。", "身份证532***********1234。"),
        ("身份证号53280119900101123x", "身份证号532***********123x"),
        ("532801 19900101 123X", "532***********123X"),
        ("5328 0119 9001 0112 3X", "532***********123X"),
        ("５３２８０１１９９００１０１１２３Ｘ", "532***********123X"),
        ("ID53280119900101123X", "ID532***********123X"),
        ("532801900101123", "532********1123"),
        (
            "身份证532801199001011234，电话139 1234 5678",
            f"身份证532***********1234，电话{MOBILE}",
        ),
        ("13912345678 1234567", f"{MOBILE} 1234567"),  # not an ID: 5678-12-34 is no birthday
    ],
)
def test_mask_text(text: str, masked: str) -> None:
    assert mask_text(text) == masked
    assert mask_text(masked) == masked  # masking twice changes nothing


@pytest.mark.parametrize(
    "text",
    [
        "案件 2026-000001 已受理",  # case numbers stay readable
        "案件2026-000012",  # though it reads as a Guangzhou landline (020 2600 0012)
        "请查 2026-000012 和 2026-000013",
        "欠薪 12000 元，拖了 3 个月",
        "12000元",
        "2026-11-24 14:30 在村委会",
        "２０２６－１１－２４",
        "20261124",
        "2026年11月24日",
        "卡号 6222021234567890123",  # a longer run of digits is no phone number
        "订单号 202611241234567890",  # 18 digits, but no date of birth in them
        "IMEI 861234567890123",
        "12812345678",  # no mobile number starts with 12
        "139 1234 567",  # one digit short
        "95588",
        "金额1391234元",
        "拖欠3个月共12000元，涉及25户",
    ],
)
def test_text_without_phone_or_id_numbers_is_left_alone(text: str) -> None:
    assert mask_text(text) == text


def test_a_card_long_description_is_masked_throughout() -> None:
    """Every number in a description as long as a card shows, not just the first."""
    part = "隔壁装修吵，案件2026-000012，欠12000元，电话139 1234 5678，座机0691-2123456。"
    masked = mask_text(part * 8)
    assert masked == f"隔壁装修吵，案件2026-000012，欠12000元，电话{MOBILE}，座机{LANDLINE}。" * 8


async def test_a_case_card_masks_numbers_in_a_typed_address() -> None:
    from datetime import UTC, datetime
    from typing import cast
    from zoneinfo import ZoneInfo

    from sqlalchemy.ext.asyncio import AsyncSession

    from dispatch.notifications import case_card
    from storage.models import Case

    case = Case(
        number="2026-000001",
        category="neighbor",
        risk="general",
        status="assigned",
        description="楼上漏水",
        address="村口小卖部旁边，电话13912345678",
        danger=False,
        created_at=datetime(2026, 11, 24, 1, 30, tzinfo=UTC),
    )
    # No region: the card reads nothing from the database.
    session = cast(AsyncSession, None)
    hidden = await case_card(session, ZoneInfo("Asia/Shanghai"), case, reveal=False)
    shown = await case_card(session, ZoneInfo("Asia/Shanghai"), case, reveal=True)
    assert "13912345678" not in str(hidden["place"]) and "139****5678" in str(hidden["place"])
    assert "13912345678" in str(shown["place"])
