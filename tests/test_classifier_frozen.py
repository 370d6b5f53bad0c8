"""The frozen classifier test set is well-formed, and the report scores both sets.

No accuracy threshold on the frozen set here on purpose: a test that fails below some score
invites tuning the rules until it passes, which is the one thing the set must never see.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import pytest

from dispatch.classify import Classification, Classifier
from dispatch.vocab import CATEGORIES, RISKS
from tests.classifier_report import (
    DEVSET,
    FROZEN,
    KINDS,
    DevRow,
    Evaluation,
    evaluate,
    load_devset,
    load_frozen,
    main,
    report,
    says_not_a_dispute,
)

HEADER = "category\trisk\tkind\tvoice\ttext"
DISPUTE_CATEGORIES = [code for code in CATEGORIES if code != "other"]


@pytest.fixture(scope="module")
def frozen() -> list[DevRow]:
    return load_frozen()


def test_frozen_file_has_the_header_and_five_columns_on_every_line() -> None:
    lines = FROZEN.read_text(encoding="utf-8").splitlines()
    assert lines[0] == HEADER
    bad = [number for number, line in enumerate(lines[1:], 2) if len(line.split("\t")) != 5]
    assert not bad, f"lines without exactly five tab-separated columns: {bad[:10]}"


def test_frozen_rows_use_only_allowed_values(frozen: list[DevRow]) -> None:
    assert {row.category for row in frozen} <= set(CATEGORIES)
    assert {row.risk for row in frozen} <= set(RISKS)
    assert {row.kind for row in frozen} <= set(KINDS)
    assert all(re.fullmatch(r"[a-z_]+", row.voice) for row in frozen)
    # Whatever is not a dispute goes to the dispatcher as `other`.
    assert all(row.category == "other" for row in frozen if row.kind != "dispute")


def test_frozen_texts_are_single_lines_of_6_to_300_characters(frozen: list[DevRow]) -> None:
    odd = [row.text for row in frozen if not 6 <= len(row.text) <= 300]
    assert not odd
    assert all(row.text == row.text.strip() and "\n" not in row.text for row in frozen)


def test_frozen_set_meets_the_size_requirements(frozen: list[DevRow]) -> None:
    assert len(frozen) >= 650
    not_disputes = sum(row.kind != "dispute" for row in frozen)
    assert not_disputes * 5 >= len(frozen), "at least a fifth must not be disputes"
    counts = Counter(row.category for row in frozen if row.kind == "dispute")
    thin = {code: counts[code] for code in DISPUTE_CATEGORIES if counts[code] < 25}
    assert not thin, f"dispute categories with fewer than 25 rows: {thin}"
    kinds = Counter(row.kind for row in frozen)
    assert all(kinds[kind] for kind in KINDS), kinds
    assert len({row.voice for row in frozen}) >= 8


def test_frozen_texts_are_unique_and_not_in_the_dev_set(frozen: list[DevRow]) -> None:
    texts = [row.text for row in frozen]
    duplicates = [text for text, count in Counter(texts).items() if count > 1]
    assert not duplicates
    assert not set(texts) & {row.text for row in load_devset(DEVSET)}


# --- the report -----------------------------------------------------------------------------


@dataclass(frozen=True)
class FakeResult:
    category: str
    risk: str = "general"
    confidence: float = 0.5
    confident: bool = False
    kind: str | None = None


class FakeClassifier:
    """Answers from a table: text → (result, ranked candidates)."""

    def __init__(self, answers: dict[str, tuple[FakeResult, list[tuple[str, float]]]]) -> None:
        self.answers = answers

    def classify(self, text: str) -> FakeResult:
        return self.answers[text][0]

    def ranked(self, text: str) -> list[tuple[str, float]]:
        return self.answers[text][1]


Answers = dict[str, tuple[FakeResult, list[tuple[str, float]]]]


def _evaluate(answers: Answers, rows: list[DevRow]) -> Evaluation:
    return evaluate(cast(Classifier, FakeClassifier(answers)), rows)


def test_top3_counts_the_expected_category_among_the_first_three() -> None:
    rows = [
        DevRow("labor", "general", "a"),
        DevRow("labor", "general", "b"),
        DevRow("labor", "general", "c"),
    ]
    answers = {
        "a": (FakeResult("labor"), [("labor", 5.0)]),
        "b": (FakeResult("property"), [("property", 5.0), ("contract", 3.0), ("labor", 2.0)]),
        "c": (
            FakeResult("property"),
            [("property", 5.0), ("contract", 3.0), ("family", 2.0), ("labor", 1.0)],
        ),
    }
    evaluation = _evaluate(answers, rows)
    assert (evaluation.correct, evaluation.top3_correct) == (1, 2)
    assert evaluation.confusions == Counter({("labor", "property"): 2})
    assert len(evaluation.costs_ns) == 3


def test_a_non_dispute_is_right_as_other_or_when_the_result_says_its_kind() -> None:
    rows = [
        DevRow("other", "general", "lamp", kind="service"),
        DevRow("other", "general", "hukou", kind="consultation"),
        DevRow("other", "major", "fire", kind="emergency"),
        DevRow("labor", "general", "wages"),
    ]
    answers = {
        "lamp": (FakeResult("traffic"), [("traffic", 4.0)]),
        "hukou": (FakeResult("other"), []),
        "fire": (FakeResult("environment", risk="major", kind="emergency"), []),
        # A dispute flagged as "not a dispute" is wrong even with the right category.
        "wages": (FakeResult("labor", kind="service"), [("labor", 4.0)]),
    }
    evaluation = _evaluate(answers, rows)
    assert {kind: (tally.rows, tally.top1) for kind, tally in evaluation.per_kind.items()} == {
        "service": (1, 0),
        "consultation": (1, 1),
        "emergency": (1, 1),
        "dispute": (1, 0),
    }
    assert evaluation.confusions[("(service)", "traffic")] == 1
    assert says_not_a_dispute(cast(Classification, FakeResult("labor", kind="consultation")))
    assert not says_not_a_dispute(cast(Classification, FakeResult("other", kind="dispute")))


def test_report_has_a_section_per_set_with_kinds_and_cost(tmp_path: Path) -> None:
    path = tmp_path / "tiny.tsv"
    path.write_text(
        f"{HEADER}\nlabor\tgeneral\tdispute\tfarmer\t老板欠工钱不给\n", encoding="utf-8"
    )
    answers = {"老板欠工钱不给": (FakeResult("labor"), [("labor", 3.0)])}
    classifier = cast(Classifier, FakeClassifier(answers))
    text = report(classifier, [("Tiny", path), ("Again", path)])
    assert text.count("## ") == 2
    assert "| labor | 1 | 1 | 1.000 | 1 | 1.000 |" in text
    assert "Cost per report (`classify`, 1 reports): median" in text


def test_the_report_command_prints_every_set(capsys: pytest.CaptureFixture[str]) -> None:
    main()
    out = capsys.readouterr().out
    for name in ("devset", "tuning", "tuning2", "frozen"):
        assert f"classifier_{name}.tsv" in out
    assert out.count("| **overall** |") == 2 * 4  # category and risk tables, for each set
    assert "| emergency |" in out and "p95" in out


def test_the_report_command_scores_only_the_sets_asked_for(
    capsys: pytest.CaptureFixture[str],
) -> None:
    main(["--sets", "dev,tuning2"])
    out = capsys.readouterr().out
    assert "classifier_devset.tsv" in out and "classifier_tuning2.tsv" in out
    assert "classifier_frozen.tsv" not in out and "classifier_tuning.tsv" not in out
    assert out.count("| **overall** |") == 4


def test_the_report_command_refuses_an_unknown_set(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--sets", "dev,test"])
    assert "unknown set test" in capsys.readouterr().err
