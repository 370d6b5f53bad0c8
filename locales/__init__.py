"""Message catalogs. The core returns keys and parameters; adapters render them here.

A parameter may itself be a message: {"$t": "cat.labor"} renders as that key in the
reader's locale (so a notice queued for later reads right in whichever language).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from string import Formatter
from typing import Any

import yaml

LOCALE_DIR = Path(__file__).parent
DEFAULT = "zh_CN"
_formatter = Formatter()


@cache
def catalog(locale: str) -> dict[str, str]:
    path = LOCALE_DIR / f"{locale}.yaml"
    if not path.exists():
        return {}
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return _flatten(data)


def _flatten(data: dict[str, Any], prefix: str = "") -> dict[str, str]:
    flat: dict[str, str] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, name + "."))
        else:
            flat[name] = str(value).rstrip("\n")
    return flat


@cache
def _synonyms(locale: str) -> dict[str, tuple[str, ...]]:
    path = LOCALE_DIR / f"{locale}.yaml"
    if not path.exists():
        return {}
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    found: dict[str, tuple[str, ...]] = {}

    def walk(node: Any, prefix: str) -> None:
        for key, value in (node or {}).items():
            if isinstance(value, dict):
                walk(value, f"{prefix}{key}.")
            else:
                found[f"{prefix}{key}"] = tuple(str(word) for word in value or ())

    walk(data.get(SYNONYMS), "")
    return found


def synonyms(label_key: str, locale: str | None = None) -> tuple[str, ...]:
    """Other words for the choice labelled `label_key` in `locale` (none if it has none)."""
    return _synonyms(locale or DEFAULT).get(label_key, ())


def available() -> list[str]:
    return sorted(p.stem for p in LOCALE_DIR.glob("*.yaml"))


def pick_locale(language_code: str | None, default: str = DEFAULT) -> str:
    """Map a platform language code ("zh-hans", "en-US") to one of our catalogs."""
    if not language_code:
        return default
    code = language_code.lower().replace("_", "-")
    if code.startswith("zh"):
        return "zh_CN"
    if code.startswith("en"):
        return "en"
    return default


# Channels where a person types rather than taps (WeChat, the console) read the section
# `typed:` of a catalogue first: a key there replaces the key of the same name, so that no
# text speaks of a button the reader cannot see.
TYPED = "typed"
# Words a person may type for a choice besides its label's own (dialogs/steps.py), keyed
# like the label: `synonyms.button.yes_right: [是, 对, …]`.
SYNONYMS = "synonyms"


def _param(value: Any, locale: str, typed: bool) -> Any:
    if isinstance(value, dict) and "$t" in value:
        params = {k: v for k, v in value.items() if k != "$t"}
        return text(value["$t"], locale, params, typed=typed)
    if isinstance(value, list):
        return "\n".join(str(_param(v, locale, typed)) for v in value)
    return value


def _template(key: str, locale: str, typed: bool) -> str | None:
    if typed:
        found = catalog(locale).get(f"{TYPED}.{key}") or catalog(DEFAULT).get(f"{TYPED}.{key}")
        if found is not None:
            return found
    return catalog(locale).get(key) or catalog(DEFAULT).get(key)


def text(
    key: str,
    locale: str | None = None,
    params: dict[str, Any] | None = None,
    *,
    typed: bool = False,
) -> str:
    """The message `key` in `locale` (falling back to zh_CN, then to the key itself);
    `typed`: as a channel without buttons says it (the `typed.` variant, where there is one)."""
    locale = locale or DEFAULT
    template = _template(key, locale, typed)
    if template is None:
        return key
    values = {name: _param(value, locale, typed) for name, value in (params or {}).items()}
    try:
        return template.format_map(_Defaults(values))
    except (ValueError, IndexError):
        return template


class _Defaults(dict[str, Any]):
    # A missing parameter shows as "-" rather than breaking the message.
    def __missing__(self, key: str) -> str:
        return "-"


def placeholders(template: str) -> set[str]:
    return {name for _, name, _, _ in _formatter.parse(template) if name}
