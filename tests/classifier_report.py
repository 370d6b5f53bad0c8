"""Accuracy and cost of the dispute classifier on the dev set and the frozen test set, as Markdown.

Run from the project root::

    python -m tests.classifier_report
    python -m tests.classifier_report --sets dev,tuning,tuning2   # leave the frozen set out

For each set it prints top-1 and top-3 accuracy per category and per kind of report (dispute,
service request, consultation, emergency), risk accuracy per level, the most frequent
confusions (expected → predicted) and the cost of ``Classifier.classify`` per report.

The dev set (``classifier_devset.tsv``) is what the rules were tuned on. The frozen set
(``classifier_frozen.tsv``, see ``tests/data/README.md``) was written before the rework and
must never be tuned on: read its figures, never its rows, when changing the rules.
"""

from __future__ import annotations

import argparse
import csv
import statistics
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from dispatch.classify import Classification, Classifier
from dispatch.vocab import CATEGORIES, RISKS

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"
DEVSET = DATA / "classifier_devset.tsv"
FROZEN = DATA / "classifier_frozen.tsv"
TUNING = DATA / "classifier_tuning.tsv"
TUNING2 = DATA / "classifier_tuning2.tsv"

DISPUTE = "dispute"
# What a report is, besides a dispute: a city-service request, a question about a procedure,
# or something for 110/120/119 right now. All of them go to the dispatcher as `other`.
NOT_DISPUTE_KINDS = ("service", "consultation", "emergency")
KINDS = (DISPUTE, *NOT_DISPUTE_KINDS)
TOP_N = 3


@dataclass(frozen=True, slots=True)
class DevRow:
    category: str
    risk: str
    text: str
    kind: str = DISPUTE
    voice: str = ""

    @property
    def is_dispute(self) -> bool:
        return self.kind == DISPUTE


def load_devset(path: Path = DEVSET) -> list[DevRow]:
    """Rows of a tab-separated labelled set.

    The header is ``category  risk  text``, optionally with ``kind`` and ``voice`` columns
    (the frozen set has them; a row without a kind is a dispute).
    """
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        return [
            DevRow(
                row["category"],
                row["risk"],
                row["text"],
                kind=row.get("kind") or DISPUTE,
                voice=row.get("voice") or "",
            )
            for row in reader
        ]


def load_frozen(path: Path = FROZEN) -> list[DevRow]:
    """The frozen test set: for reporting only, never for tuning."""
    return load_devset(path)


def says_not_a_dispute(result: Classification) -> bool:
    """Whether the classifier's answer means "this is not a dispute".

    An explicit kind on the result wins (the classifier may learn one); until then the only
    way to say it is the category `other`.
    """
    kind = getattr(result, "kind", None)
    if isinstance(kind, str) and kind:
        return kind != DISPUTE
    return result.category == "other"


def top1_hit(row: DevRow, result: Classification) -> bool:
    if not row.is_dispute:
        return says_not_a_dispute(result)
    kind = getattr(result, "kind", None)
    if isinstance(kind, str) and kind and kind != DISPUTE:
        # A dispute sent down the "not a dispute" path is wrong whatever category came with it.
        return False
    return result.category == row.category


def top3_hit(row: DevRow, result: Classification, ranked: Sequence[tuple[str, float]]) -> bool:
    """Top-1 right, or the expected category among the first three ranked candidates.

    For a report that is not a dispute the wanted candidate is `other`.
    """
    if top1_hit(row, result):
        return True
    wanted = row.category if row.is_dispute else "other"
    return wanted in [code for code, _ in ranked[:TOP_N]]


@dataclass(slots=True)
class Tally:
    rows: int = 0
    top1: int = 0
    top3: int = 0

    def add(self, hit1: bool, hit3: bool) -> None:
        self.rows += 1
        self.top1 += hit1
        self.top3 += hit3


@dataclass(slots=True)
class Evaluation:
    rows: int = 0
    correct: int = 0
    top3_correct: int = 0
    risk_correct: int = 0
    confident: int = 0
    confident_correct: int = 0
    major_as_general: int = 0
    per_category: Counter[str] = field(default_factory=Counter)
    per_category_correct: Counter[str] = field(default_factory=Counter)
    per_category_top3: Counter[str] = field(default_factory=Counter)
    per_kind: dict[str, Tally] = field(default_factory=dict)
    per_risk: Counter[str] = field(default_factory=Counter)
    per_risk_correct: Counter[str] = field(default_factory=Counter)
    confusions: Counter[tuple[str, str]] = field(default_factory=Counter)
    risk_confusions: Counter[tuple[str, str]] = field(default_factory=Counter)
    costs_ns: list[int] = field(default_factory=list)

    def add(
        self,
        row: DevRow,
        result: Classification,
        ranked: Sequence[tuple[str, float]] = (),
        cost_ns: int | None = None,
    ) -> None:
        self.rows += 1
        self.per_category[row.category] += 1
        self.per_risk[row.risk] += 1
        hit = top1_hit(row, result)
        hit3 = top3_hit(row, result, ranked)
        self.per_kind.setdefault(row.kind, Tally()).add(hit, hit3)
        if hit:
            self.correct += 1
            self.per_category_correct[row.category] += 1
        else:
            expected = row.category if row.is_dispute else f"({row.kind})"
            self.confusions[expected, result.category] += 1
        if hit3:
            self.top3_correct += 1
            self.per_category_top3[row.category] += 1
        if result.confident:
            self.confident += 1
            self.confident_correct += hit
        if result.risk == row.risk:
            self.risk_correct += 1
            self.per_risk_correct[row.risk] += 1
        else:
            self.risk_confusions[row.risk, result.risk] += 1
            self.major_as_general += row.risk == "major" and result.risk == "general"
        if cost_ns is not None:
            self.costs_ns.append(cost_ns)

    @property
    def accuracy(self) -> float:
        return self.correct / self.rows if self.rows else 0.0

    @property
    def top3_accuracy(self) -> float:
        return self.top3_correct / self.rows if self.rows else 0.0

    @property
    def risk_accuracy(self) -> float:
        return self.risk_correct / self.rows if self.rows else 0.0


def evaluate(classifier: Classifier, rows: list[DevRow]) -> Evaluation:
    """Classify every row; the cost is that of ``classify`` alone, as a report pays it."""
    evaluation = Evaluation()
    if rows:
        classifier.classify(rows[0].text)  # warm-up: first-call effects are not a per-report cost
    for row in rows:
        before = time.perf_counter_ns()
        result = classifier.classify(row.text)
        cost = time.perf_counter_ns() - before
        evaluation.add(row, result, classifier.ranked(row.text), cost)
    return evaluation


def _ratio(part: int, whole: int) -> str:
    return f"{part / whole:.3f}" if whole else "-"


def _ms(nanoseconds: float) -> str:
    return f"{nanoseconds / 1e6:.3f}"


def cost_line(evaluation: Evaluation) -> str:
    costs = evaluation.costs_ns
    if not costs:
        return "Cost per report: not measured."
    p95 = statistics.quantiles(costs, n=100, method="inclusive")[94] if len(costs) > 1 else costs[0]
    return (
        f"Cost per report (`classify`, {len(costs)} reports): median "
        f"{_ms(statistics.median(costs))} ms, p95 {_ms(p95)} ms."
    )


def render(evaluation: Evaluation, top_confusions: int = 10) -> str:
    lines = [
        "| category | rows | top-1 | top-1 acc. | top-3 | top-3 acc. |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for code in CATEGORIES:
        rows = evaluation.per_category[code]
        correct = evaluation.per_category_correct[code]
        top3 = evaluation.per_category_top3[code]
        lines.append(
            f"| {code} | {rows} | {correct} | {_ratio(correct, rows)} "
            f"| {top3} | {_ratio(top3, rows)} |"
        )
    lines.append(
        f"| **overall** | **{evaluation.rows}** | **{evaluation.correct}** "
        f"| **{evaluation.accuracy:.3f}** | **{evaluation.top3_correct}** "
        f"| **{evaluation.top3_accuracy:.3f}** |"
    )
    if set(evaluation.per_kind) != {DISPUTE}:
        lines += [
            "",
            "A report that is not a dispute counts as right when the answer is `other` "
            "(or, once the classifier says so, a kind other than dispute).",
            "",
            "| kind | rows | top-1 | top-1 acc. | top-3 | top-3 acc. |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for kind in (*KINDS, *sorted(set(evaluation.per_kind) - set(KINDS))):
            tally = evaluation.per_kind.get(kind)
            if tally is None:
                continue
            lines.append(
                f"| {kind} | {tally.rows} | {tally.top1} | {_ratio(tally.top1, tally.rows)} "
                f"| {tally.top3} | {_ratio(tally.top3, tally.rows)} |"
            )
    lines += [
        "",
        f"Confident verdicts: {evaluation.confident} of {evaluation.rows} "
        f"({_ratio(evaluation.confident, evaluation.rows)}), "
        f"accuracy among them {_ratio(evaluation.confident_correct, evaluation.confident)}.",
        "",
        cost_line(evaluation),
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


def report(classifier: Classifier, sets: Sequence[tuple[str, Path]]) -> str:
    """One section per labelled set, each headed by its name, file and row count."""
    sections = []
    for title, path in sets:
        rows = load_devset(path)
        evaluation = evaluate(classifier, rows)
        shown = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
        sections.append(
            f"## {title} (`{shown}`, {len(rows)} reports)\n\n"
            f"{render(evaluation, top_confusions=15)}"
        )
    return "\n\n".join(sections)


SETS = (
    ("Dev set: the rules were tuned on it", DEVSET),
    ("Tuning set: written to tune the rework on, then tuned on", TUNING),
    ("Second tuning set: scored once before the second round, then tuned on", TUNING2),
    ("Frozen test set: never tune on it", FROZEN),
)
# Short names for --sets, in the order of SETS.
SET_NAMES = ("dev", "tuning", "tuning2", "frozen")


def main(argv: Sequence[str] = ()) -> None:
    """Print the report; ``argv`` are the command-line arguments (none: every set)."""
    parser = argparse.ArgumentParser(description="Accuracy and cost of the dispute classifier.")
    parser.add_argument(
        "--sets",
        default=",".join(SET_NAMES),
        help="comma-separated sets to score, of " + ", ".join(SET_NAMES) + " (default: all); "
        "leave out frozen while changing the rules so that its rows are never printed",
    )
    args = parser.parse_args(argv)
    wanted = [name.strip() for name in args.sets.split(",") if name.strip()]
    unknown = [name for name in wanted if name not in SET_NAMES]
    if unknown or not wanted:
        parser.error(
            f"unknown set {', '.join(unknown) or '(none)'}; choose from {', '.join(SET_NAMES)}"
        )
    chosen = [SETS[SET_NAMES.index(name)] for name in SET_NAMES if name in wanted]
    print(report(Classifier.load(), chosen))


if __name__ == "__main__":
    main(sys.argv[1:])
