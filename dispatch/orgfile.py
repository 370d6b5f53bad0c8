"""Organisation files: the region tree and the units (centres, mediation committees, departments).

An organisation file is YAML with two top-level keys, ``regions`` (a tree) and ``units`` (a
list); the format is described in ``dispatch/data/README.md``. :func:`parse_org_text` checks
the whole file and reports every problem at once, each as ``"path: message"`` with a path such
as ``regions[0].children[1].level`` or ``units[3].region``, so an administrator can fix a file
in one pass.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, TypeVar

import yaml

from dispatch.vocab import CATEGORIES, LEVELS, UNIT_KINDS

DEMO_ORG_PATH: Final = Path(__file__).parent / "data" / "demo_org.yaml"

CODE_RE: Final = re.compile(r"[A-Za-z0-9_-]{1,40}")
MAX_NAME: Final = 60
ALL: Final = "all"

_T = TypeVar("_T")

_TOP_KEYS: Final = ("regions", "units")
_REGION_KEYS: Final = ("code", "name", "level", "children")
_REGION_REQUIRED: Final = ("code", "name", "level")
_UNIT_KEYS: Final = ("code", "name", "kind", "region", "categories")


@dataclass(frozen=True, slots=True)
class RegionSpec:
    code: str
    name: str
    level: str
    parent: str | None


@dataclass(frozen=True, slots=True)
class UnitSpec:
    code: str
    name: str
    kind: str
    region: str
    categories: tuple[str, ...]  # ("all",) when the unit takes every category


@dataclass(frozen=True, slots=True)
class OrgFile:
    regions: tuple[RegionSpec, ...]  # flattened, parents before children (tree order)
    units: tuple[UnitSpec, ...]


class OrgFileError(Exception):
    """The file is unusable; ``errors`` lists every problem as ``"path: message"``."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors


def load_org_file(path: Path) -> OrgFile:
    """Read and parse an organisation file; any problem raises :class:`OrgFileError`."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise OrgFileError([f"{path}: cannot read file: {exc.strerror or exc}"]) from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise OrgFileError(
            [f"{path}: not UTF-8 text (invalid byte at offset {exc.start})"]
        ) from None
    return parse_org_text(text)


def parse_org_text(text: str) -> OrgFile:
    """Parse and validate an organisation file's text; any problem raises :class:`OrgFileError`."""
    try:
        duplicates = _duplicate_keys(yaml.compose(text, Loader=yaml.SafeLoader))
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise OrgFileError([_yaml_error(exc, text)]) from None
    return _Checker(duplicates).check(doc)


def _duplicate_keys(root: yaml.Node | None) -> list[str]:
    """Repeated mapping keys, which YAML loaders otherwise resolve silently (last one wins)."""
    found: list[tuple[int, int, str]] = []
    stack, visited = [root], set()
    while stack:
        node = stack.pop()
        if node is None or id(node) in visited:  # aliases can share (or loop back to) nodes
            continue
        visited.add(id(node))
        if isinstance(node, yaml.MappingNode):
            keys: set[str] = set()
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode):
                    if key.value in keys:
                        found.append((key.start_mark.line, key.start_mark.column, key.value))
                    keys.add(key.value)
                stack.append(value)
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)
    return [
        f"line {ln + 1}, column {col + 1}: duplicate key {key}" for ln, col, key in sorted(found)
    ]


def _yaml_error(exc: yaml.YAMLError, text: str) -> str:
    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem_mark is not None:
        mark = exc.problem_mark
        problem = exc.problem or exc.context or "invalid YAML"
        return f"line {mark.line + 1}, column {mark.column + 1}: {problem}"
    if isinstance(exc, yaml.reader.ReaderError):  # e.g. a control character in the text
        pos = exc.position
        line = text.count("\n", 0, pos) + 1
        column = pos - (text.rfind("\n", 0, pos) + 1) + 1
        return f"line {line}, column {column}: unacceptable character #x{exc.character:04x}"
    return f"invalid YAML: {exc}"


def _type_name(value: object) -> str:
    return "nothing" if value is None else type(value).__name__


class _Checker:
    """One validation pass; collects errors instead of stopping at the first."""

    def __init__(self, errors: list[str]) -> None:
        self.errors = errors
        self.regions: list[RegionSpec] = []
        self.region_at: dict[str, str] = {}  # code -> path, for duplicate reports
        self.region_level: dict[str, str | None] = {}  # code -> level (None if invalid)

    def error(self, path: str, message: str) -> None:
        self.errors.append(f"{path}: {message}")

    def check(self, doc: object) -> OrgFile:
        if doc is None:
            raise OrgFileError(["top level: the file is empty (expected keys regions, units)"])
        if not isinstance(doc, dict):
            raise OrgFileError(
                [f"top level: expected a mapping with keys regions, units, got {_type_name(doc)}"]
            )
        self.unknown_keys(doc, _TOP_KEYS, "")

        regions = doc.get("regions")
        if "regions" not in doc:
            self.error("regions", "required key missing")
        elif not isinstance(regions, list) or not regions:
            self.error("regions", f"expected a non-empty list, got {_describe(regions)}")
        else:
            for i, node in enumerate(regions):
                self.region(node, f"regions[{i}]", None, None, 0)

        units: list[UnitSpec] = []
        raw_units = doc.get("units")
        if "units" not in doc:
            self.error("units", "required key missing")
        elif not isinstance(raw_units, list):
            self.error("units", f"expected a list, got {_type_name(raw_units)}")
        else:
            seen: dict[str, str] = {}
            for i, node in enumerate(raw_units):
                unit = self.unit(node, f"units[{i}]", seen)
                if unit is not None:
                    units.append(unit)

        if self.errors:
            raise OrgFileError(self.errors)
        return OrgFile(regions=tuple(self.regions), units=tuple(units))

    # -- pieces -------------------------------------------------------------------------------

    def unknown_keys(self, node: dict[Any, Any], allowed: tuple[str, ...], path: str) -> None:
        for key in node:
            if key not in allowed:
                where = f"{path}.{key}" if path else str(key)
                self.error(where, f"unknown key (allowed: {', '.join(allowed)})")

    def mapping(self, node: object, path: str, keys: tuple[str, ...]) -> dict[Any, Any] | None:
        if not isinstance(node, dict):
            self.error(
                path, f"expected a mapping with keys {', '.join(keys)}, got {_type_name(node)}"
            )
            return None
        return node

    def field(
        self, raw: dict[Any, Any], key: str, path: str, check: Callable[[Any, str], _T | None]
    ) -> _T | None:
        """``check`` the value of required field ``key``, or report it missing."""
        if key not in raw:
            self.error(f"{path}.{key}", "required field missing")
            return None
        return check(raw[key], f"{path}.{key}")

    def code(self, value: object, path: str, *, allow_int: bool) -> str | None:
        """A code as a string; ints are accepted where ``allow_int`` (numeric region codes)."""
        if allow_int and isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str):
            hint = " (quote it)" if type(value) in (int, float) else ""
            self.error(path, f"expected a string code, got {_type_name(value)}{hint}")
            return None
        if not CODE_RE.fullmatch(value):
            self.error(path, f'invalid code "{value}" (use 1-40 of A-Z a-z 0-9 _ -)')
        return value

    def name(self, value: object, path: str) -> str | None:
        if not isinstance(value, str):
            self.error(path, f"expected a string, got {_type_name(value)}")
            return None
        value = value.strip()
        if not value:
            self.error(path, "must not be empty")
            return None
        if len(value) > MAX_NAME:
            self.error(path, f"too long ({len(value)} characters, max {MAX_NAME})")
            return None
        return value

    def choice(self, value: object, path: str, what: str, known: tuple[str, ...]) -> str | None:
        if not isinstance(value, str):
            self.error(path, f"expected a {what} ({', '.join(known)}), got {_type_name(value)}")
            return None
        if value not in known:
            self.error(path, f'unknown {what} "{value}" (known: {", ".join(known)})')
            return None
        return value

    def region_code(self, value: object, path: str) -> str | None:
        return self.code(value, path, allow_int=True)

    def unit_code(self, value: object, path: str) -> str | None:
        return self.code(value, path, allow_int=False)

    def level(self, value: object, path: str) -> str | None:
        return self.choice(value, path, "level", LEVELS)

    def kind(self, value: object, path: str) -> str | None:
        return self.choice(value, path, "kind", UNIT_KINDS)

    def region(
        self, node: object, path: str, parent: str | None, parent_level: str | None, depth: int
    ) -> None:
        raw = self.mapping(node, path, _REGION_REQUIRED)
        if raw is None:
            return
        if depth >= len(LEVELS):  # only reachable with bad levels (or a looping YAML alias)
            self.error(path, f"nested too deeply (at most {len(LEVELS)} levels)")
            return
        self.unknown_keys(raw, _REGION_KEYS, path)
        code = self.field(raw, "code", path, self.region_code)
        name = self.field(raw, "name", path, self.name)
        level = self.field(raw, "level", path, self.level)
        if level is not None and parent_level is not None:
            expected = LEVELS[LEVELS.index(parent_level) + 1]
            if level != expected:
                self.error(
                    f"{path}.level",
                    f"{level} cannot be a child of a {parent_level} (expected {expected})",
                )
                level = None

        if code is not None:
            if code in self.region_at:
                self.error(
                    f"{path}.code",
                    f"duplicate region code {code} (first at {self.region_at[code]})",
                )
                code = None
            else:
                self.region_at[code] = path
                self.region_level[code] = level
        if code is not None and name is not None and level is not None:
            self.regions.append(RegionSpec(code=code, name=name, level=level, parent=parent))

        children = raw.get("children", [])
        if not isinstance(children, list):
            self.error(f"{path}.children", f"expected a list, got {_type_name(children)}")
            return
        if children and level == LEVELS[-1]:
            self.error(f"{path}.children", f"a {level} cannot have children")
            return
        for i, child in enumerate(children):
            # Children of an invalid parent are still checked, only not against its level.
            self.region(child, f"{path}.children[{i}]", code, level, depth + 1)

    def unit(self, node: object, path: str, seen: dict[str, str]) -> UnitSpec | None:
        raw = self.mapping(node, path, _UNIT_KEYS)
        if raw is None:
            return None
        self.unknown_keys(raw, _UNIT_KEYS, path)
        code = self.field(raw, "code", path, self.unit_code)
        if code is not None:
            if code in seen:
                self.error(f"{path}.code", f"duplicate unit code {code} (first at {seen[code]})")
            else:
                seen[code] = path
        name = self.field(raw, "name", path, self.name)
        kind = self.field(raw, "kind", path, self.kind)
        region = self.field(raw, "region", path, self.unit_region)
        categories = self.field(raw, "categories", path, self.categories)
        if code is None or name is None or kind is None or region is None or categories is None:
            return None
        return UnitSpec(code=code, name=name, kind=kind, region=region, categories=categories)

    def unit_region(self, value: object, path: str) -> str | None:
        code = self.code(value, path, allow_int=True)
        if code is None:
            return None
        if code not in self.region_at:
            self.error(path, f"no region {code}")
            return None
        if self.region_level[code] == LEVELS[-1]:
            self.error(path, f"region {code} is a grid; units belong at village level or above")
            return None
        return code

    def categories(self, value: object, path: str) -> tuple[str, ...] | None:
        if not isinstance(value, list) or not value:
            self.error(
                path, f"expected a non-empty list of categories or [all], got {_describe(value)}"
            )
            return None
        if ALL in value:
            if len(value) != 1:
                self.error(path, '"all" must be the only entry')
                return None
            return (ALL,)
        result: list[str] = []
        for i, item in enumerate(value):
            category = self.choice(item, f"{path}[{i}]", "category", CATEGORIES)
            if category is None:
                continue
            if category in result:
                self.error(f"{path}[{i}]", f'duplicate category "{category}"')
                continue
            result.append(category)
        return tuple(result) if len(result) == len(value) else None


def _describe(value: object) -> str:
    return "an empty list" if value == [] else _type_name(value)
