"""Reading the data files a centre edits: the organisation, SLA policy, points rules and
classifier cues.

Each file is YAML read by one loader that notices repeated keys (plain YAML keeps the last one
silently, so a pasted block would quietly override an earlier one), and is then validated by a
pydantic model built on :class:`DataModel`. Every problem is reported as ``"path: message"``
with a path such as ``regions[0].children[1].level`` or ``rules.overdue.points``, and all of
them at once, so an administrator fixes a file in one pass.

Validators raise ``ValueError`` with the text the administrator reads; a check that names a
part of the value (one list item, one key) raises :func:`errors_at` instead.
"""

from __future__ import annotations

import types
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, ClassVar, TypeVar, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ConfigDict, PlainValidator, ValidationError
from pydantic_core import InitErrorDetails, PydanticCustomError

from dispatch.vocab import CATEGORIES

__all__ = [
    "Category",
    "DataFileError",
    "DataModel",
    "DuplicateKey",
    "Problem",
    "YamlDocument",
    "errors_at",
    "located",
    "parse_model",
    "read_text",
    "read_yaml",
    "type_name",
    "validate",
    "yaml_problem",
]

Loc = tuple[int | str, ...]
M = TypeVar("M", bound="DataModel")


class DataFileError(ValueError):
    """The file is unusable; ``errors`` lists every problem, one ``"path: message"`` each."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors


# -- YAML -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, order=True)
class DuplicateKey:
    line: int  # 1-based, as an editor shows it
    column: int
    key: str


@dataclass(frozen=True, slots=True)
class YamlDocument:
    data: object
    duplicates: list[DuplicateKey] = field(default_factory=list)  # in file order


class _Loader(yaml.SafeLoader):
    """A safe loader that records repeated mapping keys instead of letting the last one win."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.duplicates: list[DuplicateKey] = []

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        # Each node is constructed once, so a mapping shared through an alias (or an alias
        # looping back into itself) is checked once.
        keys: set[str] = set()
        for key, _ in node.value:
            if isinstance(key, yaml.ScalarNode):
                if key.value in keys:
                    mark = key.start_mark
                    self.duplicates.append(DuplicateKey(mark.line + 1, mark.column + 1, key.value))
                keys.add(key.value)
        return super().construct_mapping(node, deep)


def read_yaml(text: str) -> YamlDocument:
    """Parse one YAML document; a syntax error raises ``yaml.YAMLError`` (:func:`yaml_problem`
    words it)."""
    loader = _Loader(text)
    try:
        data = loader.get_single_data()
    finally:
        loader.dispose()
    return YamlDocument(data, sorted(loader.duplicates))


def yaml_problem(exc: yaml.YAMLError, text: str) -> str:
    """A YAML syntax error as ``"line L, column C: problem"``."""
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


def read_text(path: Path) -> str:
    """The file's text (UTF-8, a byte-order mark allowed), or :class:`DataFileError`."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DataFileError([f"{path}: cannot read file: {exc.strerror or exc}"]) from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataFileError(
            [f"{path}: not UTF-8 text (invalid byte at offset {exc.start})"]
        ) from None


# -- models and their errors ------------------------------------------------------------------


def type_name(value: object) -> str:
    return "nothing" if value is None else type(value).__name__


def _known_category(value: object) -> str:
    if value not in CATEGORIES:
        raise ValueError(f"unknown category (known: {', '.join(CATEGORIES)})")
    assert isinstance(value, str)
    return value


# A category code of dispatch.vocab, as a data file's key or value.
Category = Annotated[str, PlainValidator(_known_category)]


class DataModel(BaseModel):
    """A mapping in a data file: unknown keys are errors, and each kind of mapping words its
    own messages for a missing key, an unknown key and a value that is not a mapping."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    missing_message: ClassVar[str] = "required key missing"

    @classmethod
    def unknown_key_message(cls, key: object) -> str:
        return f"unknown key (allowed: {', '.join(cls.model_fields)})"

    @classmethod
    def not_a_mapping_message(cls, value: object) -> str:
        keys = [name for name, info in cls.model_fields.items() if info.is_required()]
        keys = keys or list(cls.model_fields)
        return f"expected a mapping with keys {', '.join(keys)}, got {type_name(value)}"


@dataclass(frozen=True, slots=True)
class Problem:
    loc: Loc  # as pydantic gives it: keys and list indexes from the top of the file
    message: str


def errors_at(problems: Iterable[tuple[Loc, str, object]]) -> ValidationError:
    """Raise this from a validator to report ``(loc, message, value)`` problems *inside* the
    value being validated (one list item, one key); pydantic prefixes the value's own path."""
    return ValidationError.from_exception_data(
        "data",
        [
            InitErrorDetails(
                type=PydanticCustomError("data", "{message}", {"message": message}),
                loc=loc,
                input=value,
            )
            for loc, message, value in problems
        ],
    )


def problems(exc: ValidationError, root: type[DataModel]) -> list[Problem]:
    """Pydantic's errors in the files' own words."""
    found: list[Problem] = []
    for error in exc.errors(include_url=False):
        loc = tuple(part for part in error["loc"] if part != "[key]")  # a bad dict key
        kind = error["type"]
        parent = _model_at(root, loc[:-1]) if loc else None
        if kind == "recursion_loop":
            continue  # only a looping YAML alias gets here; the file's own checks report it
        if kind in ("extra_forbidden", "invalid_key") and parent is not None:
            message = parent.unknown_key_message(loc[-1])
        elif kind == "missing" and parent is not None:
            message = parent.missing_message
        elif kind in ("model_type", "model_attributes_type", "dict_type"):
            target = _model_at(root, loc)
            message = (target or DataModel).not_a_mapping_message(error["input"])
        elif kind == "value_error":
            message = str(error["ctx"]["error"])
        else:
            message = error["msg"]
        found.append(Problem(loc, message))
    return found


def located(root: type[DataModel], found: Iterable[Problem]) -> list[str]:
    """``"path: message"`` lines in the order of the file's structure: at each mapping its
    unknown keys first, then its fields in declaration order; list items in order."""
    found = list(found)
    first: dict[Loc, int] = {}  # where each mapping key first shows up: dicts keep file order
    for index, problem in enumerate(found):
        for depth in range(1, len(problem.loc) + 1):
            first.setdefault(problem.loc[:depth], index)
    keyed = [(_walk(root, problem.loc, first), problem.message) for problem in found]
    keyed.sort(key=lambda item: item[0][1])  # stable: equal places keep their order
    return [f"{path or 'top level'}: {message}" for (path, _), message in keyed]


def validate(model: type[M], data: object) -> tuple[M | None, list[Problem]]:
    """``data`` as a ``model``, or None and every problem found."""
    try:
        return model.model_validate(data), []
    except ValidationError as exc:
        return None, problems(exc, model)


def parse_model(model: type[M], text: str, source: str) -> M:
    """Parse and validate a file's text; any problem raises :class:`DataFileError` with one
    line per problem, each starting with ``source``."""
    try:
        document = read_yaml(text)
    except yaml.YAMLError as exc:
        raise DataFileError([f"{source}: invalid YAML: {yaml_problem(exc, text)}"]) from None
    errors = [
        f"line {d.line}, column {d.column}: {d.key}: duplicate key" for d in document.duplicates
    ]
    result, found = validate(model, document.data)
    errors += located(model, found)
    if errors or result is None:
        raise DataFileError([f"{source}: {error}" for error in errors])
    return result


# -- walking a model's type along an error's path ---------------------------------------------


def _unwrap(annotation: Any) -> Any:
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation = get_args(annotation)[0]
        elif origin in (Union, types.UnionType):
            members = [a for a in get_args(annotation) if a is not type(None)]
            annotation = members[0]
        else:
            return annotation


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _step(annotation: Any, part: int | str, first: int = 0) -> tuple[str, tuple[int, int], Any]:
    """One part of a path: its text, its place among its siblings and the type below it
    (``first``: where a dict key first showed up among the problems)."""
    annotation = _unwrap(annotation)
    origin = get_origin(annotation)
    if _is_model(annotation):
        fields = list(annotation.model_fields)
        if isinstance(part, str) and part in fields:
            below = annotation.model_fields[part].annotation
            return f".{part}", (1, fields.index(part)), below
        return f".{part}", (0, 0), None  # an unknown key: listed before the known ones
    if origin in (list, tuple, Sequence) and isinstance(part, int):
        return f"[{part}]", (1, part), get_args(annotation)[0]
    if origin is dict:
        return f".{part}", (1, first), get_args(annotation)[1]
    return f".{part}", (1, 0), None


def _walk(
    root: type[DataModel], loc: Loc, first: dict[Loc, int] | None = None
) -> tuple[str, tuple[tuple[int, int], ...]]:
    path, place, annotation = "", [], root
    for depth, part in enumerate(loc, 1):
        text, rank, annotation = _step(annotation, part, (first or {}).get(loc[:depth], 0))
        path += text
        place.append(rank)
    return path.removeprefix("."), tuple(place)


def _model_at(root: type[DataModel], loc: Loc) -> type[DataModel] | None:
    annotation: Any = root
    for part in loc:
        annotation = _step(annotation, part)[2]
    annotation = _unwrap(annotation)
    if isinstance(annotation, type) and issubclass(annotation, DataModel):
        return annotation
    return None


def path_of(root: type[DataModel], loc: Loc) -> str:
    """The text of a path, as the messages show it (``units[3].region``)."""
    return _walk(root, loc)[0]
