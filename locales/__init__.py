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


def _param(value: Any, locale: str) -> Any:
    if isinstance(value, dict) and "$t" in value:
        return text(value["$t"], locale, {k: v for k, v in value.items() if k != "$t"})
    if isinstance(value, list):
        return "\n".join(str(_param(v, locale)) for v in value)
    return value


def text(key: str, locale: str | None = None, params: dict[str, Any] | None = None) -> str:
    """The message `key` in `locale` (falling back to zh_CN, then to the key itself)."""
    locale = locale or DEFAULT
    template = catalog(locale).get(key) or catalog(DEFAULT).get(key)
    if template is None:
        return key
    values = {name: _param(value, locale) for name, value in (params or {}).items()}
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
