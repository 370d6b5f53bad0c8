"""Rule-based dispute classifier: guess the category and risk level of a free-text report.

Reports arrive as chat messages typed on a phone ("隔壁装修天天吵", "包工头跑了，工钱没给").
The classifier scores every category in :data:`dispatch.vocab.CATEGORIES` from weighted cues in
``dispatch/data/classifier.yaml`` and separately rates the risk (:data:`dispatch.vocab.RISKS`):

* **keywords** are matched against the tokens produced by a :class:`Segmenter` (jieba by default),
  so "房子" inside "安置房子" is only counted if the segmenter cuts it out as a word;
* **phrases** are matched as substrings of the normalised raw text ("工资不给", "占了我家的地");
  a phrase may carry a negative weight;
* **negative** words subtract from a category when they occur as tokens;
* **risk cues** are substrings too, ignored when a negation ("没有", "不", "未" …) directly precedes
  them, plus a head-count rule ("二十余名农民工", "几十个人") with thresholds from the rules file.

Confidence is ``best / (best + runner_up + smoothing)``; the result is ``confident`` when that
reaches ``threshold`` and the best score reaches ``min_score``. A best score under ``min_score``
falls back to ``other`` with confidence 0 so the dialog asks the user to pick the type.

``classify`` never raises for any ``str`` input; a failing custom segmenter is logged and the
classifier carries on with phrase matches only.
"""

from __future__ import annotations

import io
import logging
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

# Head counts written in Chinese or Arabic numerals followed by a word for people or households:
# "十几个人", "二十余名农民工", "三十多户", "几十个亲戚", "一百多人", "20多名工人" (but not
# "两千人民币"). Arabic numbers are capped at six digits, so int() never sees a huge string.
_GROUP_RE: Final = re.compile(
    r"([0-9]{1,6}|[一二两三四五六七八九十百千几]+)"
    r"(?:多|余|来)?"
    r"(?:个|名|位|口|家)?"
    r"(人(?!民)|户|村民|农民工|工人|员工|职工|亲戚|业主|股东|会员|家长|老乡|群众|家属|胶农|茶农|社员)"
)
_CN_DIGITS: Final = {
    "一": 1,
    "二": 2,
    "两": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
    "几": 5,  # "几" is a small unknown number: 十几 ≈ 15, 几十 ≈ 50
}
_CN_UNITS: Final = {"十": 10, "百": 100, "千": 1000}


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
        # Search mode also yields the dictionary words inside a compound ("月工资" gives "工资"
        # too, "县医院" gives "医院"), so keywords are not lost to coarse segmentation. HMM off:
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

    category: str  # one of vocab.CATEGORIES
    confidence: float  # 0..1
    risk: str  # one of vocab.RISKS
    cues: tuple[str, ...]  # words that decided the category, then the risk
    risk_cues: tuple[str, ...]  # just the ones that raised the risk
    confident: bool  # False: the dialog asks the user to pick the type

    def to_dict(self) -> dict[str, object]:
        return {
            "category": self.category,
            "confidence": round(self.confidence, 3),
            "risk": self.risk,
            "cues": list(self.cues),
        }


_EMPTY: Final = Classification(
    category=OTHER, confidence=0.0, risk=GENERAL, cues=(), risk_cues=(), confident=False
)

# (category index, weight) pairs a matched word contributes.
_Hits = tuple[tuple[int, float], ...]


@dataclass(frozen=True, slots=True)
class _Pattern:
    """A substring looked up through its first two characters: a phrase or a risk cue."""

    text: str
    risk: str | None  # None for a category phrase, else the risk level it raises to
    hits: _Hits  # category contributions of a phrase; empty for a risk cue


def _normalise(text: str) -> str:
    """Full-width letters and digits to ASCII, Latin lower-cased, whitespace collapsed."""
    return " ".join(unicodedata.normalize("NFKC", text).lower().split())


def _cn_number(numeral: str) -> int:
    """Approximate value of a numeral such as "二十", "十几", "二三十", "一百多" or "25"."""
    if numeral.isdigit():
        return int(numeral)
    total = 0
    current = 0
    for char in numeral:
        if char in _CN_UNITS:
            total += (current or 1) * _CN_UNITS[char]
            current = 0
        else:
            # "二三十" means twenty or thirty: keep the later digit.
            current = _CN_DIGITS.get(char, 0)
    return total + current


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
Word = Annotated[str, PlainValidator(_word)]
Weights = Annotated[
    dict[Word, Annotated[float, PlainValidator(_weight)]], BeforeValidator(_none_is_default)
]
Strings = Annotated[tuple[str, ...], PlainValidator(_strings), BeforeValidator(_none_is_default)]


class _CategoryCues(DataModel):
    keywords: Weights = Field(default_factory=dict)
    phrases: Annotated[Weights, AfterValidator(_phrases_of_two)] = Field(default_factory=dict)
    negative: Weights = Field(default_factory=dict)


class _GroupSize(DataModel):
    """Head counts ("二十余名农民工") from which a report is significant, or major."""

    significant: Number = 10
    major: Number = 20


class _RiskCues(DataModel):
    significant: Annotated[Strings, AfterValidator(_cues_of_two)] = ()
    major: Annotated[Strings, AfterValidator(_cues_of_two)] = ()


class ClassifierRules(DataModel):
    """The rules file (``dispatch/data/classifier.yaml``), validated; compiled by
    :class:`Classifier`."""

    threshold: Number = 0.5
    min_score: Number = 1.0
    smoothing: Number = 1.0
    group_size: Annotated[_GroupSize, BeforeValidator(_none_is_default)] = _GroupSize()
    negations: Strings = ()
    # Everyday phrases that contain a risk cue but mean nothing of the kind ("打我电话").
    benign: Strings = ()
    categories: Annotated[
        dict[
            Category,
            Annotated[_CategoryCues, BeforeValidator(_none_is_empty)],
        ],
        BeforeValidator(_none_is_default),
    ] = Field(default_factory=dict)
    risk: Annotated[_RiskCues, BeforeValidator(_none_is_default)] = _RiskCues()

    @classmethod
    def of(cls, document: object) -> ClassifierRules:
        """A parsed document (None: an empty file); problems raise :class:`DataFileError`."""
        model, found = validate(cls, {} if document is None else document)
        if model is None:
            raise DataFileError(located(cls, found))
        return model

    def words(self) -> list[str]:
        """Every keyword and negative cue: the words the segmenter must know."""
        return [
            _normalise(word)
            for cues in self.categories.values()
            for word in (*cues.keywords, *cues.negative)
        ]


def _read_rules(path: Path) -> ClassifierRules:
    text = read_text(path)
    return parse_model(ClassifierRules, text if text.strip() else "{}", str(path))


def _normalised(words: tuple[str, ...]) -> list[str]:
    return [_normalise(word) for word in words if word.strip()]


def _normalised_weights(weights: dict[str, float]) -> dict[str, float]:
    """Words that normalise alike ("ＡＢ", "ab") are one entry: the last one written."""
    return {_normalise(word): weight for word, weight in weights.items()}


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
        self._group_significant = rules.group_size.significant
        self._group_major = rules.group_size.major
        self._negations = tuple(sorted(set(_normalised(rules.negations)), key=len, reverse=True))
        self._benign = tuple(_normalised(rules.benign))

        tokens: dict[str, dict[int, float]] = {}
        phrases: dict[str, dict[int, float]] = {}
        for index, code in enumerate(CATEGORIES):
            cues = rules.categories.get(code) or _CategoryCues()
            for word, weight in _normalised_weights(cues.keywords).items():
                tokens.setdefault(word, {}).setdefault(index, 0.0)
                tokens[word][index] += weight
            for word, weight in _normalised_weights(cues.negative).items():
                tokens.setdefault(word, {}).setdefault(index, 0.0)
                tokens[word][index] -= abs(weight)
            for phrase, weight in _normalised_weights(cues.phrases).items():
                phrases.setdefault(phrase, {}).setdefault(index, 0.0)
                phrases[phrase][index] += weight

        self._tokens: dict[str, _Hits] = {
            word: tuple(hits.items()) for word, hits in tokens.items()
        }
        patterns = [_Pattern(phrase, None, tuple(hits.items())) for phrase, hits in phrases.items()]
        for level in (MAJOR, SIGNIFICANT):
            for cue in _normalised(getattr(rules.risk, level)):
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
        """Category, confidence and risk of one report. Never raises."""
        normalised = _normalise(text) if isinstance(text, str) else ""
        if not normalised:
            return _EMPTY
        scores, cues, risk_level, risk_cues = self._scan(normalised)

        order = sorted(range(len(CATEGORIES)), key=lambda i: -scores[i])
        best, runner_up = order[0], order[1]
        best_score = scores[best]
        category_cues: tuple[str, ...] = ()
        if best_score < self._min_score or best_score <= 0:
            # Too little evidence for any category: "other", and the dialog asks for the type
            # (ranked() still lists the weak candidates).
            category, confidence = OTHER, 0.0
        else:
            category = CATEGORIES[best]
            confidence = best_score / (best_score + max(scores[runner_up], 0.0) + self._smoothing)
            ranked_cues = sorted(cues[best], key=lambda item: -item[1])
            category_cues = tuple(word for word, _ in ranked_cues)[:MAX_CATEGORY_CUES]

        return Classification(
            category=category,
            confidence=confidence,
            risk=risk_level,
            cues=category_cues + tuple(cue for cue in risk_cues if cue not in category_cues),
            risk_cues=risk_cues,
            confident=confidence >= self._threshold and best_score >= self._min_score,
        )

    def ranked(self, text: str) -> list[tuple[str, float]]:
        """Categories with a positive score, best first (ties in vocabulary order).

        Meant for suggesting alternatives when the verdict is not confident; empty when nothing
        matched at all.
        """
        normalised = _normalise(text) if isinstance(text, str) else ""
        if not normalised:
            return []
        scores = self._scan(normalised)[0]
        pairs = [(code, round(scores[i], 3)) for i, code in enumerate(CATEGORIES) if scores[i] > 0]
        return sorted(pairs, key=lambda pair: -pair[1])

    def _scan(
        self, text: str
    ) -> tuple[list[float], list[list[tuple[str, float]]], str, tuple[str, ...]]:
        """Category scores with their positive cues, the risk level and the risk cues."""
        scores = [0.0] * len(CATEGORIES)
        cues: list[list[tuple[str, float]]] = [[] for _ in CATEGORIES]

        def add(word: str, hits: _Hits) -> None:
            for index, weight in hits:
                scores[index] += weight
                if weight > 0:
                    cues[index].append((word, weight))

        # Unique matched tokens in text order. Search-mode segmentation yields "物业" and "车库"
        # next to "物业费" and "地下车库"; a token inside a longer matched keyword does not count
        # again for the categories that keyword scores, so a compound weighs what its own entry
        # says rather than the sum of its parts ("倒垃圾" for neighbor leaves "垃圾" to the
        # environment score).
        matched_tokens: dict[str, _Hits] = {}
        for token in self._cut(text):
            if token not in matched_tokens:
                hits = self._tokens.get(token)
                if hits is not None:
                    matched_tokens[token] = hits
        for token, hits in matched_tokens.items():
            covered = {
                index
                for other, other_hits in matched_tokens.items()
                if token != other and token in other
                for index, _ in other_hits
            }
            add(token, tuple(hit for hit in hits if hit[0] not in covered) if covered else hits)

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
                    add(word, pattern.hits)
                elif start not in benign and not self._negated(text, start):
                    matched.add(id(pattern))
                    (major if pattern.risk == MAJOR else significant).append(word)

        for found in _GROUP_RE.finditer(text):
            size = _cn_number(found.group(1))
            if size >= self._group_major:
                major.append(found.group(0))
            elif size >= self._group_significant:
                significant.append(found.group(0))

        level = MAJOR if major else SIGNIFICANT if significant else GENERAL
        return scores, cues, level, tuple(dict.fromkeys(major + significant))

    def _cut(self, text: str) -> list[str]:
        try:
            return self._segmenter.cut(text)
        except Exception:
            logger.exception("segmenter failed; classifying on phrases only")
            return []

    def _negated(self, text: str, start: int) -> bool:
        return any(text.endswith(negation, 0, start) for negation in self._negations)
