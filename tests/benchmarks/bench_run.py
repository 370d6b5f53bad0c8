"""Start-up time, memory and clean shutdown of the real `pingan run` process.

The stand-in Bot API runs in this process; `pingan run` is spawned as a child with
PINGAN_TELEGRAM_API_BASE pointing at it, on a temporary SQLite database made with
`pingan init --demo`.  For each start:

* **ready** = spawn → both GET /healthz answered 200 and the bot called getUpdates;
* resident memory (VmRSS) once ready;
* SIGTERM → the exit code (0 or -15 count as clean) and how long it took (limit 5 s).

The first start also carries a load: a mediator binds, then a few users complete report
dialogs concurrently (~200 messages), while /healthz is probed every 100 ms; then VmRSS and
the peak VmHWM are read from /proc/PID/status and the cases are counted in the database.

    python -m tests.benchmarks.bench_run [--starts 3] [--users 5] [--dialogs 5]

Targets: ready < 3 s, RSS < 250 MB.  Exit status 1 when the process did not become ready,
a dialog failed, the database misses cases, or a shutdown was not clean (a missed target
is reported, not an error).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.metadata
import json
import os
import signal
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

from tests.benchmarks._driver import (
    EXPECT_BOUND,
    MESSAGES_PER_DIALOG,
    REPORTS,
    VILLAGE_MEDIATION,
    Conversation,
    DialogFailed,
    free_port,
    markdown_table,
    percentile,
    pingan_command,
    report_dialog,
    run_pingan,
)
from tests.fakes.telegram_api import FakeTelegramAPI

# settings.py wants digits, a colon and 20+ of [A-Za-z0-9_-]; the fake must use the same.
TOKEN = "123456:TEST-TOKEN-xxxxxxxxxxxxxxxxxxxx"
READY_TARGET_S = 3.0
RSS_TARGET_MB = 250.0
READY_TIMEOUT_S = 30.0
STOP_LIMIT_S = 5.0
FIRST_USER = 820_000_000
MEDIATOR = 819_000_001


def _memory_mb(pid: int) -> dict[str, float]:
    """VmRSS and VmHWM (peak RSS) of a process, in MB."""
    out: dict[str, float] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = round(int(value.split()[0]) / 1024, 1)
    return out


def _versions() -> str:
    found = [f"Python {sys.version.split()[0]}"]
    for name in ("aiogram", "pydantic", "SQLAlchemy", "jieba"):
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            found.append(f"{name} {importlib.metadata.version(name)}")
    return ", ".join(found) + f"; {os.cpu_count()} CPUs"


def _base_env(database_url: str) -> dict[str, str]:
    # Nothing from a developer's own configuration (a PINGAN_PUBLIC_URL would mean webhooks).
    env = {k: v for k, v in os.environ.items() if not k.startswith("PINGAN_")}
    env["PINGAN_DATABASE_URL"] = database_url
    # Each simulated user sends 40 messages in well under a minute: the per-person limit
    # (PINGAN_MESSAGES_PER_MINUTE, 20 by default) would answer "too fast" and then nothing.
    env["PINGAN_MESSAGES_PER_MINUTE"] = "0"
    return env


async def _wait_healthy(url: str, began: float, deadline: float) -> float:
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            with contextlib.suppress(aiohttp.ClientError, OSError):
                async with http.get(url, timeout=aiohttp.ClientTimeout(total=1)) as resp:
                    if resp.status == 200:
                        return time.monotonic() - began
            await asyncio.sleep(0.01)
    raise TimeoutError(f"{url} did not answer 200 within {READY_TIMEOUT_S} s")


async def _probe_health(url: str, stop: asyncio.Event, samples: list[tuple[float, int]]) -> None:
    """GET /healthz every 100 ms until stopped; record (latency, status) (status 0: error)."""
    async with aiohttp.ClientSession() as http:
        while not stop.is_set():
            began = time.monotonic()
            try:
                async with http.get(url, timeout=aiohttp.ClientTimeout(total=15)) as resp:
                    await resp.read()
                    samples.append((time.monotonic() - began, resp.status))
            except (aiohttp.ClientError, OSError, TimeoutError):
                samples.append((time.monotonic() - began, 0))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.1)


async def _load(
    fake: FakeTelegramAPI, health_url: str, invite_code: str, users: int, dialogs: int
) -> dict[str, Any]:
    mediator = Conversation(fake, MEDIATOR)
    await mediator.says("bind", f"/bind {invite_code}", EXPECT_BOUND)
    failures: list[str] = []
    numbers: list[str] = []
    talks: list[Conversation] = []

    async def citizen(index: int) -> None:
        talk = Conversation(fake, FIRST_USER + index)
        talks.append(talk)
        try:
            for round_ in range(dialogs):
                text = REPORTS[(index * dialogs + round_) % len(REPORTS)]
                numbers.append(await report_dialog(talk, text))
        except DialogFailed as exc:
            failures.append(str(exc))

    stop = asyncio.Event()
    health: list[tuple[float, int]] = []
    began = time.monotonic()
    async with asyncio.TaskGroup() as group:
        prober = group.create_task(_probe_health(health_url, stop, health))
        async with asyncio.TaskGroup() as citizens:
            for index in range(users):
                citizens.create_task(citizen(index))
        elapsed = time.monotonic() - began
        stop.set()
        await prober
    latencies = sorted(e.latency for t in talks for e in t.exchanges)
    health_latencies = sorted(latency for latency, _ in health)
    return {
        "handled": len(latencies),
        "seconds": round(elapsed, 2),
        "messages_per_second": round(len(latencies) / elapsed, 1) if elapsed else 0.0,
        "p50_ms": round(percentile(latencies, 0.5) * 1000, 1),
        "p99_ms": round(percentile(latencies, 0.99) * 1000, 1),
        "receipts": len(numbers),
        "numbers": numbers,
        "failures": failures,
        "healthz_probes": len(health),
        "healthz_not_200": sum(1 for _, status in health if status != 200),
        "healthz_p50_ms": round(percentile(health_latencies, 0.5) * 1000, 1),
        "healthz_max_ms": round(health_latencies[-1] * 1000, 1) if health_latencies else 0.0,
    }


async def _start_once(
    fake: FakeTelegramAPI,
    env: dict[str, str],
    cwd: str,
    log_path: Path,
    load: dict[str, Any] | None,
) -> dict[str, Any]:
    port = free_port()
    env = dict(
        env,
        PINGAN_TELEGRAM_TOKEN=TOKEN,
        PINGAN_TELEGRAM_API_BASE=fake.base_url,
        PINGAN_HTTP_HOST="127.0.0.1",
        PINGAN_HTTP_PORT=str(port),
    )
    health_url = f"http://127.0.0.1:{port}/healthz"
    result: dict[str, Any] = {"ok": False}
    since = len(fake.calls)
    with log_path.open("ab") as log:
        began = time.monotonic()
        proc = await asyncio.create_subprocess_exec(
            pingan_command(), "run", env=env, cwd=cwd, stdout=log, stderr=log
        )
    result["pid"] = proc.pid
    try:
        deadline = began + READY_TIMEOUT_S
        healthy, polling = await asyncio.gather(
            _wait_healthy(health_url, began, deadline),
            fake.wait_for(
                lambda call: call.method == "getUpdates", timeout=READY_TIMEOUT_S, since=since
            ),
        )
        result["healthz_s"] = round(healthy, 3)
        result["get_updates_s"] = round(polling.at - began, 3)
        result["ready_s"] = round(max(healthy, polling.at - began), 3)
        result["rss_ready_mb"] = _memory_mb(proc.pid)["VmRSS"]
        if load is not None:
            result["load"] = await _load(
                fake, health_url, load["invite"], load["users"], load["dialogs"]
            )
            # Let the bot confirm the last updates (next getUpdates) before it is stopped,
            # or the next start would be handed them again.
            for _ in range(100):
                if fake.pending_updates == 0:
                    break
                await asyncio.sleep(0.05)
            result["memory_after_load"] = _memory_mb(proc.pid)
            offers = [
                call
                for call in fake.sent(MEDIATOR)
                if any(data.startswith("a:") for row in fake.buttons(call) for _, data in row)
            ]
            result["offers_delivered_so_far"] = len(offers)
        result["ok"] = True
    finally:
        stop_began = time.monotonic()
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), STOP_LIMIT_S)
            result["exit_code"] = proc.returncode
            result["stop_s"] = round(time.monotonic() - stop_began, 3)
            result["clean_exit"] = proc.returncode in (0, -signal.SIGTERM)
        except TimeoutError:
            proc.kill()  # our own child, by its handle
            await proc.wait()
            result["exit_code"] = f"killed after {STOP_LIMIT_S} s"
            result["stop_s"] = None
            result["clean_exit"] = False
    return result


# What `pingan run` does before it can serve, step by step, in a fresh interpreter: where
# the start-up time and the resident memory go.
_BREAKDOWN = r"""
import json, os, time
def rss():
    for line in open(f"/proc/{os.getpid()}/status"):
        if line.startswith("VmRSS"):
            return int(line.split()[1]) / 1024
steps = []
last_t, last_r = time.perf_counter(), rss()
def step(name):
    global last_t, last_r
    now, r = time.perf_counter(), rss()
    steps.append([name, round(now - last_t, 2), round(r - last_r, 1), round(r, 1)])
    last_t, last_r = now, r
import bot.cli
step("import bot.cli (click, settings, SQLAlchemy)")
import aiogram, aiogram.types, aiogram.methods
step("import aiogram (pydantic models of the Bot API)")
import bot.app, bot.runner
step("import bot.app, bot.runner (handlers, dialogs, aiohttp.web)")
from dispatch.classify import Classifier
classifier = Classifier.load()  # kept: the bot keeps it too
step("Classifier.load() (jieba dictionary + rules)")
print(json.dumps(steps))
"""


async def _breakdown(cwd: str) -> list[list[Any]]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", _BREAKDOWN, cwd=cwd, stdout=asyncio.subprocess.PIPE
    )
    output, _ = await proc.communicate()
    return json.loads(output.decode().strip().splitlines()[-1]) if proc.returncode == 0 else []


async def run(starts: int, users: int, dialogs: int, breakdown: bool = True) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="pingan-run-bench-") as tmp:
        db = Path(tmp) / "pingan.db"
        env = _base_env(f"sqlite+aiosqlite:///{db}")
        await run_pingan(env, tmp, "init", "--demo")
        invite_out = await run_pingan(
            env, tmp, "invite", "create", "--role", "mediator", "--unit", VILLAGE_MEDIATION
        )
        invite = invite_out.strip().splitlines()[-1].strip()
        log_path = Path(tmp) / "pingan-run.log"
        results: list[dict[str, Any]] = []
        async with FakeTelegramAPI(token=TOKEN) as fake:
            for index in range(starts):
                first = index == 0
                load = {"invite": invite, "users": users, "dialogs": dialogs} if first else None
                try:
                    results.append(await _start_once(fake, env, tmp, log_path, load))
                except Exception as exc:  # report it with the process's log
                    log = log_path.read_text(errors="replace")[-3000:]
                    results.append({"ok": False, "error": repr(exc), "log_tail": log})
        with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
            cases = conn.execute("SELECT count(*) FROM cases").fetchone()[0]
            numbers = {row[0] for row in conn.execute("SELECT number FROM cases")}
        log_text = log_path.read_text(errors="replace")
        steps = await _breakdown(tmp) if breakdown else []
    errors_logged = [
        line for line in log_text.splitlines() if " ERROR " in line or "Traceback" in line
    ]
    return {
        "starts": results,
        "users": users,
        "dialogs_per_user": dialogs,
        "cases_in_db": cases,
        "case_numbers_in_db": numbers,
        "errors_logged": errors_logged[:20],
        "breakdown": steps,
        "versions": _versions(),
    }


def _mark(ok: bool) -> str:
    return "✅" if ok else "❌"


def report(result: dict[str, Any]) -> tuple[str, list[str]]:
    problems: list[str] = []
    out = ["### `pingan run`: start-up, memory, shutdown (SQLite, stand-in Bot API)", ""]
    out.append(f"Versions: {result['versions']}")
    out.append("")
    rows = []
    for index, start in enumerate(result["starts"], 1):
        if "ready_s" not in start:
            problems.append(f"start {index}: {start.get('error', 'not ready')}")
            if start.get("log_tail"):
                problems.append("log tail:\n" + start["log_tail"])
            rows.append([index, "not ready", "-", "-", "-", start.get("exit_code", "-"), "-"])
            continue
        rows.append(
            [
                index,
                f"{start['ready_s']} {_mark(start['ready_s'] < READY_TARGET_S)}",
                start["healthz_s"],
                start["get_updates_s"],
                start["rss_ready_mb"],
                f"{start['exit_code']} {_mark(start['clean_exit'])}",
                start["stop_s"],
            ]
        )
        if not start["clean_exit"]:
            problems.append(f"start {index}: unclean exit ({start['exit_code']})")
    out.append(
        markdown_table(
            [
                "start",
                f"ready s (<{READY_TARGET_S:g})",
                "/healthz 200 s",
                "getUpdates s",
                "RSS ready MB",
                "exit code",
                "SIGTERM→exit s",
            ],
            rows,
        )
    )
    first = result["starts"][0] if result["starts"] else {}
    load = first.get("load")
    if load:
        memory = first["memory_after_load"]
        expected = result["users"] * result["dialogs_per_user"]
        out.append("")
        out.append(
            f"Load on start 1: {result['users']} users × {result['dialogs_per_user']} report "
            f"dialogs × {MESSAGES_PER_DIALOG} messages, concurrently"
        )
        out.append("")
        out.append(
            markdown_table(
                [
                    "handled",
                    "msgs/s",
                    "p50 ms",
                    "p99 ms",
                    f"RSS MB (<{RSS_TARGET_MB:g})",
                    "peak VmHWM MB",
                    "/healthz p50 / max ms",
                    "/healthz not 200",
                ],
                [
                    [
                        load["handled"],
                        load["messages_per_second"],
                        load["p50_ms"],
                        load["p99_ms"],
                        f"{memory['VmRSS']} {_mark(memory['VmRSS'] < RSS_TARGET_MB)}",
                        f"{memory['VmHWM']} {_mark(memory['VmHWM'] < RSS_TARGET_MB)}",
                        f"{load['healthz_p50_ms']} / {load['healthz_max_ms']}",
                        f"{load['healthz_not_200']} of {load['healthz_probes']}",
                    ]
                ],
            )
        )
        out.append("")
        stored = len(set(load["numbers"]) & result["case_numbers_in_db"])
        out.append(
            f"Check: {load['receipts']}/{expected} receipts, {stored} of them stored, "
            f"{result['cases_in_db']} cases in the database; {first['offers_delivered_so_far']} "
            "offers delivered to the mediator by the outbox sender when the load ended "
            "(production rate limit: one message a second per chat)"
        )
        problems += load["failures"]
        if load["receipts"] != expected or stored != expected:
            problems.append(f"{load['receipts']} receipts / {stored} stored for {expected} dialogs")
        if result["cases_in_db"] != expected:
            problems.append(f"{result['cases_in_db']} cases in the database, expected {expected}")
        if first["offers_delivered_so_far"] == 0:
            problems.append("the outbox sender delivered no offer")
    elif result["starts"]:
        problems.append("the load on start 1 did not run")
    if result["breakdown"]:
        out.append("")
        out.append("Where start-up goes (the same steps in a fresh interpreter):")
        out.append("")
        out.append(markdown_table(["step", "seconds", "RSS +MB", "RSS MB"], result["breakdown"]))
    if result["errors_logged"]:
        out.append("")
        out.append("Errors in the process log:")
        out += [f"    {line}" for line in result["errors_logged"]]
    out.append("")
    if problems:
        out.append(f"**FAILED** ({len(problems)} problems):")
        out += [f"- {p}" for p in problems[:20]]
    else:
        out.append("All starts ready, all dialogs completed, all shutdowns clean: OK")
    return "\n".join(out), problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--starts", type=int, default=3, help="how many starts (default 3)")
    parser.add_argument("--users", type=int, default=5, help="concurrent users in the load")
    parser.add_argument("--dialogs", type=int, default=5, help="report dialogs per user")
    parser.add_argument(
        "--no-breakdown", action="store_true", help="skip the start-up time/memory breakdown"
    )
    parser.add_argument("--json", action="store_true", help="also print the raw result as JSON")
    args = parser.parse_args(argv)
    result = asyncio.run(
        run(max(1, args.starts), args.users, args.dialogs, breakdown=not args.no_breakdown)
    )
    text, problems = report(result)
    print(text)
    if args.json:
        printable = dict(result, case_numbers_in_db=sorted(result["case_numbers_in_db"]))
        print(json.dumps(printable, ensure_ascii=False, indent=2, default=str))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
