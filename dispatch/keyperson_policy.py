"""dispatch/data/keypersons.yaml as a pydantic model: visits required per tier, the ladder for
missing visits, the re-assessment period and the risk words of a visit."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Annotated

from pydantic import Field, PlainValidator

from dispatch.datafile import DataModel, parse_model, read_text

DEFAULT_KEYPERSONS_PATH = Path(__file__).parent / "data" / "keypersons.yaml"

TIERS = (1, 2, 3)
RISK_KINDS = ("threat", "self_harm", "petition", "sudden_change")


def _words(value: object) -> tuple[str, ...]:
    if not isinstance(value, list) or not value:
        raise ValueError("expected a non-empty list of words")
    words = tuple(str(w).strip() for w in value if isinstance(w, str | int))
    if len(words) != len(value) or not all(words):
        raise ValueError("every word must be non-empty text")
    return words


Words = Annotated[tuple[str, ...], PlainValidator(_words)]


class _Visits(DataModel):
    tier1: int = Field(ge=1, le=31)
    tier2: int = Field(ge=1, le=31)
    tier3: int = Field(ge=1, le=31)


class _Ladder(DataModel):
    remind_day: int = Field(ge=1, le=28)
    urge_day: int = Field(ge=1, le=28)
    leader_day: int = Field(ge=1, le=28)


class _Reassess(DataModel):
    every_months: int = Field(ge=1, le=12)
    answer_within_days: int = Field(ge=1, le=60)


class _RiskWords(DataModel):
    threat: Words
    self_harm: Words
    petition: Words
    sudden_change: Words


class _KeyPersonsFile(DataModel):
    visits_per_month: _Visits
    ladder: _Ladder
    reassess: _Reassess
    risk_words: _RiskWords


@dataclass(frozen=True, slots=True)
class KeyPersonPolicy:
    visits: dict[int, int]  # tier → visits a month
    remind_day: int
    urge_day: int
    leader_day: int
    reassess_months: int
    answer_within_days: int
    risk_words: dict[str, tuple[str, ...]]  # kind → words

    @classmethod
    def load(cls, path: Path | None = None) -> KeyPersonPolicy:
        path = path or DEFAULT_KEYPERSONS_PATH
        return cls.parse(read_text(path), source=str(path))

    @classmethod
    def parse(cls, text: str, *, source: str = "key persons policy") -> KeyPersonPolicy:
        model = parse_model(_KeyPersonsFile, text, source)
        if not model.ladder.remind_day <= model.ladder.urge_day:
            from dispatch.datafile import DataFileError

            raise DataFileError([f"{source}: ladder: remind_day must not come after urge_day"])
        v = model.visits_per_month
        return cls(
            visits={1: v.tier1, 2: v.tier2, 3: v.tier3},
            remind_day=model.ladder.remind_day,
            urge_day=model.ladder.urge_day,
            leader_day=model.ladder.leader_day,
            reassess_months=model.reassess.every_months,
            answer_within_days=model.reassess.answer_within_days,
            risk_words={kind: getattr(model.risk_words, kind) for kind in RISK_KINDS},
        )

    def quota(self, tier: int) -> int:
        return self.visits.get(tier, 1)

    def risk_flags(self, text: str) -> list[str]:
        """The kinds of risk whose words occur in `text`, in the file's order."""
        return [kind for kind, words in self.risk_words.items() if any(w in text for w in words)]


@cache
def default_keyperson_policy() -> KeyPersonPolicy:
    """The shipped file, read once per process."""
    return KeyPersonPolicy.load()
