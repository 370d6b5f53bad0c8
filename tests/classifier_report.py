"""Accuracy of the dispute classifier on the labelled dev set, as Markdown for the README.

Run from the project root::

    python -m tests.classifier_report

Prints per-category rows / correct / accuracy, the overall accuracy, risk accuracy per level
and the most frequent confusions (expected → predicted).
"""

from __future__ import annotations

import csv
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from dispatch.classify import Classification, Classifier
from dispatch.vocab import CATEGORIES, RISKS

DEVSET = Path(__file__).resolve().parent / "data" / "classifier_devset.tsv"
TUNING = Path(__file__).resolve().parent / "data" / "classifier_tuning.tsv"


@dataclass(frozen=True, slots=True)
class DevRow:
    category: str
    risk: str
    text: str


def load_devset(path: Path = DEVSET) -> list[DevRow]:
    """Rows of the tab-separated dev set (header ``category  risk  text``)."""
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        return [DevRow(row["category"], row["risk"], row["text"]) for row in reader]


@dataclass(slots=True)
class Evaluation:
    rows: int = 0
    correct: int = 0
    risk_correct: int = 0
    confident: int = 0
    confident_correct: int = 0
    major_as_general: int = 0
    per_category: Counter[str] = field(default_factory=Counter)
    per_category_correct: Counter[str] = field(default_factory=Counter)
    per_risk: Counter[str] = field(default_factory=Counter)
    per_risk_correct: Counter[str] = field(default_factory=Counter)
    confusions: Counter[tuple[str, str]] = field(default_factory=Counter)
    risk_confusions: Counter[tuple[str, str]] = field(default_factory=Counter)

    def add(self, row: DevRow, result: Classification) -> None:
        self.rows += 1
        self.per_category[row.category] += 1
        self.per_risk[row.risk] += 1
        hit = result.category == row.category
        if hit:
            self.correct += 1
            self.per_category_correct[row.category] += 1
        else:
            self.confusions[row.category, result.category] += 1
        if result.confident:
            self.confident += 1
            self.confident_correct += hit
        if result.risk == row.risk:
            self.risk_correct += 1
            self.per_risk_correct[row.risk] += 1
        else:
            self.risk_confusions[row.risk, result.risk] += 1
            self.major_as_general += row.risk == "major" and result.risk == "general"

    @property
    def accuracy(self) -> float:
        return self.correct / self.rows if self.rows else 0.0

    @property
    def risk_accuracy(self) -> float:
        return self.risk_correct / self.rows if self.rows else 0.0


def evaluate(classifier: Classifier, rows: list[DevRow]) -> Evaluation:
    evaluation = Evaluation()
    for row in rows:
        evaluation.add(row, classifier.classify(row.text))
    return evaluation


def _ratio(part: int, whole: int) -> str:
    return f"{part / whole:.3f}" if whole else "-"


def render(evaluation: Evaluation, top_confusions: int = 10) -> str:
    lines = [
        "| category | rows | correct | accuracy |",
        "|---|---:|---:|---:|",
    ]
    for code in CATEGORIES:
        rows = evaluation.per_category[code]
        correct = evaluation.per_category_correct[code]
        lines.append(f"| {code} | {rows} | {correct} | {_ratio(correct, rows)} |")
    lines.append(
        f"| **overall** | **{evaluation.rows}** | **{evaluation.correct}** "
        f"| **{evaluation.accuracy:.3f}** |"
    )
    lines += [
        "",
        f"Confident verdicts: {evaluation.confident} of {evaluation.rows} "
        f"({_ratio(evaluation.confident, evaluation.rows)}), "
        f"accuracy among them {_ratio(evaluation.confident_correct, evaluation.confident)}.",
        "",
        "| risk | rows | correct | accuracy |",
        "|---|---:|---:|---:|",
    ]
    for level in RISKS:
        rows = evaluation.per_risk[level]
        correct = evaluation.per_risk_correct[level]
        lines.append(f"| {level} | {rows} | {correct} | {_ratio(correct, rows)} |")
    lines.append(
        f"| **overall** | **{evaluation.rows}** | **{evaluation.risk_correct}** "
        f"| **{evaluation.risk_accuracy:.3f}** |"
    )
    lines += ["", f"Major rows rated general: {evaluation.major_as_general}.", ""]

    if evaluation.confusions:
        lines += ["| expected | predicted | count |", "|---|---|---:|"]
        for (expected, predicted), count in evaluation.confusions.most_common(top_confusions):
            lines.append(f"| {expected} | {predicted} | {count} |")
    if evaluation.risk_confusions:
        lines += ["", "| expected risk | predicted risk | count |", "|---|---|---:|"]
        for (expected, predicted), count in evaluation.risk_confusions.most_common():
            lines.append(f"| {expected} | {predicted} | {count} |")
    return "\n".join(lines)


def main() -> None:
    classifier = Classifier.load()
    print(render(evaluate(classifier, load_devset())))
    print("\n## Tuning set (classifier_tuning.tsv)\n")
    print(render(evaluate(classifier, load_devset(TUNING))))


if __name__ == "__main__":
    main()
