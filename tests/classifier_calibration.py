"""Top-1 / top-3 per type, kind accuracy and a reliability table of the classifier's calibrated
confidence, on the dev set and the two tuning sets, as Markdown.

Run from the project root::

    python -m tests.classifier_calibration

Top-3 counts a report when its true category is among ``Classification.candidates``. The
reliability table bins verdicts by their reported confidence and shows how often they were
right; the rules (and the temperature) were fitted to these same sets, so the table shows
calibration where it was fitted, not on new text.
"""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

from dispatch.classify import Classification, Classifier
from dispatch.vocab import CATEGORIES

DATA = Path(__file__).resolve().parent / "data"
SETS = (
    ("dev set", DATA / "classifier_devset.tsv"),
    ("tuning set", DATA / "classifier_tuning.tsv"),
    ("second tuning set", DATA / "classifier_tuning2.tsv"),
)
BINS = 10


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))


def _share(part: int, whole: int) -> str:
    return f"{part / whole:.3f}" if whole else "-"


def per_type(name: str, rows: list[tuple[dict[str, str], Classification]]) -> list[str]:
    count: Counter[str] = Counter()
    top1: Counter[str] = Counter()
    top3: Counter[str] = Counter()
    confusions: Counter[tuple[str, str]] = Counter()
    for row, result in rows:
        keys = [row["category"]] + ([f"kind={row['kind']}"] if row.get("kind") else [])
        for key in keys:
            count[key] += 1
            top1[key] += result.category == row["category"]
            top3[key] += row["category"] in dict(result.candidates)
        if result.category != row["category"]:
            confusions[row["category"], result.category] += 1
    total = len(rows)
    hits1 = sum(result.category == row["category"] for row, result in rows)
    hits3 = sum(row["category"] in dict(result.candidates) for row, result in rows)
    lines = [
        f"### {name}: top-1 {_share(hits1, total)}, top-3 {_share(hits3, total)} ({total} rows)",
        "",
        "| type | rows | top-1 | top-3 |",
        "|---|---:|---:|---:|",
    ]
    keys = [c for c in CATEGORIES if count[c]] + sorted(k for k in count if k.startswith("kind="))
    for key in keys:
        lines.append(
            f"| {key} | {count[key]} | {_share(top1[key], count[key])} "
            f"| {_share(top3[key], count[key])} |"
        )
    if any(row.get("kind") for row, _ in rows):
        right = sum(result.kind == row["kind"] for row, result in rows)
        lines += [
            "",
            f"Kind (dispute/service/consultation/emergency) right: {_share(right, total)}.",
        ]
    if confusions:
        pairs = ", ".join(f"{a} → {b} {n}" for (a, b), n in confusions.most_common(12))
        lines += ["", f"Confusions (expected → predicted): {pairs}."]
    return lines


def reliability(rows: list[tuple[dict[str, str], Classification]]) -> list[str]:
    count = [0] * BINS
    claimed = [0.0] * BINS
    right = [0] * BINS
    for row, result in rows:
        index = min(int(result.confidence * BINS), BINS - 1)
        count[index] += 1
        claimed[index] += result.confidence
        right[index] += result.category == row["category"]
    lines = [
        "| confidence | verdicts | mean confidence | accuracy |",
        "|---|---:|---:|---:|",
    ]
    for index in range(BINS):
        if count[index]:
            lines.append(
                f"| {index / BINS:.1f}-{(index + 1) / BINS:.1f} | {count[index]} "
                f"| {claimed[index] / count[index]:.2f} | {right[index] / count[index]:.2f} |"
            )
    confident = [(row, r) for row, r in rows if r.confident]
    hits = sum(r.category == row["category"] for row, r in confident)
    lines += [
        "",
        f"Confident verdicts: {len(confident)} of {len(rows)}, "
        f"right {_share(hits, len(confident))}.",
    ]
    return lines


def main() -> None:
    classifier = Classifier.load()
    everything: list[tuple[dict[str, str], Classification]] = []
    for name, path in SETS:
        rows = [(row, classifier.classify(row["text"])) for row in _rows(path)]
        everything += rows
        print("\n".join(per_type(name, rows)), end="\n\n")
    print("### Reliability, both sets\n")
    print("\n".join(reliability(everything)))


if __name__ == "__main__":
    main()
