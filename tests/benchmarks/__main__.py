"""Run every benchmark in sequence and print their tables: ``python -m tests.benchmarks``.

1. the classifier benchmark (``bench_classify``), if that module exists;
2. whole conversations on SQLite (``bench_conversations``);
3. the same on PostgreSQL, if PINGAN_TEST_DATABASE_URL is set (its public schema is
   dropped and recreated, as the tests do);
4. the sweep and the daily report on a million cases (``bench_sweep``);
5. start-up, memory and shutdown of the real ``pingan run`` (``bench_run``);
6. notices through kills, 429/5xx bursts and an outage (``bench_faults``, 10-16 minutes).

Each runs in its own interpreter (fresh memory, its own event loop).  The exit status is 1
if any of them failed (a failed dialog, a missing case, an unclean exit...).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]


def plan(users: int | None) -> list[tuple[str, list[str]]]:
    conversations = ["--users", str(users)] if users else []
    steps: list[tuple[str, list[str]]] = []
    if (HERE / "bench_classify.py").exists():
        steps.append(("classify", ["tests.benchmarks.bench_classify"]))
    steps.append(
        ("conversations (SQLite)", ["tests.benchmarks.bench_conversations", *conversations])
    )
    postgres = os.environ.get("PINGAN_TEST_DATABASE_URL")
    if postgres:
        steps.append(
            (
                "conversations (PostgreSQL)",
                ["tests.benchmarks.bench_conversations", "--database", postgres, *conversations],
            )
        )
    steps.append(("sweep and daily report, 1M cases (SQLite)", ["tests.benchmarks.bench_sweep"]))
    steps.append(("pingan run: start-up, memory, shutdown", ["tests.benchmarks.bench_run"]))
    steps.append(
        ("faults: kills, 429/5xx bursts, an outage (SQLite)", ["tests.benchmarks.bench_faults"])
    )
    return steps


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--users", type=int, default=None, help="users for the conversations")
    args = parser.parse_args(argv)
    summary: list[tuple[str, int, float]] = []
    for title, command in plan(args.users):
        print(f"\n## {title}\n", flush=True)
        began = time.monotonic()
        code = subprocess.call([sys.executable, "-m", *command], cwd=ROOT)
        summary.append((title, code, time.monotonic() - began))
    print("\n## Summary\n")
    print("| benchmark | result | seconds |")
    print("| --- | --- | --- |")
    for title, code, seconds in summary:
        print(f"| {title} | {'OK' if code == 0 else f'FAILED (exit {code})'} | {seconds:.0f} |")
    if not os.environ.get("PINGAN_TEST_DATABASE_URL"):
        print("\n(PostgreSQL skipped: set PINGAN_TEST_DATABASE_URL to a throwaway database.)")
    return 1 if any(code for _, code, _ in summary) else 0


if __name__ == "__main__":
    sys.exit(main())
