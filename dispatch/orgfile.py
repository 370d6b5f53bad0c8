"""Organisation files: the region tree and the units (centres, mediation committees, departments).

An organisation file is YAML with two top-level keys, ``regions`` (a tree) and ``units`` (a
list); the format is described in ``dispatch/data/README.md``. :func:`parse_org_text` checks
the whole file and reports every problem at once, each as ``"path: message"`` with a path such
as ``regions[0].children[1].level`` or ``units[3].region``, so an administrator can fix a file
in one pass.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, ClassVar, Final

import yaml
from pydantic import BeforeValidator, PlainValidator

from dispatch.datafile import (
    DataFileError,
    DataModel,
    Loc,
    Problem,
    located,
    path_of,
    read_text,
    read_yaml,
    type_name,
    validate,
    yaml_problem,
)
from dispatch.vocab import CATEGORIES, LEVELS, UNIT_KINDS

DEMO_ORG_PATH: Final = Path(__file__).parent / "data" / "demo_org.yaml"

CODE_RE: Final = re.compile(r"[A-Za-z0-9_-]{1,40}")
MAX_NAME: Final = 60
ALL: Final = "all"


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


class OrgFileError(DataFileError):
    """The file is unusable; ``errors`` lists every problem as ``"path: message"``."""


def load_org_file(path: Path) -> OrgFile:
    """Read and parse an organisation file; any problem raises :class:`OrgFileError`."""
    try:
        text = read_text(path)
    except DataFileError as exc:
        raise OrgFileError(exc.errors) from None
    return parse_org_text(text)


def parse_org_text(text: str) -> OrgFile:
    """Parse and validate an organisation file's text; any problem raises :class:`OrgFileError`.

    Outcomes: the file as an :class:`OrgFile`; or every problem at once, repeated YAML keys
    first, then the rest in file order; or a YAML syntax error alone.
    """
    try:
        document = read_yaml(text)
    except yaml.YAMLError as exc:
        raise OrgFileError([yaml_problem(exc, text)]) from None
    errors = [
        f"line {d.line}, column {d.column}: duplicate key {d.key}" for d in document.duplicates
    ]
    doc = document.data
    if doc is None:
        raise OrgFileError(["top level: the file is empty (expected keys regions, units)"])
    if not isinstance(doc, dict):
        raise OrgFileError(
            [f"top level: expected a mapping with keys regions, units, got {type_name(doc)}"]
        )
    model, found = validate(_OrgDocument, doc)
    bad = {problem.loc for problem in found}
    found += _References(bad).check(doc)
    errors += located(_OrgDocument, found)
    if errors or model is None:
        raise OrgFileError(errors)
    return model.org_file()


# -- fields -------------------------------------------------------------------------------------


def _code(value: object, *, allow_int: bool) -> str:
    """A code as a string; ints are accepted where ``allow_int`` (numeric region codes)."""
    if allow_int and isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        hint = " (quote it)" if type(value) in (int, float) else ""
        raise ValueError(f"expected a string code, got {type_name(value)}{hint}")
    if not CODE_RE.fullmatch(value):
        raise ValueError(f'invalid code "{value}" (use 1-40 of A-Z a-z 0-9 _ -)')
    return value


def _region_code(value: object) -> str:
    return _code(value, allow_int=True)


def _unit_code(value: object) -> str:
    return _code(value, allow_int=False)


def _name(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected a string, got {type_name(value)}")
    value = value.strip()
    if not value:
        raise ValueError("must not be empty")
    if len(value) > MAX_NAME:
        raise ValueError(f"too long ({len(value)} characters, max {MAX_NAME})")
    return value


def _choice(what: str, known: tuple[str, ...]) -> Callable[[object], str]:
    def check(value: object) -> str:
        if not isinstance(value, str):
            raise ValueError(f"expected a {what} ({', '.join(known)}), got {type_name(value)}")
        if value not in known:
            raise ValueError(f'unknown {what} "{value}" (known: {", ".join(known)})')
        return value

    return check


def _describe(value: object) -> str:
    return "an empty list" if value == [] else type_name(value)


def _a_list(value: object) -> object:
    if not isinstance(value, list):
        raise ValueError(f"expected a list, got {type_name(value)}")
    return value


def _a_non_empty_list(value: object) -> object:
    if not isinstance(value, list) or not value:
        raise ValueError(f"expected a non-empty list, got {_describe(value)}")
    return value


def _category_list(value: object) -> object:
    if not isinstance(value, list) or not value:
        raise ValueError(
            f"expected a non-empty list of categories or [all], got {_describe(value)}"
        )
    if ALL in value and len(value) != 1:
        raise ValueError('"all" must be the only entry')
    return value


RegionCode = Annotated[str, PlainValidator(_region_code)]
UnitCode = Annotated[str, PlainValidator(_unit_code)]
Name = Annotated[str, PlainValidator(_name)]
Level = Annotated[str, PlainValidator(_choice("level", LEVELS))]
Kind = Annotated[str, PlainValidator(_choice("kind", UNIT_KINDS))]
Category = Annotated[str, PlainValidator(_choice("category", (*CATEGORIES, ALL)))]


class _Entry(DataModel):
    missing_message: ClassVar[str] = "required field missing"


class _Region(_Entry):
    code: RegionCode
    name: Name
    level: Level
    children: Annotated[tuple[_Region, ...], BeforeValidator(_a_list)] = ()

    def flatten(self, parent: str | None) -> Iterator[RegionSpec]:
        """This region and everything under it, parents before children."""
        yield RegionSpec(code=self.code, name=self.name, level=self.level, parent=parent)
        for child in self.children:
            yield from child.flatten(self.code)


class _Unit(_Entry):
    code: UnitCode
    name: Name
    kind: Kind
    region: RegionCode
    categories: Annotated[tuple[Category, ...], BeforeValidator(_category_list)]


class _OrgDocument(DataModel):
    regions: Annotated[list[_Region], BeforeValidator(_a_non_empty_list)]
    units: Annotated[list[_Unit], BeforeValidator(_a_list)]

    def org_file(self) -> OrgFile:
        regions = tuple(spec for root in self.regions for spec in root.flatten(None))
        units = tuple(
            UnitSpec(
                code=u.code, name=u.name, kind=u.kind, region=u.region, categories=u.categories
            )
            for u in self.units
        )
        return OrgFile(regions=regions, units=units)


# -- references between entries -----------------------------------------------------------------


class _References:
    """What a model of one entry cannot see: the tree's nesting, codes used twice, and units'
    regions. Checked on the fields that passed their own validation, so one bad field is
    reported once and every other problem is still found."""

    def __init__(self, bad: set[Loc]) -> None:
        self.bad = bad
        self.found: list[Problem] = []
        self.region_at: dict[str, Loc] = {}  # code -> where first defined
        self.region_level: dict[str, str | None] = {}  # code -> level (None if invalid)

    def valid(self, raw: dict[Any, Any], loc: Loc, key: str) -> bool:
        return key in raw and (*loc, key) not in self.bad

    def error(self, loc: Loc, message: str) -> None:
        self.found.append(Problem(loc, message))

    def check(self, doc: dict[Any, Any]) -> list[Problem]:
        regions = doc.get("regions")
        if isinstance(regions, list):
            for i, node in enumerate(regions):
                self.region(node, ("regions", i), None, 0)
        units = doc.get("units")
        if isinstance(units, list):
            seen: dict[str, Loc] = {}
            for i, node in enumerate(units):
                if isinstance(node, dict):
                    self.unit(node, ("units", i), seen)
        return self.found

    def region(self, raw: object, loc: Loc, parent_level: str | None, depth: int) -> None:
        if not isinstance(raw, dict):
            return
        if depth >= len(LEVELS):  # only reachable with bad levels (or a looping YAML alias)
            self.error(loc, f"nested too deeply (at most {len(LEVELS)} levels)")
            return
        level: str | None = raw["level"] if self.valid(raw, loc, "level") else None
        if level is not None and parent_level is not None:
            expected = LEVELS[LEVELS.index(parent_level) + 1]
            if level != expected:
                self.error(
                    (*loc, "level"),
                    f"{level} cannot be a child of a {parent_level} (expected {expected})",
                )
                level = None
        if self.valid(raw, loc, "code"):
            code = str(raw["code"])
            if code in self.region_at:
                first = path_of(_OrgDocument, self.region_at[code])
                self.error((*loc, "code"), f"duplicate region code {code} (first at {first})")
            else:
                self.region_at[code] = loc
                self.region_level[code] = level
        children = raw.get("children", [])
        if not isinstance(children, list):
            return
        if children and level == LEVELS[-1]:
            self.error((*loc, "children"), f"a {level} cannot have children")
            return
        for i, child in enumerate(children):
            # Children of an invalid parent are still checked, only not against its level.
            self.region(child, (*loc, "children", i), level, depth + 1)

    def unit(self, raw: dict[Any, Any], loc: Loc, seen: dict[str, Loc]) -> None:
        if self.valid(raw, loc, "code"):
            code = raw["code"]
            if code in seen:
                first = path_of(_OrgDocument, seen[code])
                self.error((*loc, "code"), f"duplicate unit code {code} (first at {first})")
            else:
                seen[code] = loc
        if self.valid(raw, loc, "region"):
            region = str(raw["region"])
            if region not in self.region_at:
                self.error((*loc, "region"), f"no region {region}")
            elif self.region_level[region] == LEVELS[-1]:
                self.error(
                    (*loc, "region"),
                    f"region {region} is a grid; units belong at village level or above",
                )
        if self.valid(raw, loc, "categories"):
            listed: set[str] = set()
            for i, category in enumerate(raw["categories"]):
                if category in listed:
                    self.error((*loc, "categories", i), f'duplicate category "{category}"')
                listed.add(category)
