"""Many processes on one PostgreSQL database: two `pingan run --role web` behind a load
balancer, two `--role worker` of which one is active and one stands by.

Reports come in through both web processes (webhook POSTs); the web processes answer the
dialog but send no notice; the active worker is killed with SIGKILL in the middle of a sweep;
the standby takes over within 30 s; every notice reaches its chat once (a send left in doubt
by the kill is resent once, marked, as documented); each job run is noted by the worker that
held the role at the time, never by the standby.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import socket
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from locales import text as render
from storage.database import create_engine, normalise_url
from tests.benchmarks._driver import (
    EXPECT_BOUND,
    LABEL_SUBMIT,
    REPORTS,
    VILLAGE_MEDIATION,
    Conversation,
    free_port,
    report_up_to_summary,
)
from tests.fakes.telegram_api import SENT_METHODS, FakeTelegramAPI
from tests.schema import empty_public_schema

DATABASE_URL = os.environ.get("PINGAN_TEST_DATABASE_URL", "")
ON_POSTGRESQL = (
    bool(DATABASE_URL) and make_url(normalise_url(DATABASE_URL)).get_backend_name() == "postgresql"
)
pytestmark = pytest.mark.skipif(
    not ON_POSTGRESQL,
    reason="several processes on one database need PostgreSQL: set PINGAN_TEST_DATABASE_URL",
)

TOKEN = "123456:TEST-TOKEN-manyworkersxxxxxxxx"
SECRET = "many-workers-secret"
ROOT = Path(__file__).resolve().parent.parent
REPORTERS = 12
MEDIATOR = 900_001
FIRST_CITIZEN = 910_000
CASE_NUMBER = re.compile(r"\d{4}-\d{6}")
TAKE_OVER_WITHIN_S = 30


@dataclass
class Process:
    role: str
    port: int
    proc: asyncio.subprocess.Process
    log: Path
    health: list[dict[str, Any]] = field(default_factory=list)

    @property
    def name(self) -> str:
        return f"{socket.gethostname()}:{self.proc.pid}"

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]


def _env(port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PINGAN_")}
    env |= {
        "PYTHONPATH": str(ROOT),
        "PINGAN_DATABASE_URL": DATABASE_URL,
        "PINGAN_TELEGRAM_TOKEN": TOKEN,
        "PINGAN_PUBLIC_URL": "https://pingan.example.org",
        "PINGAN_TELEGRAM_WEBHOOK_SECRET": SECRET,
        "PINGAN_HTTP_HOST": "127.0.0.1",
        "PINGAN_HTTP_PORT": str(port),
        # A killed sender's claim comes back after 5 s, not 2 minutes.
        "PINGAN_OUTBOX_LEASE_SECONDS": "5",
        # Quiet hours hold no notice whatever the hour the test runs.
        "PINGAN_TIMEZONE": _zone_where_it_is_midday(),
    }
    return env


def _zone_where_it_is_midday() -> str:
    """A fixed-offset zone where it is 10:00-13:59 now, outside any quiet hours."""
    hour = time.gmtime().tm_hour
    offset = (11 - hour + 12) % 24 - 12  # -12 … +11
    # Etc/GMT signs are inverted: Etc/GMT-8 is UTC+8.
    return "UTC" if offset == 0 else f"Etc/GMT{-offset:+d}"


async def _pingan(env: dict[str, str], cwd: Path, *args: str) -> str:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.cli",
        *args,
        env=env,
        cwd=cwd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await proc.communicate()
    assert proc.returncode == 0, out.decode(errors="replace")
    return out.decode(errors="replace")


@contextlib.asynccontextmanager
async def processes(fake: FakeTelegramAPI, cwd: Path) -> AsyncIterator[list[Process]]:
    """The processes started in the block (by `start`), all stopped at its end."""
    started: list[Process] = []
    try:
        yield started
    finally:
        for process in started:
            if process.proc.returncode is None:
                process.proc.send_signal(signal.SIGTERM)
        for process in started:
            try:
                await asyncio.wait_for(process.proc.wait(), 15)
            except TimeoutError:
                process.proc.kill()  # our own child, by its handle
                await process.proc.wait()


async def start(started: list[Process], role: str, cwd: Path, env_base: str) -> Process:
    port = free_port()
    log = cwd / f"{role}-{len(started)}.log"
    env = _env(port) | {"PINGAN_TELEGRAM_API_BASE": env_base}
    with log.open("wb") as out:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot.cli", "run", "--role", role, env=env, cwd=cwd,
            stdout=out, stderr=out,
        )  # fmt: skip
    process = Process(role, port, proc, log)
    started.append(process)
    return process


async def health(http: aiohttp.ClientSession, process: Process) -> dict[str, Any] | None:
    try:
        url = f"http://127.0.0.1:{process.port}/healthz"
        async with http.get(url, timeout=aiohttp.ClientTimeout(total=2)) as resp:
            if resp.status != 200:
                return None
            answer: dict[str, Any] = await resp.json()
            process.health.append(answer)
            return answer
    except (aiohttp.ClientError, OSError, TimeoutError):
        return None


async def until_healthy(http: aiohttp.ClientSession, process: Process) -> dict[str, Any]:
    deadline = time.monotonic() + 60  # a start takes about 1 s, much more on a busy machine
    while time.monotonic() < deadline:
        answer = await health(http, process)
        if answer is not None:
            return answer
        assert process.proc.returncode is None, f"{process.role} exited:\n{process.tail()}"
        await asyncio.sleep(0.1)
    raise AssertionError(f"{process.role} never answered /healthz:\n{process.tail()}")


async def scalar(engine: AsyncEngine, sql: str) -> Any:
    async with engine.connect() as conn:
        return (await conn.execute(text(sql))).scalar()


async def test_two_web_and_two_worker_processes_survive_losing_the_active_worker(
    tmp_path: Path,
) -> None:
    engine = create_engine(DATABASE_URL)
    try:
        await empty_public_schema(engine)
        base = _env(free_port())
        await _pingan(base, tmp_path, "init", "--demo")
        invite = await _pingan(
            base, tmp_path, "invite", "create", "--role", "mediator", "--unit", VILLAGE_MEDIATION
        )
        code = invite.strip().splitlines()[-1].strip()
        async with (
            FakeTelegramAPI(token=TOKEN) as fake,
            aiohttp.ClientSession() as http,
            processes(fake, tmp_path) as started,
        ):
            await _scenario(engine, fake, http, started, tmp_path, code)
    finally:
        await engine.dispose()


async def _scenario(
    engine: AsyncEngine,
    fake: FakeTelegramAPI,
    http: aiohttp.ClientSession,
    started: list[Process],
    cwd: Path,
    code: str,
) -> None:
    began = time.monotonic()

    def phase(what: str) -> None:  # shown when the test fails, or with -s
        print(f"{time.monotonic() - began:6.1f} s  {what}")

    webs = [await start(started, "web", cwd, fake.base_url) for _ in range(2)]
    for web in webs:
        answer = await until_healthy(http, web)
        assert answer["role"] == "web" and answer["worker"] == "off", answer
    update_ids = iter(range(1, 1_000_000))

    def poster(web: Process) -> Any:
        async def post(update: dict[str, Any]) -> None:
            update["update_id"] = next(update_ids)
            async with http.post(
                f"http://127.0.0.1:{web.port}/telegram/webhook",
                json=update,
                headers={"X-Telegram-Bot-Api-Secret-Token": SECRET},
            ) as resp:
                assert resp.status == 200, (resp.status, await resp.text())

        return post

    phase("two web processes up")
    # A mediator binds through one web process; citizens report through both, alternately.
    mediator = Conversation(fake, MEDIATOR, post=poster(webs[0]))
    await mediator.says("bind", f"/bind {code}", EXPECT_BOUND)

    async def citizen(index: int) -> None:
        talk = Conversation(fake, FIRST_CITIZEN + index, post=poster(webs[index % 2]))
        summary = await report_up_to_summary(talk, REPORTS[index % len(REPORTS)])
        # The receipt must arrive, so it goes through the outbox: the web answers nothing.
        assert talk.post is not None
        await talk.post(talk.button_update("submit", summary, LABEL_SUBMIT))

    async with asyncio.TaskGroup() as group:
        for index in range(REPORTERS):
            group.create_task(citizen(index))
    assert await scalar(engine, "SELECT count(*) FROM cases") == REPORTERS
    phase(f"{REPORTERS} reports filed through both")

    # Web processes send no notice: receipts and offers wait for a worker.
    def notices_sent() -> list[Any]:
        return [
            c
            for c in fake.calls
            if c.method in SENT_METHODS and not c.failed and CASE_NUMBER.search(c.text)
        ]

    assert notices_sent() == []
    queued = await scalar(
        engine, "SELECT count(*) FROM outbox WHERE channel = 'telegram' AND status = 'pending'"
    )
    assert queued >= 2 * REPORTERS  # a receipt each and an offer each

    # Every open offer lapses at once, so that the first sweep has one step per case to take.
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "UPDATE cases SET next_action_at = now() - interval '1 minute'"
                " WHERE next_action_at IS NOT NULL"
            )
        )
    due_sql = "SELECT count(*) FROM cases WHERE next_action_at <= now()"
    due_at_start = await scalar(engine, due_sql)
    assert due_at_start == REPORTERS

    workers = [await start(started, "worker", cwd, fake.base_url) for _ in range(2)]
    # Who ran which job, sampled all along: job_runs keeps each job's last run only.
    seen: set[tuple[str, datetime, str]] = set()
    sampling = asyncio.Event()

    async def sample_job_runs() -> None:
        while not sampling.is_set():
            async with engine.connect() as conn:
                found = await conn.execute(text("SELECT name, last_run_at, ran_by FROM job_runs"))
                seen.update((row.name, row.last_run_at, row.ran_by) for row in found)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(sampling.wait(), 0.05)

    async with asyncio.TaskGroup() as group:
        sampler = group.create_task(sample_job_runs())
        try:
            active, standby, killed_at, took_over_s = await _kill_mid_sweep(
                engine, http, workers, due_sql, due_at_start
            )
            # Everything queued goes out, through the new worker, and every due step is taken.
            unsent = (
                "SELECT count(*) FROM outbox WHERE channel = 'telegram'"
                " AND status NOT IN ('sent', 'failed', 'in_doubt')"
            )
            deadline = time.monotonic() + 60
            while await scalar(engine, unsent) or await scalar(engine, due_sql):
                assert time.monotonic() < deadline, standby.tail()
                await asyncio.sleep(0.3)
            phase("everything sent")
        finally:
            sampling.set()
        await sampler
    phase(f"standby took over {took_over_s:.1f} s after the kill")
    assert took_over_s < TAKE_OVER_WITHIN_S

    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                text(
                    "SELECT id, chat_ref, sent_ref, status, doubts FROM outbox"
                    " WHERE channel = 'telegram'"
                )
            )
        ).all()
    assert all(row.status == "sent" for row in rows), [r for r in rows if r.status != "sent"]
    delivered = {
        (str(c.chat_id), str(c.result["message_id"]))
        for c in fake.calls
        if c.method in SENT_METHODS and not c.failed and isinstance(c.result, dict)
    }
    missing = [r.id for r in rows if (r.chat_ref, r.sent_ref) not in delivered]
    assert missing == [], f"recorded sent, never delivered: {missing}"

    # Each notice once per chat; a send the kill left in doubt comes once more, marked (or
    # only marked, when the first try never reached Telegram).
    marker = render("outbox.resent", "zh_CN").strip()
    plain: Counter[tuple[int | None, str]] = Counter()
    marked: Counter[tuple[int | None, str]] = Counter()
    for call in notices_sent():
        key = (call.chat_id, call.text.replace(marker, "").strip())
        (marked if marker in call.text else plain)[key] += 1
    doubled = {key: n for key, n in plain.items() if n > 1}
    doubled |= {key: n for key, n in marked.items() if n > 1}
    assert doubled == {}, doubled
    receipts = {text for (chat, text) in plain | marked if chat != MEDIATOR}
    assert len(receipts) >= REPORTERS, receipts

    # Jobs ran in the one active worker: the killed one until the kill, the standby only
    # after it (a sweep interrupted by the kill notes no run).
    assert {by for _, _, by in seen} <= {active.name, standby.name}, seen
    assert any(by == standby.name for _, _, by in seen), seen
    for name, at, by in seen:
        if by == standby.name:
            assert at >= killed_at, (name, at, "the standby ran a job before the kill")
        else:
            assert at <= killed_at, (name, at, "the killed worker ran a job after its death")


async def _kill_mid_sweep(
    engine: AsyncEngine,
    http: aiohttp.ClientSession,
    workers: list[Process],
    due_sql: str,
    due_at_start: int,
) -> tuple[Process, Process, datetime, float]:
    """SIGKILL the active worker once its sweep has taken some due steps but not all; wait
    for the standby to take over. Returns (killed, standby, when killed, seconds to take
    over)."""
    deadline = time.monotonic() + 40
    active: Process | None = None
    while time.monotonic() < deadline:
        due = await scalar(engine, due_sql)
        for worker in workers:
            said = await health(http, worker)
            if said is not None and said["worker"] == "active":
                active = worker
        if active is not None and 0 < due < due_at_start:
            break
        assert due > 0, "the sweep finished before the kill could land: give it more to do"
        await asyncio.sleep(0.02)
    assert active is not None, [w.tail() for w in workers]
    print(f"killing the active worker with {due} of {due_at_start} steps still due")
    standby = next(w for w in workers if w is not active)
    standby_said = await until_healthy(http, standby)
    assert standby_said["worker"] == "standby", standby_said
    active.proc.send_signal(signal.SIGKILL)
    killed = time.monotonic()
    await active.proc.wait()
    killed_at = await scalar(engine, "SELECT now()")
    while (await health(http, standby) or {}).get("worker") != "active":
        assert time.monotonic() - killed < TAKE_OVER_WITHIN_S, standby.tail()
        await asyncio.sleep(0.2)
    return active, standby, killed_at, time.monotonic() - killed
