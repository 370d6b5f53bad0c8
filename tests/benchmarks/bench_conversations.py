"""Throughput and latency of whole citizen report dialogs, many Telegram users at once.

The real aiogram Dispatcher with our router and the outbox sender (``running_bot`` from
``tests/telegram_harness.py``) poll the stand-in Bot API in this process.  N simulated users
each complete a report begun from a grid's QR code (8 messages: /start g_<grid>, the
description, then taps and one typed answer, reading the callback_data from the buttons the
bot actually sent).  A mediator is bound to the grid's mediation committee, so cases are
offered and the sender delivers the offers.  Afterwards the database is checked: one case per
user, no dialog left open, every offer delivered.  Then a bare aiogram echo bot is measured on
a fresh stand-in with the same users × messages, for the ratio.

    python -m tests.benchmarks.bench_conversations [--users 50] [--database URL]

Without ``--database`` a fresh SQLite file (WAL) in a temporary directory is used.  With a
PostgreSQL URL, **the database's public schema is dropped and recreated** (as the tests do
with PINGAN_TEST_DATABASE_URL): point it at a throwaway database only.

Exit status 1 when any dialog failed or the database check did not add up.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import pstats
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import event, func, select, text

from bot.app import build_domain
from bot.wallclock import SystemClock
from dialogs.base import Services
from dispatch.classify import Classifier
from dispatch.people import create_invite
from storage.database import create_engine, session_factory
from storage.migrate import upgrade
from storage.models import Case, CaseOffer, DialogState, Identity, OutboxMessage
from tests.benchmarks._driver import (
    EXPECT_BOUND,
    MESSAGES_PER_DIALOG,
    REPORTS,
    VILLAGE_MEDIATION,
    Conversation,
    DialogFailed,
    markdown_table,
    percentile,
    report_dialog,
)
from tests.benchmarks.echo_baseline import measure_echo_baseline
from tests.fakes.telegram_api import FakeTelegramAPI
from tests.schema import empty_public_schema, import_demo_org
from tests.telegram_harness import running_bot

ZONE = ZoneInfo("Asia/Shanghai")
FIRST_USER = 810_000_000
WARMUP_USER = 809_999_999
MEDIATOR = 809_000_001
DRAIN_TIMEOUT = 60.0


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 1)


async def _fresh_database(url: str) -> Any:
    engine = create_engine(url)
    if engine.dialect.name == "postgresql":
        await empty_public_schema(engine)
    await upgrade(engine)
    await import_demo_org(engine)
    return engine


async def _backend(engine: Any) -> str:
    url = engine.url
    if engine.dialect.name == "sqlite":
        async with engine.connect() as conn:
            mode = (await conn.execute(text("PRAGMA journal_mode"))).scalar_one()
        return f"sqlite ({url.drivername}, journal_mode={mode}, {url.database})"
    async with engine.connect() as conn:
        version = (await conn.execute(text("SHOW server_version"))).scalar_one()
    return (
        f"{engine.dialect.name} {version} ({url.drivername}, {url.host}:{url.port}/{url.database})"
    )


async def _wait_outbox_drained(services: Services, limit: float) -> tuple[float, dict[str, int]]:
    """Wait until no notice is pending or being sent; return (seconds waited, status counts)."""
    began = time.monotonic()
    while True:
        async with services.sessions() as session:
            rows = (
                await session.execute(
                    select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)
                )
            ).all()
        counts = {status: count for status, count in rows}
        if not counts.get("pending") and not counts.get("sending"):
            return round(time.monotonic() - began, 2), counts
        if time.monotonic() - began > limit:
            return round(time.monotonic() - began, 2), counts
        await asyncio.sleep(0.1)


async def run(users: int, database: str | None, echo: bool, profile: str | None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="pingan-bench-") as tmp:
        url = database or f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        engine = await _fresh_database(url)
        try:
            result = await _run_on(engine, users, profile)
        finally:
            await engine.dispose()
    if echo:
        async with FakeTelegramAPI() as fake:
            result["echo"] = await measure_echo_baseline(fake, users, MESSAGES_PER_DIALOG)
        ours = result["messages_per_second"]
        theirs = result["echo"]["messages_per_second"]
        result["ratio_to_echo"] = round(ours / theirs, 3) if theirs else None
    return result


async def _run_on(engine: Any, users: int, profile: str | None) -> dict[str, Any]:
    services = Services(
        sessions=session_factory(engine),
        domain=build_domain(SystemClock(), ZONE),
        classifier=Classifier.load(),
    )
    backend = await _backend(engine)
    async with services.sessions() as session, session.begin():
        invite = await create_invite(
            session, services.clock, "mediator", VILLAGE_MEDIATION, "调解员（压测）"
        )

    failures: list[str] = []
    numbers: dict[int, str] = {}
    talks: list[Conversation] = []
    async with running_bot(services, like_run=True) as tg:
        fake = tg.fake
        mediator = Conversation(fake, MEDIATOR)
        await mediator.says("bind", f"/bind {invite.code}", EXPECT_BOUND)
        warmup = Conversation(fake, WARMUP_USER)
        await report_dialog(warmup, REPORTS[0])  # connections, caches, first case number

        async def citizen(index: int) -> None:
            talk = Conversation(fake, FIRST_USER + index)
            talks.append(talk)
            try:
                numbers[talk.user_id] = await report_dialog(talk, REPORTS[index % len(REPORTS)])
            except DialogFailed as exc:
                failures.append(str(exc))

        profiler = cProfile.Profile() if profile else None
        if profiler is not None:
            profiler.enable()
        # Statements and transactions reaching the database (SQLAlchemy events), over the
        # timed phase: what each message costs the database, whatever the machine's load.
        sql = {"statements": 0, "commits": 0}

        def on_statement(*_: Any) -> None:
            sql["statements"] += 1

        def on_commit(*_: Any) -> None:
            sql["commits"] += 1

        event.listen(engine.sync_engine, "before_cursor_execute", on_statement)
        event.listen(engine.sync_engine, "commit", on_commit)
        began, cpu_began = time.monotonic(), time.process_time()
        async with asyncio.TaskGroup() as group:
            for index in range(users):
                group.create_task(citizen(index))
        elapsed = time.monotonic() - began
        cpu = time.process_time() - cpu_began
        event.remove(engine.sync_engine, "before_cursor_execute", on_statement)
        event.remove(engine.sync_engine, "commit", on_commit)
        if profiler is not None and profile:
            profiler.disable()
            profiler.dump_stats(profile)

        tg.sender.wake()
        drained_after, outbox_counts = await _wait_outbox_drained(services, DRAIN_TIMEOUT)
        offers_received = sum(
            1
            for call in fake.sent(MEDIATOR)
            if any("a:" in data for row in fake.buttons(call) for _, data in row)
        )

    # ---- the database must show every dialog completed
    user_refs = [str(FIRST_USER + i) for i in range(users)]
    async with services.sessions() as session:
        case_rows = (
            await session.execute(
                select(Case.number, Case.category, Case.status)
                .join(Identity, Identity.person_id == Case.reporter_id)
                .where(Identity.channel == "telegram", Identity.user_ref.in_(user_refs))
            )
        ).all()
        open_dialogs = await session.scalar(
            select(func.count())
            .select_from(DialogState)
            .join(Identity, Identity.person_id == DialogState.person_id)
            .where(Identity.channel == "telegram", Identity.user_ref.in_(user_refs))
        )
        offers = await session.scalar(select(func.count()).select_from(CaseOffer))
        total_cases = await session.scalar(select(func.count()).select_from(Case))
    db_numbers = {row.number for row in case_rows}
    categories: dict[str, int] = defaultdict(int)
    statuses: dict[str, int] = defaultdict(int)
    for row in case_rows:
        categories[row.category] += 1
        statuses[row.status] += 1
    checks = {
        "cases_for_users": len(case_rows),
        "expected_cases": users,
        "receipts": len(numbers),
        "receipt_numbers_in_db": len(set(numbers.values()) & db_numbers),
        "unique_numbers": len(db_numbers) == len(case_rows),
        "open_dialogs": open_dialogs,
        "total_cases_incl_warmup": total_cases,
        "offers": offers,
        "offers_delivered_to_mediator": offers_received,
        "outbox": outbox_counts,
        "outbox_drained_after_s": drained_after,
    }
    problems = list(failures)
    if len(case_rows) != users:
        problems.append(f"{len(case_rows)} cases in the database for {users} users")
    if checks["receipt_numbers_in_db"] != users:
        problems.append(f"only {checks['receipt_numbers_in_db']} receipts match a stored case")
    if not checks["unique_numbers"]:
        problems.append("case numbers are not unique")
    if open_dialogs:
        problems.append(f"{open_dialogs} dialogs left open")
    if outbox_counts.get("pending") or outbox_counts.get("sending") or outbox_counts.get("failed"):
        problems.append(f"outbox not cleanly drained: {outbox_counts}")
    async with services.sessions() as session:
        # Replies (purpose "reply": receipts, and replies whose direct send failed) go
        # through the outbox too; the mediator's offers are the notices.
        notices_sent = await session.scalar(
            select(func.count())
            .select_from(OutboxMessage)
            .where(OutboxMessage.status == "sent", OutboxMessage.purpose != "reply")
        )
    if offers_received != notices_sent:
        problems.append(f"mediator received {offers_received} offers, outbox says {notices_sent}")

    latencies = sorted(e.latency for t in talks for e in t.exchanges)
    by_step: dict[str, list[float]] = defaultdict(list)
    for talk in talks:
        for exchange in talk.exchanges:
            by_step[exchange.step].append(exchange.latency)
    handled = len(latencies)
    return {
        "backend": backend,
        "users": users,
        "messages_per_user": MESSAGES_PER_DIALOG,
        "handled": handled,
        "seconds": round(elapsed, 3),
        "messages_per_second": round(handled / elapsed, 1) if elapsed else 0.0,
        # CPU of this whole process (bot, stand-in API, drivers, SQLite threads) per wall second
        "cpu_utilisation": round(cpu / elapsed, 2) if elapsed else 0.0,
        "cpu_ms_per_message": round(cpu / handled * 1000, 2) if handled else 0.0,
        "statements_per_message": round(sql["statements"] / handled, 1) if handled else 0.0,
        "commits_per_message": round(sql["commits"] / handled, 2) if handled else 0.0,
        "p50_ms": _ms(percentile(latencies, 0.50)),
        "p95_ms": _ms(percentile(latencies, 0.95)),
        "p99_ms": _ms(percentile(latencies, 0.99)),
        "max_ms": _ms(latencies[-1]) if latencies else 0.0,
        "steps": {
            step: {
                "n": len(values),
                "p50_ms": _ms(percentile(sorted(values), 0.50)),
                "p95_ms": _ms(percentile(sorted(values), 0.95)),
                "max_ms": _ms(max(values)),
            }
            for step, values in by_step.items()
        },
        "categories": dict(categories),
        "statuses": dict(statuses),
        "checks": checks,
        "problems": problems,
    }


def report(result: dict[str, Any]) -> str:
    out = [f"### Conversations: {result['users']} users × {result['messages_per_user']} messages"]
    out.append(f"Database backend: **{result['backend']}**")
    out.append(
        f"Process CPU during the run: {result['cpu_utilisation']} s per wall second, "
        f"{result['cpu_ms_per_message']} ms per message (bot + stand-in API + drivers); "
        f"SQL per message: {result['statements_per_message']} statements, "
        f"{result['commits_per_message']} commits (the sender's included)"
    )
    out.append("")
    header = ["bot", "handled", "seconds", "msgs/s", "p50 ms", "p95 ms", "p99 ms", "max ms"]
    rows: list[list[object]] = [
        [
            "pingan (report dialog)",
            result["handled"],
            result["seconds"],
            result["messages_per_second"],
            result["p50_ms"],
            result["p95_ms"],
            result["p99_ms"],
            result["max_ms"],
        ]
    ]
    echo = result.get("echo")
    if echo:
        rows.append(
            [
                "bare aiogram echo",
                echo["handled"],
                echo["seconds"],
                echo["messages_per_second"],
                echo["p50_ms"],
                "-",
                echo["p99_ms"],
                echo["max_ms"],
            ]
        )
    out.append(markdown_table(header, rows))
    if echo:
        out.append("")
        out.append(f"Ratio ours / echo (msgs/s): **{result['ratio_to_echo']}**")
    out.append("")
    out.append("Per step (latency push → last reply):")
    out.append("")
    out.append(
        markdown_table(
            ["step", "n", "p50 ms", "p95 ms", "max ms"],
            [
                [step, s["n"], s["p50_ms"], s["p95_ms"], s["max_ms"]]
                for step, s in result["steps"].items()
            ],
        )
    )
    checks = result["checks"]
    out.append("")
    out.append(
        f"Check: {checks['cases_for_users']}/{checks['expected_cases']} cases in the database, "
        f"{checks['receipt_numbers_in_db']} receipts match, {checks['open_dialogs']} dialogs "
        f"open; {checks['offers']} offers, {checks['offers_delivered_to_mediator']} delivered "
        f"to the mediator (outbox {checks['outbox']}, drained {checks['outbox_drained_after_s']} s"
        f" after the last dialog); categories {result['categories']}; statuses "
        f"{result['statuses']}"
    )
    if result["problems"]:
        out.append("")
        out.append(f"**FAILED** ({len(result['problems'])} problems):")
        out += [f"- {p}" for p in result["problems"][:20]]
    else:
        out.append("")
        out.append("All dialogs completed: OK")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--users", type=int, default=50, help="concurrent users (default 50)")
    parser.add_argument(
        "--database",
        default=None,
        help="database URL (default: a fresh SQLite file); a PostgreSQL database is WIPED",
    )
    parser.add_argument("--no-echo", action="store_true", help="skip the echo baseline")
    parser.add_argument("--profile", metavar="FILE", help="cProfile the timed phase into FILE")
    parser.add_argument("--json", action="store_true", help="also print the raw result as JSON")
    args = parser.parse_args(argv)
    result = asyncio.run(run(args.users, args.database, not args.no_echo, args.profile))
    print(report(result))
    if args.json:
        print(json.dumps(result, ensure_ascii=False, indent=2))
    if args.profile:
        print(f"\nTop 25 by cumulative time (profile saved to {args.profile}):")
        pstats.Stats(args.profile).sort_stats("cumulative").print_stats(25)
    return 1 if result["problems"] else 0


if __name__ == "__main__":
    sys.exit(main())
