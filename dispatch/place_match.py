"""Which of the organisation's places a typed text names: "嘎洒镇曼景保村", "曼景保",
"景洪嘎洒曼景保村3组", "曼听社区附近".

People write a place the way they say it: without the official suffix (曼播 for
曼播村委会, 嘎洒 for 嘎洒镇), with one the file does not use (曼听村), with the county or
township in front, and with details after it (3组, 15号, 菜市场旁边). The index gives every
region its names (the official one, the name without its suffix, and the name with each
suffix its level is known by) and cuts the text with jieba, whose only dictionary is those
names: the longest name covering a stretch of text wins, so 嘎洒镇 is one word, not 嘎洒 and
a stray 镇. A region is scored by the names in the text that fit it: its own (the anchor)
plus those of the regions above it, each name counted by its length.

Outcomes of `PlaceIndex.lookup`:
- `matches` empty: no name of any place is in the text;
- one match: the text names that place (the best score, alone);
- several: they share the best score (嘎洒 is both 嘎洒镇 and 嘎洒社区), best first by code.
Each match carries `detail`, what the text adds beyond the names of the place and those
above it ("3组"), or "".

`PlaceNames` keeps one index per process and rebuilds it when the regions table changes
(see `PlaceNames.index`).
"""

from __future__ import annotations

import io
import logging
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import jieba
import yaml
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Region

__all__ = ["Place", "PlaceIndex", "PlaceLookup", "PlaceMatch", "PlaceNames"]

# The words a typed place is read with (suffixes by level, peoples' names, filler words) are
# language data: dispatch/data/place_words.yaml.
PLACE_WORDS_PATH: Final = Path(__file__).resolve().parent / "data" / "place_words.yaml"
_WORDS: Final = yaml.safe_load(PLACE_WORDS_PATH.read_text(encoding="utf-8"))
# What a name may end with, by level, longest first.
SUFFIXES: dict[str, tuple[str, ...]] = {
    level: tuple(words) for level, words in _WORDS["suffixes"].items()
}
PEOPLES = "|".join(_WORDS["peoples"])
_PEOPLES_AT_END = re.compile(rf"(?:(?:{PEOPLES})族)+$")
_GRID_NUMBER = re.compile(_WORDS["grid_number"])
_FILLER_START: tuple[str, ...] = tuple(_WORDS["filler_start"])
_FILLER_WHOLE: frozenset[str] = frozenset(_WORDS["filler_whole"])
_SEPARATORS: str = _WORDS["separators"]
_SPACE_IN_HANZI = re.compile(r"(?<=[\u3400-\u9fff]) (?=[\u3400-\u9fff])")
# Longer texts are someone's whole story, not a place; the dialog asks again before this.
MAX_TEXT = 200


@dataclass(frozen=True, slots=True)
class Place:
    """A region as the matcher sees it."""

    code: str
    name: str
    level: str
    parent_code: str | None


@dataclass(frozen=True, slots=True)
class PlaceMatch:
    code: str
    score: int
    detail: str  # what the text adds beyond this place's names and those above it


@dataclass(frozen=True, slots=True)
class PlaceLookup:
    matches: tuple[PlaceMatch, ...]  # the best score's places, best first; empty: none

    @property
    def codes(self) -> list[str]:
        return [m.code for m in self.matches]


@dataclass(frozen=True, slots=True)
class _Word:
    """A place name found in the text: where, and which places it names."""

    text: str
    start: int
    end: int
    codes: frozenset[str]


def normalise(text: str) -> str:
    """Full-width digits and letters to ASCII, whitespace collapsed, and none left between
    two Chinese characters (曼播 村 is 曼播村: a space there is a typing habit, not a gap)."""
    collapsed = " ".join(unicodedata.normalize("NFKC", text).split())
    return _SPACE_IN_HANZI.sub("", collapsed)


def bare_names(name: str, level: str) -> list[str]:
    """The name and the names people say for it, without the suffix of its level and
    without the people of an autonomous place: 格朗和哈尼族乡 → 格朗和哈尼族, 格朗和."""
    names = [name]
    for suffix in SUFFIXES.get(level, ()):
        if name.endswith(suffix) and len(name) > len(suffix):
            names.append(name[: -len(suffix)])
            break
    stem = names[-1]
    without_people = _PEOPLES_AT_END.sub("", stem)
    if without_people and without_people != stem:
        names.append(without_people)
    return [n for n in dict.fromkeys(names) if len(n) >= 2]


def _names_of(place: Place, parent_names: Sequence[str]) -> set[str]:
    """Every name the text may use for `place`."""
    names = set(bare_names(place.name, place.level))
    for bare in list(names):
        names.update(bare + suffix for suffix in SUFFIXES.get(place.level, ()))
    if place.level == "grid":
        number = _GRID_NUMBER.search(place.name)
        if number is not None:
            # 曼播第1网格, 曼播村1网格: the village said any way, then the grid's number.
            for parent in parent_names:
                names.add(parent + number.group(1) + number.group(2))
                names.add(parent + number.group(2))
    return {n for n in names if len(n) >= 2}


class PlaceIndex:
    """The organisation's place names, and the places a typed text names."""

    def __init__(self, places: Iterable[Place]) -> None:
        self.places = {p.code: p for p in places}
        by_name: dict[str, set[str]] = {}
        for place in self.places.values():
            # A grid is named after its village as people say the village (曼听1网格), not
            # in every suffixed form: grids are most of the places, and each name costs.
            parent = self.places.get(place.parent_code or "")
            said = bare_names(parent.name, parent.level) if parent is not None else []
            for name in _names_of(place, said):
                name = normalise(name)
                # jieba's dictionary lines are "word frequency": a name with a space in it
                # (a Latin one) cannot be a word, and is found only through its other names.
                if " " not in name:
                    by_name.setdefault(name, set()).add(place.code)
        self._by_name = {name: frozenset(codes) for name, codes in by_name.items()}
        logging.getLogger("jieba").setLevel(logging.WARNING)
        self._tokenizer = jieba.Tokenizer()
        # Only the place names, each as likely as the next: the route through the text
        # with the fewest words wins, so the longest name covering a stretch is taken whole.
        # Built from lines in memory, as dispatch.classify.JiebaSegmenter does: no dictionary
        # file and no cache file in the temporary directory.
        lines = [f"{name} 1000".encode() for name in sorted(self._by_name)]
        self._tokenizer.FREQ, self._tokenizer.total = self._tokenizer.gen_pfdict(
            io.BytesIO(b"\n".join(lines))
        )
        self._tokenizer.initialized = True

    def __len__(self) -> int:
        return len(self.places)

    def _chain(self, code: str | None) -> list[str]:
        """The code and those above it, nearest first (a cycle in bad data ends the walk)."""
        chain: list[str] = []
        while code is not None and code in self.places and code not in chain:
            chain.append(code)
            code = self.places[code].parent_code
        return chain

    def words(self, text: str) -> list[_Word]:
        """The place names in `text`, in order."""
        found: list[_Word] = []
        for word, start, end in self._tokenizer.tokenize(text, HMM=False):
            codes = self._by_name.get(word)
            if codes:
                found.append(_Word(word, start, end, codes))
        return found

    def lookup(self, text: str, within: str | None = None) -> PlaceLookup:
        """The places `text` names best (see the module's docstring); only places under the
        region `within` (or it) when it is given."""
        text = normalise(text)[:MAX_TEXT]
        words = self.words(text)
        scored: list[tuple[int, str, list[_Word]]] = []
        for code in sorted({c for w in words for c in w.codes}):
            chain = self._chain(code)
            if within is not None and within not in chain:
                continue
            score = self._fit(code, chain, words)
            # Every name of the place or one above it goes, also one said twice.
            scored.append((score, code, [w for w in words if w.codes & set(chain)]))
        if not scored:
            return PlaceLookup(())
        best = max(score for score, _, _ in scored)
        return PlaceLookup(
            tuple(
                PlaceMatch(code, score, _rest(text, used))
                for score, code, used in scored
                if score == best
            )
        )

    def _fit(self, code: str, chain: list[str], words: list[_Word]) -> int:
        """How well the words fit the place `code`: its longest own name (the anchor) and
        the names of distinct places above it, each by its length."""
        anchor = max((w for w in words if code in w.codes), key=lambda w: len(w.text))
        used = [anchor]
        taken = {code}
        for word in sorted(words, key=lambda w: -len(w.text)):
            if word is anchor:
                continue
            above = [c for c in chain[1:] if c in word.codes and c not in taken]
            if above:
                taken.add(above[0])
                used.append(word)
        return sum(len(w.text) for w in used)

    def detail(self, text: str, code: str | None) -> str:
        """What `text` says beyond the names of the place `code` and those above it."""
        text = normalise(text)[:MAX_TEXT]
        chain = set(self._chain(code))
        used = [w for w in self.words(text) if w.codes & chain]
        return _rest(text, used)

    def label(self, code: str) -> str:
        """The place's names below the top of the organisation, broadest first
        (景洪市 嘎洒镇 曼景保村委会), as cases.place_name writes them."""
        chain = self._chain(code)
        names = [
            self.places[c].name for c in reversed(chain) if self.places[c].level != "prefecture"
        ]
        return " ".join(names) or self.places[code].name


def _rest(text: str, used: Iterable[_Word]) -> str:
    """`text` without the used words, and without fillers and punctuation around what is
    left: "景洪嘎洒曼景保村3组" less 景洪, 嘎洒, 曼景保村 is "3组"."""
    keep = [True] * len(text)
    for word in used:
        for i in range(word.start, word.end):
            keep[i] = False
    parts: list[str] = []
    current = ""
    for char, kept in zip(text, keep, strict=True):
        if kept:
            current += char
        elif current:
            parts.append(current)
            current = ""
    parts.append(current)
    cleaned = [_trim(part) for part in parts]
    return " ".join(part for part in cleaned if part)


def _trim(part: str) -> str:
    part = part.strip(_SEPARATORS)
    for filler in _FILLER_START:
        if part.startswith(filler):
            part = part[len(filler) :].strip(_SEPARATORS)
            break
    if part in _FILLER_WHOLE or not any(unicodedata.category(ch)[0] in "LN" for ch in part):
        return ""  # only a filler, punctuation or symbols left
    return part


@dataclass(slots=True)
class PlaceNames:
    """One `PlaceIndex` per process, rebuilt when the regions change.

    The cache key is a fingerprint read with one aggregate query per look-up: the number of
    regions, the greatest code, and the total length of their names and paths. `pingan org
    import` (in another process) adds regions, renames them or moves them, and each of these
    changes the fingerprint, except a rename to a name of exactly the same length with
    nothing else changed, which `forget()` (called by the import in its own process) or a
    restart picks up. The regions table has no updated-at column to key on, and reading
    every row to hash it would cost what the cache saves.
    """

    _key: tuple[object, ...] | None = None
    _index: PlaceIndex | None = field(default=None, repr=False)

    def forget(self) -> None:
        self._key = None
        self._index = None

    async def index(self, session: AsyncSession) -> PlaceIndex:
        row = (
            await session.execute(
                select(
                    func.count(Region.code),
                    func.max(Region.code),
                    func.sum(func.length(Region.name)),
                    func.sum(func.length(Region.path)),
                )
            )
        ).one()
        key = tuple(row)
        if self._index is None or key != self._key:
            rows = (
                await session.execute(
                    select(Region.code, Region.name, Region.level, Region.parent_code)
                )
            ).all()
            self._index = PlaceIndex(Place(r.code, r.name, r.level, r.parent_code) for r in rows)
            self._key = key
        return self._index
