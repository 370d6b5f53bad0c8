"""The message catalogs: every locale has the same keys and placeholders as zh_CN, every key
the code asks for exists, and rendering never leaves a raw {placeholder} or raises."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

import locales
from locales import DEFAULT, LOCALE_DIR, catalog, pick_locale, placeholders, text

ROOT = Path(__file__).resolve().parents[1]
CODE_DIRS = ("bot", "handlers", "dialogs", "dispatch")
KEY_SHAPE = re.compile(r"^[a-z_]+\.[a-z0-9_.+\-]+$")

OTHER_LOCALES = [name for name in locales.available() if name != DEFAULT]


def _sections() -> set[str]:
    data = yaml.safe_load((LOCALE_DIR / f"{DEFAULT}.yaml").read_text(encoding="utf-8"))
    return {str(key) for key in data}


def _string_constants(tree: ast.AST) -> Iterator[tuple[int, str]]:
    """String constants in a module, leaving out the literal pieces of f-strings
    (f"report.ask_{step}" has the piece "report.ask_", which is not a whole key)."""
    pieces = {
        id(value)
        for node in ast.walk(tree)
        if isinstance(node, ast.JoinedStr)
        for value in node.values
    }
    for node in ast.walk(tree):
        if not isinstance(node, ast.Constant) or id(node) in pieces:
            continue
        if isinstance(node.value, str):
            yield node.lineno, node.value


def _keys_in_code() -> dict[str, list[str]]:
    """Message-key-looking string constants in the code, each with where it is used."""
    sections = _sections()
    found: dict[str, list[str]] = {}
    for folder in CODE_DIRS:
        for path in sorted((ROOT / folder).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
            for line, value in _string_constants(tree):
                if KEY_SHAPE.match(value) and value.split(".", 1)[0] in sections:
                    where = f"{path.relative_to(ROOT)}:{line}"
                    found.setdefault(value, []).append(where)
    return found


def _keys_from_families() -> dict[str, list[str]]:
    """The keys the code builds as f"{prefix}.{code}" from its code lists."""
    from bot.telegram_bot import COMMANDS
    from dialogs.report_dialog import DANGER_RISK, EDITABLE_CITIZEN, EDITABLE_STAFF, PEOPLE
    from dispatch.cases import AGREEMENTS, OUTCOMES
    from dispatch.vocab import CATEGORIES, RISKS, ROLES
    from dispatch.workflow import STATES, TRANSITIONS

    families: dict[str, tuple[str, ...]] = {
        "cat": tuple(CATEGORIES),
        "risk": tuple(RISKS),
        "role": tuple(ROLES),
        "status": STATES,
        "event": (*(t.name for t in TRANSITIONS), "decline"),
        "outcome": OUTCOMES,
        "agreement": AGREEMENTS,
        "people": PEOPLE,
        "danger": tuple(DANGER_RISK),
        "edit": (*EDITABLE_CITIZEN, *EDITABLE_STAFF),
        "command_help": COMMANDS,
    }
    found: dict[str, list[str]] = {}
    for prefix, codes in families.items():
        for code in codes:
            found.setdefault(f"{prefix}.{code}", []).append(f"{prefix}.{{code}}")
    return found


def _dummy(template: str) -> dict[str, str]:
    return {name: f"<{name}>" for name in placeholders(template)}


def test_catalogs_exist() -> None:
    assert DEFAULT in locales.available()
    assert "en" in locales.available()
    assert catalog(DEFAULT)
    assert all(isinstance(value, str) for value in catalog(DEFAULT).values())


@pytest.mark.parametrize("locale", OTHER_LOCALES)
def test_same_keys_as_default(locale: str) -> None:
    reference = set(catalog(DEFAULT))
    keys = set(catalog(locale))
    missing = sorted(reference - keys)
    extra = sorted(keys - reference)
    assert not missing and not extra, (
        f"{locale}.yaml differs from {DEFAULT}.yaml: missing {missing}, extra {extra}"
    )


@pytest.mark.parametrize("locale", OTHER_LOCALES)
def test_same_placeholders_as_default(locale: str) -> None:
    reference = catalog(DEFAULT)
    other = catalog(locale)
    mismatched = {
        key: (sorted(placeholders(reference[key])), sorted(placeholders(other[key])))
        for key in sorted(reference.keys() & other.keys())
        if placeholders(reference[key]) != placeholders(other[key])
    }
    assert not mismatched, f"placeholders differ ({DEFAULT}, {locale}): {mismatched}"


def test_code_uses_only_known_keys() -> None:
    found = _keys_in_code()
    assert len(found) > 50, "the scan found suspiciously few keys; has the code moved?"
    known = catalog(DEFAULT)
    missing = {key: where for key, where in sorted(found.items()) if key not in known}
    assert not missing, f"keys used in code but missing from {DEFAULT}.yaml: {missing}"


def test_key_families_are_complete() -> None:
    known = catalog(DEFAULT)
    missing = sorted(key for key in _keys_from_families() if key not in known)
    assert not missing, f"keys built from code lists but missing from {DEFAULT}.yaml: {missing}"


@pytest.mark.parametrize("locale", [DEFAULT, "en"])
def test_rendering_fills_every_placeholder(locale: str) -> None:
    left: dict[str, str] = {}
    for key, template in catalog(locale).items():
        rendered = text(key, locale, _dummy(template))
        if "{" in rendered or "}" in rendered:
            left[key] = rendered
        for value in _dummy(template).values():
            assert value in rendered, f"{locale}:{key} did not use {value}"
    assert not left, f"raw braces left after rendering in {locale}: {left}"


@pytest.mark.parametrize("locale", [DEFAULT, "en"])
def test_missing_param_renders_as_dash(locale: str) -> None:
    for key, template in catalog(locale).items():
        names = placeholders(template)
        if not names:
            continue
        rendered = text(key, locale)
        assert rendered == template.format_map(dict.fromkeys(names, "-")), key
        assert "{" not in rendered, key


def test_missing_param_example() -> None:
    assert text("status.not_found", "zh_CN").startswith("没有找到编号为 - 的案件")
    assert text("status.not_found", "en", {"other": 1}).startswith("We could not find case -,")


def test_message_params_render_in_reader_locale() -> None:
    params = {"category": {"$t": "cat.labor"}}
    assert "劳动争议" in text("report.ask_confirm_category", "zh_CN", params)
    assert "Labour dispute" in text("report.ask_confirm_category", "en", params)


def test_unknown_key_and_locale_fall_back() -> None:
    assert text("no_such.key", "en") == "no_such.key"
    assert text("nav.cancelled", "fr") == catalog(DEFAULT)["nav.cancelled"]
    assert text("nav.cancelled", None) == catalog(DEFAULT)["nav.cancelled"]


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("zh-hans", "zh_CN"),
        ("zh-TW", "zh_CN"),
        ("zh", "zh_CN"),
        ("zh_CN", "zh_CN"),
        ("en", "en"),
        ("en-US", "en"),
        ("EN_gb", "en"),
        (None, DEFAULT),
        ("", DEFAULT),
        ("fr", DEFAULT),
    ],
)
def test_pick_locale(code: str | None, expected: str) -> None:
    assert pick_locale(code) == expected


def test_pick_locale_default_is_zh_cn() -> None:
    assert DEFAULT == "zh_CN"
    assert pick_locale("fr", default="en") == "en"
