"""Rule-based dispute classifier: guess the kind, category and risk of a free-text report.

Reports arrive as chat messages typed on a phone. The classifier scores every category in
:data:`dispatch.vocab.CATEGORIES` and every non-dispute kind (a city-service request, a
consultation, an emergency) from weighted cues in ``dispatch/data/classifier.yaml``, and
separately rates the risk (:data:`dispatch.vocab.RISKS`). Every word and weight lives in that
file; this module holds no vocabulary.

* **keywords** are matched against the tokens produced by a :class:`Segmenter` (jieba by
  default), so a keyword only counts where the segmenter cuts it out as a word;
* **phrases** are matched as substrings of the normalised raw text and may weigh negatively;
* **negative** words subtract from a category when they occur as tokens;
* **setting** words say where or among whom something happens (a housing estate, a building
  site, a husband). They are not evidence of the dispute type: together they add at most
  ``setting_cap`` to a category, so they break ties and shift close calls but never outvote a
  word that names the dispute;
* a naming cue right after a "not about" word (``not_about``) or right before a "has nothing to
  do with" phrase (``not_about_after``) does not count;
* **variants** (dialect and colloquial spellings of common words: 咋 for 怎么, 啥 for 什么, 俺
  for 我) are rewritten to the standard word in the text and in every rule word before
  matching, so "咋申请" meets the rule "怎么申请" and "欠俺" meets "欠我";
* **risk cues** are substrings too, ignored when a negation directly precedes them, plus a
  head-count rule (pattern and numerals in the rules file) with thresholds.

A **kind** other than ``dispute`` wins when its score reaches ``kind_min`` and at least
``kind_over`` times the best dispute score (a legal question about a dispute stays a dispute;
an emergency wins even among dispute words); the category is then ``other`` (the centre's
dispatcher), and an emergency is rated major. When nothing in the text says there is an opponent
(no ``contested`` phrase: 不给, 拖欠, 不让, 起诉 ...), ``kind_over_uncontested`` applies instead:
"离婚需要准备哪些材料" names a dispute type but asks about a procedure, while "请问老公不给抚养费
怎么办" has someone to mediate with and stays a dispute.

**Confidence** is calibrated: category scores (``other`` scoring at least ``smoothing``, or its
kind's score) go through a softmax with ``temperature``, fitted so that the reported probability
of the top guess roughly matched how often it was right on tuning reports scored before the rules
were fitted to them. The three best are the :attr:`Classification.candidates`. A verdict is
``confident`` when its probability reaches ``threshold``.

``classify`` never raises for any ``str`` input; a failing custom segmenter is logged and the
classifier carries on with phrase matches only.
"""

from __future__ import annotations

import io
import logging
import math
import re
import threading
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Final, Protocol

from pydantic import AfterValidator, BeforeValidator, Field, PlainValidator
from pydantic_core import PydanticUseDefault

from dispatch.datafile import (
    Category,
    DataFileError,
    DataModel,
    errors_at,
    located,
    parse_model,
    read_text,
    validate,
)
from dispatch.vocab import CATEGORIES, RISKS

__all__ = ["Classification", "Classifier", "JiebaSegmenter", "Segmenter"]

logger = logging.getLogger(__name__)

DATA_DIR: Final = Path(__file__).resolve().parent / "data"
DEFAULT_RULES: Final = DATA_DIR / "classifier.yaml"
DEFAULT_USERDICT: Final = DATA_DIR / "userdict.txt"

OTHER: Final = "other"
GENERAL, SIGNIFICANT, MAJOR = RISKS

# At most this many category cues are reported (risk cues are always all reported).
MAX_CATEGORY_CUES: Final = 6

# The kinds of report: a dispute, or one of the requests that are not disputes and go to the
# centre's dispatcher as category "other" (a city-service request, a consultation, an
# emergency for 110/120/119).
DISPUTE: Final = "dispute"
SERVICE, CONSULTATION, EMERGENCY = NON_DISPUTES = ("service", "consultation", "emergency")
KINDS: Final = (DISPUTE, *NON_DISPUTES)

# How many ranked candidates a verdict carries (the dialog offers two or three).
TOP: Final = 3

# Score slots: one per category, then one per non-dispute kind.
_KIND_SLOT: Final = {kind: len(CATEGORIES) + i for i, kind in enumerate(NON_DISPUTES)}
_SLOTS: Final = len(CATEGORIES) + len(NON_DISPUTES)
_OTHER: Final = CATEGORIES.index(OTHER)


class Segmenter(Protocol):
    """Cuts Chinese text into words."""

    def cut(self, text: str) -> list[str]: ...


class JiebaSegmenter:
    """A :class:`Segmenter` backed by a private ``jieba.Tokenizer`` over the domain dictionary.

    The dictionary is the user dictionary plus the rules' own words, not jieba's general one
    of 349,000 words: keyword matching only needs its keywords cut out whole, and the general
    dictionary cost 1-2 s of start-up and 65 MB of memory for no gain in accuracy on the
    development set (98.2% against 98.0%). The global jieba state is never touched.
    """

    def __init__(self, userdict: Path | None = None, words: Iterable[str] | None = None) -> None:
        """`words`: extra words to cut out whole; by default those of the default rules."""
        logging.getLogger("jieba").setLevel(logging.WARNING)
        if words is None:
            words = _read_rules(DEFAULT_RULES).words()
        path = DEFAULT_USERDICT if userdict is None else userdict
        lines = path.read_bytes().splitlines()
        known = {line.split()[0] for line in lines if line.strip()}
        lines += [f"{word} 1000".encode() for word in words if word.encode() not in known]
        import jieba  # here, not at the top: DeferredSegmenter imports it off the event loop

        self._tokenizer = jieba.Tokenizer()
        # Build the prefix dictionary straight from our lines: no dictionary file, and none
        # of the cache files jieba writes to the temporary directory for custom dictionaries.
        self._tokenizer.FREQ, self._tokenizer.total = self._tokenizer.gen_pfdict(
            io.BytesIO(b"\n".join(lines))
        )
        self._tokenizer.initialized = True

    def cut(self, text: str) -> list[str]:
        # Search mode also yields the dictionary words inside a compound (a word for "monthly
        # wage" gives "wage" too), so keywords are not lost to coarse segmentation. HMM off:
        # unknown stretches fall apart into characters, which is all keyword matching needs.
        words: list[str] = self._tokenizer.lcut_for_search(text, HMM=False)
        return words


class DeferredSegmenter:
    """A :class:`JiebaSegmenter` built in a thread once `start()` is called, so that a
    service can report ready first (jieba's import and dictionary are most of the start-up
    after aiogram). `cut()` before the build is done waits for it (a message in the first
    second after start-up); before `start()` it builds at once."""

    def __init__(self, words: Iterable[str]) -> None:
        self._words = list(words)
        self._built = threading.Event()
        self._lock = threading.Lock()
        self._inner: JiebaSegmenter | None = None
        self._error: BaseException | None = None

    def start(self) -> None:
        threading.Thread(target=self._build, name="jieba-dictionary", daemon=True).start()

    def _build(self) -> None:
        with self._lock:
            if self._built.is_set():
                return
            try:
                self._inner = JiebaSegmenter(words=self._words)
            except BaseException as exc:  # re-raised by cut(), where someone sees it
                self._error = exc
            finally:
                self._built.set()

    def cut(self, text: str) -> list[str]:
        if not self._built.is_set():
            self._build()  # waits on the lock while the thread builds
        if self._inner is None:
            raise RuntimeError("the jieba dictionary could not be built") from self._error
        return self._inner.cut(text)


@dataclass(frozen=True, slots=True)
class Classification:
    """The classifier's verdict on one report."""

    category: str  # one of vocab.CATEGORIES; "other" for every kind but a dispute
    confidence: float  # 0..1, calibrated: roughly how often a verdict this sure is right
    risk: str  # one of vocab.RISKS
    cues: tuple[str, ...]  # words that decided the category, then the risk
    risk_cues: tuple[str, ...]  # just the ones that raised the risk
    confident: bool  # False: the dialog offers the best candidates instead of one guess
    kind: str = DISPUTE  # one of KINDS
    # Up to three (category, probability) pairs, best first; the first is `category` (with
    # probability 0 when nothing in the text matched at all).
    candidates: tuple[tuple[str, float], ...] = ()

    def to_dict(self) -> dict[str, object]:
        return {
            "category": self.category,
            "kind": self.kind,
            "confidence": round(self.confidence, 3),
            "risk": self.risk,
            "cues": list(self.cues),
            "candidates": [
                {"category": code, "score": round(score, 3)} for code, score in self.candidates
            ],
        }


_EMPTY: Final = Classification(
    category=OTHER,
    confidence=0.0,
    risk=GENERAL,
    cues=(),
    risk_cues=(),
    confident=False,
    candidates=((OTHER, 0.0),),
)


@dataclass(frozen=True, slots=True)
class _Hit:
    """What a matched word contributes to one score slot."""

    slot: int
    weight: float
    setting: bool  # a setting cue: capped per slot, never a naming cue


_Hits = tuple[_Hit, ...]


@dataclass(frozen=True, slots=True)
class _Pattern:
    """A substring looked up through its first two characters: a phrase or a risk cue."""

    text: str
    risk: str | None  # None for a category phrase, else the risk level it raises to
    hits: _Hits  # category contributions of a phrase; empty for a risk cue


def _normalise(text: str) -> str:
    """Full-width letters and digits to ASCII, Latin lower-cased, whitespace collapsed."""
    return " ".join(unicodedata.normalize("NFKC", text).lower().split())


def _whole_number(text: str, number: str) -> bool:
    """Whether a number keyword (a hotline such as 12345) stands alone somewhere in the text,
    not inside a longer run of digits such as a phone or identity number."""
    at = text.find(number)
    while at != -1:
        end = at + len(number)
        if not (at and text[at - 1].isdigit()) and not (end < len(text) and text[end].isdigit()):
            return True
        at = text.find(number, at + 1)
    return False


def _rewrite(text: str, variants: tuple[tuple[str, str], ...]) -> str:
    """The text with every variant replaced by its standard word (longest variants first)."""
    for variant, standard in variants:
        if variant in text:
            text = text.replace(variant, standard)
    return text


def _none_is_default(value: object) -> object:
    """An empty key (``risk:`` with nothing after it) means its default."""
    if value is None:
        raise PydanticUseDefault()
    return value


def _none_is_empty(value: object) -> object:
    """A category with nothing under it has no cues (a default only applies to a key)."""
    return {} if value is None else value


def _number(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"expected a number, got {value!r}")
    return float(value)


def _positive(value: float) -> float:
    if value <= 0:
        raise ValueError(f"must be above 0, got {value!r}")
    return value


def _weight(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("weight must be a number")
    return float(value)


def _word(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("keys must be non-empty strings")
    return value


def _strings(value: object) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ValueError("expected a list of strings")
    return tuple(value)


def _pattern(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError("expected a regular expression")
    try:
        compiled = re.compile(value)
    except re.error as error:
        raise ValueError(f"not a regular expression: {error}") from None
    if value and compiled.groups < 1:
        raise ValueError("the pattern needs a group around the number")
    return value


# A phrase or risk cue of one character would match inside far too many words.


def _phrases_of_two(phrases: dict[str, float]) -> dict[str, float]:
    short = [((p,), "phrases need 2+ characters", w) for p, w in phrases.items() if _short(p)]
    if short:
        raise errors_at(short)
    return phrases


def _cues_of_two(cues: tuple[str, ...]) -> tuple[str, ...]:
    short = [((i,), "risk cues need 2+ characters", c) for i, c in enumerate(cues) if _short(c)]
    if short:
        raise errors_at(short)
    return cues


def _short(text: str) -> bool:
    return 0 < len(_normalise(text)) < 2


Number = Annotated[float, PlainValidator(_number), BeforeValidator(_none_is_default)]
Positive = Annotated[float, PlainValidator(_number), AfterValidator(_positive)]
Word = Annotated[str, PlainValidator(_word)]
Weights = Annotated[
    dict[Word, Annotated[float, PlainValidator(_weight)]], BeforeValidator(_none_is_default)
]
Strings = Annotated[tuple[str, ...], PlainValidator(_strings), BeforeValidator(_none_is_default)]


class _CategoryCues(DataModel):
    keywords: Weights = Field(default_factory=dict)
    phrases: Annotated[Weights, AfterValidator(_phrases_of_two)] = Field(default_factory=dict)
    negative: Weights = Field(default_factory=dict)
    setting: Weights = Field(default_factory=dict)


class _GroupSize(DataModel):
    """Head counts (a numeral, then a word for people or households) from which a report is
    significant, or major; the numeral is the pattern's first group, valued by ``digits``
    and ``units``."""

    significant: Number = 10
    major: Number = 20
    pattern: Annotated[str, PlainValidator(_pattern)] = ""
    digits: Weights = Field(default_factory=dict)
    units: Weights = Field(default_factory=dict)


class _RiskCues(DataModel):
    significant: Annotated[Strings, AfterValidator(_cues_of_two)] = ()
    major: Annotated[Strings, AfterValidator(_cues_of_two)] = ()


class _KindCues(DataModel):
    service: Annotated[_CategoryCues, BeforeValidator(_none_is_empty)] = _CategoryCues()
    consultation: Annotated[_CategoryCues, BeforeValidator(_none_is_empty)] = _CategoryCues()
    emergency: Annotated[_CategoryCues, BeforeValidator(_none_is_empty)] = _CategoryCues()


class _KindOver(DataModel):
    """How many times the best dispute score a kind must reach to win."""

    service: Number = 1.0
    consultation: Number = 1.0
    emergency: Number = 1.0


def _optional_number(value: object) -> float | None:
    return None if value is None else _number(value)


OptionalNumber = Annotated[float | None, PlainValidator(_optional_number)]


class _KindOverUncontested(DataModel):
    """``kind_over`` for a report with no ``contested`` phrase; unset: ``kind_over``."""

    service: OptionalNumber = None
    consultation: OptionalNumber = None
    emergency: OptionalNumber = None


class ClassifierRules(DataModel):
    """The rules file (``dispatch/data/classifier.yaml``), validated; compiled by
    :class:`Classifier`."""

    threshold: Number = 0.5
    min_score: Number = 1.0
    smoothing: Number = 1.0
    temperature: Annotated[Positive, BeforeValidator(_none_is_default)] = 1.0
    setting_cap: Number = 2.0
    kind_min: Number = 4.0
    kind_over: Annotated[_KindOver, BeforeValidator(_none_is_default)] = _KindOver()
    kind_over_uncontested: Annotated[_KindOverUncontested, BeforeValidator(_none_is_default)] = (
        _KindOverUncontested()
    )
    # Substrings that show an opponent or a grievance (不给, 拖欠, 不让, 骂, 起诉): a report with
    # one of them is measured by kind_over, one without by kind_over_uncontested. One character
    # is allowed (吵, 骂, 赔): a contested phrase never scores, it only picks the measure.
    contested: Strings = ()
    group_size: Annotated[_GroupSize, BeforeValidator(_none_is_default)] = _GroupSize()
    negations: Strings = ()
    not_about: Strings = ()
    not_about_after: Strings = ()
    # Everyday phrases that contain a risk cue but mean nothing of the kind.
    benign: Strings = ()
    # Dialect or colloquial spelling -> standard word, rewritten before matching.
    variants: Annotated[dict[Word, Word], BeforeValidator(_none_is_default)] = Field(
        default_factory=dict
    )
    categories: Annotated[
        dict[
            Category,
            Annotated[_CategoryCues, BeforeValidator(_none_is_empty)],
        ],
        BeforeValidator(_none_is_default),
    ] = Field(default_factory=dict)
    kinds: Annotated[_KindCues, BeforeValidator(_none_is_default)] = _KindCues()
    risk: Annotated[_RiskCues, BeforeValidator(_none_is_default)] = _RiskCues()

    @classmethod
    def of(cls, document: object) -> ClassifierRules:
        """A parsed document (None: an empty file); problems raise :class:`DataFileError`."""
        model, found = validate(cls, {} if document is None else document)
        if model is None:
            raise DataFileError(located(cls, found))
        return model

    def cue_sets(self) -> list[tuple[int, _CategoryCues]]:
        """Every score slot with its cues: the categories, then the non-dispute kinds."""
        found = [
            (i, self.categories[code])
            for i, code in enumerate(CATEGORIES)
            if code in self.categories
        ]
        found += [(_KIND_SLOT[kind], getattr(self.kinds, kind)) for kind in NON_DISPUTES]
        return found

    def variant_pairs(self) -> tuple[tuple[str, str], ...]:
        """The variants, normalised, longest first (so 啥子 is rewritten before 啥)."""
        pairs = {_normalise(variant): _normalise(word) for variant, word in self.variants.items()}
        return tuple(sorted(pairs.items(), key=lambda pair: len(pair[0]), reverse=True))

    def words(self) -> list[str]:
        """Every keyword, negative and setting cue: the words the segmenter must know."""
        variants = self.variant_pairs()
        return [
            _rewrite(_normalise(word), variants)
            for _, cues in self.cue_sets()
            for word in (*cues.keywords, *cues.negative, *cues.setting)
        ]


def _read_rules(path: Path) -> ClassifierRules:
    text = read_text(path)
    return parse_model(ClassifierRules, text if text.strip() else "{}", str(path))


def _normalised(words: tuple[str, ...]) -> list[str]:
    return [_normalise(word) for word in words if word.strip()]


def _normalised_weights(weights: dict[str, float]) -> dict[str, float]:
    """Words that normalise alike (full-width and ASCII letters) are one entry: the last one
    written."""
    return {_normalise(word): weight for word, weight in weights.items()}


def _longest_first(words: Iterable[str]) -> tuple[str, ...]:
    return tuple(sorted(set(words), key=len, reverse=True))


class Classifier:
    """Scores reports against compiled rules. Build one with :meth:`load` and share it."""

    def __init__(self, rules: Mapping[str, Any] | ClassifierRules, segmenter: Segmenter) -> None:
        """Compile ``rules`` (validated, or the parsed YAML document); raises ``ValueError``
        (:class:`DataFileError`) if malformed."""
        if not isinstance(rules, ClassifierRules):
            rules = ClassifierRules.of(rules)
        self._segmenter = segmenter
        self._threshold = rules.threshold
        self._min_score = rules.min_score
        self._smoothing = rules.smoothing
        self._temperature = rules.temperature
        self._setting_cap = rules.setting_cap
        self._kind_min = rules.kind_min
        self._kind_over: dict[str, float] = {
            kind: getattr(rules.kind_over, kind) for kind in NON_DISPUTES
        }
        uncontested = rules.kind_over_uncontested
        self._kind_over_uncontested: dict[str, float] = {
            kind: self._kind_over[kind]
            if getattr(uncontested, kind) is None
            else getattr(uncontested, kind)
            for kind in NON_DISPUTES
        }
        self._variants = variants = rules.variant_pairs()

        def standard(words: Iterable[str]) -> list[str]:
            return [_rewrite(word, variants) for word in words]

        def standard_weights(weights: dict[str, float]) -> dict[str, float]:
            return {_rewrite(word, variants): weight for word, weight in weights.items()}

        self._contested = tuple(standard(_normalised(rules.contested)))
        self._group_significant = rules.group_size.significant
        self._group_major = rules.group_size.major
        group = rules.group_size
        self._group_re = re.compile(group.pattern) if group.pattern else None
        self._digits = _normalised_weights(group.digits)
        self._units = _normalised_weights(group.units)
        self._negations = _longest_first(standard(_normalised(rules.negations)))
        self._not_about = _longest_first(standard(_normalised(rules.not_about)))
        self._not_about_after = _longest_first(standard(_normalised(rules.not_about_after)))
        self._benign = tuple(standard(_normalised(rules.benign)))

        tokens: dict[str, dict[tuple[int, bool], float]] = {}
        phrases: dict[str, dict[tuple[int, bool], float]] = {}

        def put(
            table: dict[str, dict[tuple[int, bool], float]],
            word: str,
            key: tuple[int, bool],
            weight: float,
        ) -> None:
            slots = table.setdefault(word, {})
            slots[key] = slots.get(key, 0.0) + weight

        for slot, cues in rules.cue_sets():
            for word, weight in standard_weights(_normalised_weights(cues.keywords)).items():
                put(tokens, word, (slot, False), weight)
            for word, weight in standard_weights(_normalised_weights(cues.negative)).items():
                put(tokens, word, (slot, False), -abs(weight))
            for word, weight in standard_weights(_normalised_weights(cues.setting)).items():
                put(tokens, word, (slot, True), weight)
            for phrase, weight in standard_weights(_normalised_weights(cues.phrases)).items():
                put(phrases, phrase, (slot, False), weight)

        def hits(slots: dict[tuple[int, bool], float]) -> _Hits:
            return tuple(_Hit(slot, weight, setting) for (slot, setting), weight in slots.items())

        self._tokens: dict[str, _Hits] = {word: hits(slots) for word, slots in tokens.items()}
        patterns = [_Pattern(phrase, None, hits(slots)) for phrase, slots in phrases.items()]
        for level in (MAJOR, SIGNIFICANT):
            for cue in standard(_normalised(getattr(rules.risk, level))):
                patterns.append(_Pattern(cue, level, ()))
        # Longest patterns first within a bucket, so reported cues prefer the longer match.
        self._patterns: dict[str, list[_Pattern]] = {}
        for pattern in sorted(patterns, key=lambda p: len(p.text), reverse=True):
            self._patterns.setdefault(pattern.text[:2], []).append(pattern)

    @classmethod
    def load(
        cls,
        rules: Path | None = None,
        segmenter: Segmenter | None = None,
        *,
        deferred: bool = False,
    ) -> Classifier:
        """Read the rules file (default ``dispatch/data/classifier.yaml``) and compile it.

        Without a ``segmenter`` a :class:`JiebaSegmenter` with the default user dictionary is
        built, which takes most of the start-up time; `deferred`: a :class:`DeferredSegmenter`
        instead, built when its `start()` is called (`Classifier.segmenter`).
        """
        path = DEFAULT_RULES if rules is None else rules
        compiled = _read_rules(path)
        if segmenter is None:
            words = compiled.words()
            segmenter = DeferredSegmenter(words) if deferred else JiebaSegmenter(words=words)
        return cls(compiled, segmenter)

    def warm_up(self) -> None:
        """Start building a deferred segmenter's dictionary (in a thread); else nothing."""
        if isinstance(self._segmenter, DeferredSegmenter):
            self._segmenter.start()

    def classify(self, text: str) -> Classification:
        """Kind, category, calibrated confidence, candidates and risk of one report. Never
        raises."""
        normalised = _rewrite(_normalise(text), self._variants) if isinstance(text, str) else ""
        if not normalised:
            return _EMPTY
        scores, cues, risk_level, risk_cues = self._scan(normalised)
        if max(scores) <= 0:
            return Classification(
                category=OTHER,
                confidence=0.0,
                risk=risk_level,
                cues=risk_cues,
                risk_cues=risk_cues,
                confident=False,
                candidates=((OTHER, 0.0),),
            )

        categories = scores[: len(CATEGORIES)]
        best_dispute = max(categories)
        # kind_over is measured against the named dispute types; "other" (scams, benefits,
        # papers) only has to be matched, as it is where every non-dispute goes anyway.
        named = max(categories[:_OTHER] + categories[_OTHER + 1 :])
        kind, kind_slot = DISPUTE, -1

        # The kind that most outscores the disputes by its own measure (kind_over), which is
        # milder when nobody in the text is being complained about.
        over = self._kind_over if self._is_contested(normalised) else self._kind_over_uncontested
        top_kind, top_kind_score, top_bar, lead = SERVICE, 0.0, 0.0, -math.inf
        for candidate in NON_DISPUTES:
            score = scores[_KIND_SLOT[candidate]]
            bar = max(over[candidate] * named, categories[_OTHER])
            if score - bar > lead:
                top_kind, top_kind_score, top_bar, lead = candidate, score, bar, score - bar
        # A kind that reached kind_min but lost to a dispute type keeps "other" on the list.
        near_kind = top_kind_score >= self._kind_min
        if near_kind and top_kind_score >= top_bar:
            kind, kind_slot = top_kind, _KIND_SLOT[top_kind]
        if kind == EMERGENCY:
            risk_level = MAJOR

        # "other" stands for "none of the listed types" too: it scores at least the smoothing,
        # so a single weak word is never certain, and as much as a non-dispute kind.
        other_score = max(categories[_OTHER], self._smoothing)
        if kind != DISPUTE:
            # What is not a dispute is "other", whatever the dispute types scored.
            other_score = max(other_score, top_kind_score, best_dispute)
        elif near_kind:
            # A kind that lost to a named type by kind_over stays behind it on the list.
            other_score = max(other_score, min(top_kind_score, named * (1 - 1e-6)))
        elif best_dispute < self._min_score:
            other_score = max(other_score, best_dispute + 1e-9)
        contenders = {i: s for i, s in enumerate(categories) if s > 0 and i != _OTHER}
        contenders[_OTHER] = other_score
        # Ties go to vocabulary order, except that a non-dispute kind's "other" wins its tie.
        ranked = sorted(
            contenders.items(),
            key=lambda item: (-item[1], not (kind != DISPUTE and item[0] == _OTHER), item[0]),
        )
        peak = ranked[0][1]
        weights = [math.exp((score - peak) / self._temperature) for _, score in ranked]
        total = sum(weights)
        # "Other" on the strength of the smoothing alone is "none of these": it takes its share
        # of the probability but is only listed when it is the verdict.
        shown = [
            (CATEGORIES[i], weight / total)
            for (i, _), weight in zip(ranked, weights, strict=True)
            if i != _OTHER or i == ranked[0][0] or categories[_OTHER] > 0 or near_kind
        ]
        candidates = tuple(shown[:TOP])
        best, confidence = ranked[0][0], weights[0] / total
        category = CATEGORIES[best]
        # "other" ahead only because nothing else scored enough is a shrug, never a verdict.
        guessed_other = kind == DISPUTE and best == _OTHER and categories[_OTHER] < self._min_score

        decisive = kind_slot if kind != DISPUTE else best
        ranked_cues = sorted(cues[decisive], key=lambda item: -item[1])
        category_cues = tuple(word for word, _ in ranked_cues)[:MAX_CATEGORY_CUES]
        return Classification(
            category=category,
            confidence=confidence,
            risk=risk_level,
            cues=category_cues + tuple(cue for cue in risk_cues if cue not in category_cues),
            risk_cues=risk_cues,
            confident=confidence >= self._threshold and not guessed_other,
            kind=kind,
            candidates=candidates,
        )

    def ranked(self, text: str) -> list[tuple[str, float]]:
        """Categories with a positive score (raw, uncalibrated), best first (ties in
        vocabulary order).

        Meant for ordering the full list of categories; empty when nothing matched at all.
        """
        normalised = _rewrite(_normalise(text), self._variants) if isinstance(text, str) else ""
        if not normalised:
            return []
        scores = self._scan(normalised)[0]
        pairs = [(code, round(scores[i], 3)) for i, code in enumerate(CATEGORIES) if scores[i] > 0]
        return sorted(pairs, key=lambda pair: -pair[1])

    def _scan(
        self, text: str
    ) -> tuple[list[float], list[list[tuple[str, float]]], str, tuple[str, ...]]:
        """Scores per slot (categories, then kinds) with their positive cues, the risk level
        and the risk cues."""
        naming = [0.0] * _SLOTS
        setting = [0.0] * _SLOTS
        cues: list[list[tuple[str, float]]] = [[] for _ in range(_SLOTS)]

        def add(word: str, hits: _Hits) -> None:
            for hit in hits:
                if hit.setting:
                    setting[hit.slot] += hit.weight
                else:
                    naming[hit.slot] += hit.weight
                if hit.weight > 0:
                    cues[hit.slot].append((word, hit.weight))

        # Unique matched tokens in text order. Search-mode segmentation yields the parts of a
        # compound next to the compound; a token inside a longer matched keyword does not
        # count again for the slots that keyword scores, so a compound weighs what its own
        # entry says rather than the sum of its parts.
        matched_tokens: dict[str, _Hits] = {}
        for token in self._cut(text):
            if token not in matched_tokens:
                hits = self._tokens.get(token)
                if hits is not None and (not token.isdigit() or _whole_number(text, token)):
                    matched_tokens[token] = hits
        for token, hits in matched_tokens.items():
            covered = {
                hit.slot
                for other, other_hits in matched_tokens.items()
                if token != other and token in other
                for hit in other_hits
            }
            kept = tuple(hit for hit in hits if hit.slot not in covered) if covered else hits
            if kept and (self._not_about or self._not_about_after):
                kept = self._unless_not_about(text, token, kept)
            add(token, kept)

        benign: set[int] = set()  # positions inside a benign phrase
        for phrase in self._benign:
            at = text.find(phrase)
            while at != -1:
                benign.update(range(at, at + len(phrase)))
                at = text.find(phrase, at + 1)
        matched: set[int] = set()  # ids of patterns already counted
        major: list[str] = []
        significant: list[str] = []
        patterns = self._patterns
        for start in range(len(text) - 1):
            bucket = patterns.get(text[start : start + 2])
            if bucket is None:
                continue
            for pattern in bucket:
                word = pattern.text
                if id(pattern) in matched or not text.startswith(word, start):
                    continue
                if pattern.risk is None:
                    matched.add(id(pattern))
                    if not self._is_not_about(text, start, start + len(word)):
                        add(word, pattern.hits)
                elif start not in benign and not self._negated(text, start):
                    matched.add(id(pattern))
                    (major if pattern.risk == MAJOR else significant).append(word)

        if self._group_re is not None:
            for found in self._group_re.finditer(text):
                size = self._number(found.group(1))
                if size >= self._group_major:
                    major.append(found.group(0))
                elif size >= self._group_significant:
                    significant.append(found.group(0))

        cap = self._setting_cap
        scores = [n + min(s, cap) for n, s in zip(naming, setting, strict=True)]
        level = MAJOR if major else SIGNIFICANT if significant else GENERAL
        return scores, cues, level, tuple(dict.fromkeys(major + significant))

    def _is_contested(self, text: str) -> bool:
        """Whether the text shows an opponent or a grievance (a ``contested`` phrase)."""
        return any(cue in text for cue in self._contested)

    def _unless_not_about(self, text: str, token: str, hits: _Hits) -> _Hits:
        """The hits of a token, none when every mention of it is "not about" it (a word the
        person rules out neither names a type nor counts against one)."""
        at = text.find(token)
        while at != -1:
            if not self._is_not_about(text, at, at + len(token)):
                return hits
            at = text.find(token, at + 1)
        return ()

    def _is_not_about(self, text: str, start: int, end: int) -> bool:
        return text.endswith(self._not_about, 0, start) or text.startswith(
            self._not_about_after, end
        )

    def _number(self, numeral: str) -> float:
        """Approximate value of a numeral in Arabic digits or in the rules' digits and units
        (a digit before a unit multiplies it; of two digits in a row the later one counts)."""
        if numeral.isascii() and numeral.isdigit():
            return int(numeral)
        total = 0.0
        current = 0.0
        for char in numeral:
            if char in self._units:
                total += (current or 1) * self._units[char]
                current = 0
            else:
                current = self._digits.get(char, 0)
        return total + current

    def _cut(self, text: str) -> list[str]:
        try:
            return self._segmenter.cut(text)
        except Exception:
            logger.exception("segmenter failed; classifying on phrases only")
            return []

    def _negated(self, text: str, start: int) -> bool:
        return text.endswith(self._negations, 0, start)
