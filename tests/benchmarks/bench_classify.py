"""Start-up time and per-report cost of ``Classifier.classify`` on the dev-set texts.

Run from the project root::

    python -m tests.benchmarks.bench_classify [--repeat 20]

Loads the classifier (timed: jieba dictionary, user dictionary, rules), then classifies every
dev-set text ``--repeat`` times and prints the median, p95 and p99 cost per report, overall
throughput and the median by text length. Figures vary with machine load; run it on a quiet
machine before quoting them.
"""

from __future__ import annotations

import argparse
import statistics
import time

from dispatch.classify import Classifier
from tests.classifier_report import load_devset

LENGTH_BUCKETS = ((0, 20), (21, 40), (41, 80), (81, 10_000))


def _ms(nanoseconds: float) -> str:
    return f"{nanoseconds / 1e6:.3f}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    parser.add_argument("--repeat", type=int, default=20, help="passes over the dev set")
    args = parser.parse_args(argv)

    started = time.perf_counter_ns()
    classifier = Classifier.load()
    startup = time.perf_counter_ns() - started

    texts = [row.text for row in load_devset()]
    classifier.classify(texts[0])  # warm-up: first-call effects are not a per-report cost

    costs: list[int] = []
    by_length: dict[tuple[int, int], list[int]] = {bucket: [] for bucket in LENGTH_BUCKETS}
    for _ in range(args.repeat):
        for text in texts:
            before = time.perf_counter_ns()
            classifier.classify(text)
            cost = time.perf_counter_ns() - before
            costs.append(cost)
            for low, high in LENGTH_BUCKETS:
                if low <= len(text) <= high:
                    by_length[low, high].append(cost)
                    break

    cuts = statistics.quantiles(costs, n=100, method="inclusive")
    total = sum(costs)
    print(f"start-up (Classifier.load): {_ms(startup)} ms")
    print(
        f"{len(texts)} texts x {args.repeat} = {len(costs)} reports, "
        f"mean length {statistics.fmean(len(text) for text in texts):.1f} chars"
    )
    print(
        f"per report: median {_ms(statistics.median(costs))} ms, p95 {_ms(cuts[94])} ms, "
        f"p99 {_ms(cuts[98])} ms, max {_ms(max(costs))} ms"
    )
    print(f"throughput: {len(costs) / (total / 1e9):,.0f} reports/second")
    for (low, high), bucket in by_length.items():
        if bucket:
            label = f"{low}-{high}" if high < 10_000 else f"{low}+"
            print(
                f"  {label:>7} chars: median {_ms(statistics.median(bucket))} ms (n={len(bucket)})"
            )


if __name__ == "__main__":
    main()
