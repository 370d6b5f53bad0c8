"""Faults: is every notice delivered exactly once through kills, 429s, 5xx and an outage?

    python -m tests.benchmarks.bench_faults [--quick] [--seed 8] [--json PATH]

A Jepsen-style run at small scale, against the real `pingan run` process:

1. `pingan init --demo` on a fresh database (a temporary SQLite file, or `--database URL`);
   N people (default 6) get a Telegram identity and a notice queue of their own: M notices
   (default 300) through `dispatch.outbox.enqueue`, each text carrying a unique token
   (`FB-00042`), a third before the first start and the rest in waves during the faults.
2. The stand-in Bot API (`tests/fakes/telegram_api.py`) runs in this process behind a
   *fault gate* (below): the gate forwards every request, except during fault windows:
   429 bursts (every send answered 429 with `retry_after`), 5xx bursts (most sends answered
   500/502/503), and an outage of a few minutes (first half: connections refused and open
   ones dropped; second half: every request answered by an nginx-style 502 page).  Sends
   take 20-200 ms, as Telegram's do, so a kill often lands while a call is in flight.
3. `pingan run` is started, killed (SIGKILL or SIGTERM, seeded) and restarted, 32 times
   (`--quick`: 12): most kills come a random 1-10 s after the process is serving (/healthz
   answers 200; its sender starts then), 15 % at a random moment of the start-up.  A process
   that exits by itself (e.g. Telegram unreachable at start-up) is restarted a second later,
   as a supervisor would, and counted.  After each stop the database is read: notices left
   `sending`, and notices the stand-in had delivered while the database did not say `sent`
   (*in doubt*: the process died between Telegram's answer and its commit).
4. Then one last start with no faults, until no notice is `pending` or `sending` (or
   `--drain` seconds pass), and a SIGTERM.
5. Count, per notice, how many times its recipient got it (and whether anyone else did).

`--quick` (about 2-3 minutes) is for trying it; the full run (about 10-16 minutes) is the
figure to quote.  Its drain (400 s) outlasts a 5-minute sending lease; the quick one (45 s)
does not, so there a notice stuck in `sending` by a kill may count as lost that the full
run would have seen delivered.

Target (issue 8): 0 lost, 0 sent twice except the in-doubt case, whose count is reported.
Exit status 1 when a notice was lost, delivered twice without having been in doubt,
delivered to the wrong chat, recorded `sent` but never delivered, or fewer than `--kills`
kills happened.

The child gets a fixed-offset time zone in which it is now 10:xx, so that quiet hours
(22:00-07:30 local) never hold these ordinary notices; `--timezone` overrides it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import os
import random
import re
import shutil
import signal
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from sqlalchemy import text

from bot.wallclock import SystemClock
from dispatch import outbox
from dispatch.messages import Reply
from dispatch.people import person_for
from storage.database import Sessions, create_engine, session_factory
from tests.benchmarks._driver import free_port, markdown_table, pingan_command, run_pingan
from tests.fakes.telegram_api import SENT_METHODS, FakeTelegramAPI

ROOT = Path(__file__).resolve().parents[2]
# settings.py wants digits, a colon and 20+ of [A-Za-z0-9_-]; the stand-in uses the same.
BOT_TOKEN = "123456:TEST-TOKEN-xxxxxxxxxxxxxxxxxxxx"
FIRST_CHAT = 830_000_001
TOKEN_PREFIX = "FB-"
TOKEN_RE = re.compile(r"FB-\d{5}")
DEDUPE_PREFIX = "faultbench:"
UNIT = "故障演练调解委员会"
# Statuses in which a notice is still on its way; "sent" and "failed" are final.
ACTIVE = ("pending", "sending")
SIGTERM_LIMIT_S = 15.0  # a graceful stop slower than this is finished with SIGKILL
# A supervisor's restart delay after the process died by itself.
RESTART_AFTER_EXIT_S = 1.0
READY_LIMIT_S = 60.0
MAX_UNEXPLAINED_EXITS = 5
EXPECTED_START_S = 5.0  # `pingan run` to /healthz on a busy 2-core machine
NGINX_502 = (
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    "<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n"
    "</body>\r\n</html>\r\n"
)
_SEND_METHODS = frozenset(name.lower() for name in SENT_METHODS)


@dataclass(frozen=True, slots=True)
class Profile:
    notices: int
    people: int
    kills: int
    up_min_s: float  # a process runs this long at least once ready, then is killed
    up_max_s: float
    startup_kill_share: float  # this share of the kills hit a random moment of the start-up
    outage_s: float
    burst_gap_s: tuple[float, float]  # quiet time between two bursts
    burst_len_s: tuple[float, float]
    retry_after_max: int
    error_share: float  # share of sends answered 5xx during a 5xx burst
    latency_ms: tuple[float, float]
    waves: int
    drain_s: float


FULL = Profile(
    notices=300,
    people=6,
    kills=32,
    up_min_s=1.0,
    up_max_s=10.0,
    startup_kill_share=0.15,
    outage_s=180.0,
    burst_gap_s=(10.0, 30.0),
    burst_len_s=(4.0, 12.0),
    retry_after_max=5,
    error_share=0.8,
    latency_ms=(20.0, 200.0),
    waves=4,
    drain_s=400.0,
)
# The same mix of faults, shorter and fewer.
QUICK = replace(
    FULL,
    notices=120,
    kills=12,
    up_min_s=0.5,
    up_max_s=3.0,
    outage_s=16.0,
    burst_gap_s=(4.0, 10.0),
    burst_len_s=(2.0, 5.0),
    retry_after_max=3,
    waves=3,
    drain_s=45.0,
)


# ---------------------------------------------------------------------- the fault gate


@dataclass(frozen=True, slots=True)
class Window:
    start: float  # seconds after the fault phase began
    end: float
    kind: str  # "429" | "5xx" | "refused" | "502"
    retry_after: int = 0


def fault_schedule(rng: random.Random, profile: Profile, horizon: float) -> list[Window]:
    """An outage at ~30 % of the expected fault phase, and bursts before and after it."""
    windows: list[Window] = []
    outage_at = round(0.3 * horizon, 1)
    half = profile.outage_s / 2
    if profile.outage_s > 0:
        windows.append(Window(outage_at, outage_at + half, "refused"))
        windows.append(Window(outage_at + half, outage_at + profile.outage_s, "502"))
    t = rng.uniform(1.0, profile.burst_gap_s[0])
    while t < horizon + profile.outage_s:
        length = rng.uniform(*profile.burst_len_s)
        if t + length > outage_at and t < outage_at + profile.outage_s:
            t = outage_at + profile.outage_s + rng.uniform(*profile.burst_gap_s)
            continue
        if rng.random() < 0.5:
            windows.append(
                Window(
                    round(t, 1),
                    round(t + length, 1),
                    "429",
                    rng.randint(1, profile.retry_after_max),
                )
            )
        else:
            windows.append(Window(round(t, 1), round(t + length, 1), "5xx"))
        t += length + rng.uniform(*profile.burst_gap_s)
    return sorted(windows, key=lambda w: w.start)


class FaultGate:
    """Sits between `pingan run` and the stand-in Bot API, as a flaky network and a rate-limiting,
    failing, vanishing Telegram would; forwards everything else unchanged.

    The stand-in records what it delivered; the gate only decides what reaches it.
    """

    def __init__(self, upstream: str, rng: random.Random, profile: Profile) -> None:
        self.upstream = upstream
        self.rng = rng
        self.profile = profile
        self.windows: list[Window] = []
        self.began: float | None = None
        self.counts: Counter[str] = Counter()
        self.base_url = ""
        self._port = 0
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None
        self._http: aiohttp.ClientSession | None = None
        self._watch: asyncio.Task[None] | None = None

    def current(self) -> Window | None:
        if self.began is None:
            return None
        t = time.monotonic() - self.began
        return next((w for w in self.windows if w.start <= t < w.end), None)

    def arm(self, windows: list[Window]) -> None:
        self.windows = windows
        self.began = time.monotonic()

    def disarm(self) -> None:
        self.began = None

    async def start(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await self._runner.setup()
        self._port = free_port()
        await self._listen()
        self.base_url = f"http://127.0.0.1:{self._port}"
        self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60))
        # Kept and awaited in stop(), where a failure of the follower surfaces.
        self._watch = asyncio.create_task(self._follow_schedule())  # noqa: TID251

    async def stop(self) -> None:
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch
        if self._http is not None:
            await self._http.close()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _listen(self) -> None:
        assert self._runner is not None
        self._site = web.TCPSite(self._runner, "127.0.0.1", self._port, reuse_address=True)
        await self._site.start()

    async def _follow_schedule(self) -> None:
        """Close the listening socket while a "refused" window lasts (new connections are
        refused); open connections are dropped by the handler."""
        while True:
            window = self.current()
            refusing = window is not None and window.kind == "refused"
            if refusing and self._site is not None:
                await self._site.stop()
                self._site = None
            elif not refusing and self._site is None:
                await self._listen()
            await asyncio.sleep(0.1)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        method = request.path.rsplit("/", 1)[-1].lower()
        sending = method in _SEND_METHODS
        window = self.current()
        kind = window.kind if window is not None else None
        if kind == "refused":
            self.counts["dropped (outage, connection open)"] += 1
            if request.transport is not None:
                request.transport.abort()
            return web.Response(status=502)  # never reaches the client
        if kind == "502":
            self.counts["502 page (outage)"] += 1
            return web.Response(status=502, text=NGINX_502, content_type="text/html")
        if sending and window is not None and kind == "429":
            self.counts["429 (burst)"] += 1
            retry = window.retry_after
            body = {
                "ok": False,
                "error_code": 429,
                "description": f"Too Many Requests: retry after {retry}",
                "parameters": {"retry_after": retry},
            }
            return web.json_response(body, status=429)
        if sending and kind == "5xx" and self.rng.random() < self.profile.error_share:
            code, description = self.rng.choice(
                [(500, "Internal Server Error"), (502, "Bad Gateway"), (503, "Service Unavailable")]
            )
            self.counts[f"{code} (burst)"] += 1
            body = {"ok": False, "error_code": code, "description": description}
            return web.json_response(body, status=code)
        delay = self.rng.uniform(*self.profile.latency_ms) / 1000 if sending else 0.0
        if delay:
            await asyncio.sleep(delay / 2)
        assert self._http is not None
        headers = {}
        if "Content-Type" in request.headers:
            headers["Content-Type"] = request.headers["Content-Type"]
        try:
            body_bytes = await request.read()
        except ConnectionResetError:  # killed while sending its request: nothing delivered
            self.counts["client gone mid-request"] += 1
            return web.Response(status=400)
        async with self._http.request(
            request.method, self.upstream + request.path_qs, data=body_bytes, headers=headers
        ) as upstream:
            payload = await upstream.read()
            status, content_type = upstream.status, upstream.content_type
        self.counts["forwarded" + (" (send)" if sending else "")] += 1
        if delay:
            # Delivered; the answer is on its way back.  A kill now leaves the notice in doubt.
            await asyncio.sleep(delay / 2)
        return web.Response(status=status, body=payload, content_type=content_type)


# ---------------------------------------------------------------------- the database


def _waves(notices: int, count: int) -> list[range]:
    """A third of the notices first, the rest in `count - 1` equal waves."""
    if count <= 1:
        return [range(notices)]
    first = notices // 3
    rest = notices - first
    return [range(first)] + [
        range(first + rest * w // (count - 1), first + rest * (w + 1) // (count - 1))
        for w in range(count - 1)
    ]


def _token(index: int) -> str:
    return f"{TOKEN_PREFIX}{index:05d}"


async def _prepare_people(sessions: Sessions, count: int) -> list[tuple[int, int]]:
    """(person id, chat id) for `count` people, each with a Telegram identity."""
    clock = SystemClock()
    out: list[tuple[int, int]] = []
    async with sessions() as session, session.begin():
        for index in range(count):
            chat = FIRST_CHAT + index
            person, _ = await person_for(
                session, clock, "telegram", str(chat), str(chat), f"演练{index + 1}", "zh_CN"
            )
            out.append((person.id, chat))
    return out


async def _enqueue(
    sessions: Sessions, people: list[tuple[int, int]], indexes: Iterable[int]
) -> dict[str, int]:
    """Queue notices `indexes` round-robin over `people`; token → chat id."""
    clock = SystemClock()
    recipients: dict[str, int] = {}
    async with sessions() as session, session.begin():
        for index in indexes:
            person_id, chat = people[index % len(people)]
            token = _token(index)
            await outbox.enqueue(
                session,
                clock,
                person_id,
                Reply("notice.accepted", {"number": token, "unit": UNIT}),
                purpose="accepted",
                dedupe_key=DEDUPE_PREFIX + token,
            )
            recipients[token] = chat
    return recipients


async def _rows(sessions: Sessions) -> list[dict[str, Any]]:
    """Every benchmark notice as the outbox holds it (all columns, whatever they are)."""
    async with sessions.read() as session:
        result = await session.execute(
            text("SELECT * FROM outbox WHERE dedupe_key LIKE :prefix ORDER BY id"),
            {"prefix": DEDUPE_PREFIX + "%"},
        )
        return [dict(row) for row in result.mappings().all()]


def _token_of(row: dict[str, Any]) -> str:
    return str(row["dedupe_key"]).removeprefix(DEDUPE_PREFIX)


def _recorded_sent(row: dict[str, Any]) -> bool:
    return row.get("status") == "sent"


def _flagged_in_doubt(row: dict[str, Any]) -> str | None:
    """Does the outbox itself mark this row as "delivery unknown"?  Today that is a failed row
    whose last_error says so; a later schema may add a status or a column: all are looked at."""
    for name, value in row.items():
        if "doubt" in name.lower() and value not in (None, False, 0, ""):
            return f"column {name}"
    status = str(row.get("status") or "")
    if "doubt" in status or "unknown" in status:
        return f"status {status}"
    error = str(row.get("last_error") or "").lower()
    if "doubt" in error or "unknown" in error:
        return "last_error"
    return None


# ---------------------------------------------------------------------- the process


def daytime_zone(now: datetime) -> str:
    """A fixed-offset zone in which it is 10:xx now (Etc/GMT signs are inverted)."""
    offset = (10 - now.astimezone(UTC).hour) % 24
    if offset > 14:
        offset -= 24
    return "Etc/GMT" if offset == 0 else f"Etc/GMT{-offset:+d}"


def _child_env(database_url: str, api_base: str, zone: str) -> dict[str, str]:
    # Nothing from a developer's configuration (a PINGAN_PUBLIC_URL would mean webhooks); the
    # code measured is this tree's, whatever the venv's editable install points at.
    env = {k: v for k, v in os.environ.items() if not k.startswith("PINGAN_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env.update(
        PINGAN_DATABASE_URL=database_url,
        PINGAN_TELEGRAM_TOKEN=BOT_TOKEN,
        PINGAN_TELEGRAM_API_BASE=api_base,
        PINGAN_HTTP_HOST="127.0.0.1",
        PINGAN_TIMEZONE=zone,
    )
    return env


@dataclass
class Child:
    proc: asyncio.subprocess.Process
    health_url: str
    spawned: float


async def _spawn(env: dict[str, str], cwd: str, log_path: Path) -> Child:
    port = free_port()
    env = dict(env, PINGAN_HTTP_PORT=str(port))
    with log_path.open("ab") as log:
        log.write(f"\n===== start at {time.strftime('%H:%M:%S')} =====\n".encode())
        log.flush()
        proc = await asyncio.create_subprocess_exec(
            pingan_command(), "run", env=env, cwd=cwd, stdout=log, stderr=log
        )
    return Child(proc, f"http://127.0.0.1:{port}/healthz", time.monotonic())


async def _ready(child: Child, limit: float) -> float | None:
    """Seconds from spawn to /healthz answering 200 (the process is serving; its senders
    start right after); None if it exited or did not get there within `limit`."""
    async with aiohttp.ClientSession() as http:
        while time.monotonic() - child.spawned < limit and child.proc.returncode is None:
            with contextlib.suppress(aiohttp.ClientError, OSError, TimeoutError):
                async with http.get(
                    child.health_url, timeout=aiohttp.ClientTimeout(total=1)
                ) as resp:
                    if resp.status == 200:
                        return time.monotonic() - child.spawned
            await asyncio.sleep(0.05)
    return None


async def _stop(proc: asyncio.subprocess.Process, sig: signal.Signals) -> tuple[Any, float]:
    """Send `sig` to our child (by its handle); (exit code, seconds to exit)."""
    began = time.monotonic()
    if proc.returncode is None:
        proc.send_signal(sig)
    try:
        await asyncio.wait_for(proc.wait(), SIGTERM_LIMIT_S)
        return proc.returncode, time.monotonic() - began
    except TimeoutError:
        proc.kill()
        await proc.wait()
        return f"killed after {SIGTERM_LIMIT_S:g} s", time.monotonic() - began


# ---------------------------------------------------------------------- the run


@dataclass
class Stop:
    index: int
    signal: str  # "SIGKILL" | "SIGTERM" | "exited" (by itself)
    uptime_s: float  # from spawn
    ready_s: float | None  # spawn → /healthz 200 (None: killed during start-up, or never)
    exit_code: Any
    stop_s: float
    fault: str | None  # the fault window open at that moment
    left_sending: int  # rows in "sending" once the process was gone
    newly_left_sending: int  # of which were not "sending" after the previous stop
    delivered_not_recorded: list[str] = field(default_factory=list)


def _delivered(fake: FakeTelegramAPI, chats: list[int]) -> dict[str, Counter[int]]:
    """token → chat id → how many messages carrying it reached that chat."""
    out: dict[str, Counter[int]] = {}
    for chat in chats:
        for call in fake.sent(chat):
            for token in set(TOKEN_RE.findall(call.text)):
                out.setdefault(token, Counter())[chat] += 1
    return out


async def _after_stop(
    sessions: Sessions, fake: FakeTelegramAPI, chats: list[int]
) -> tuple[set[str], list[str]]:
    """(tokens left "sending", tokens delivered though not recorded as sent)."""
    rows = await _rows(sessions)
    delivered = _delivered(fake, chats)
    left_sending = {_token_of(row) for row in rows if row.get("status") == "sending"}
    in_doubt = [
        _token_of(row) for row in rows if not _recorded_sent(row) and _token_of(row) in delivered
    ]
    return left_sending, in_doubt


async def run(
    profile: Profile, seed: int, database: str | None, zone: str | None, keep: bool
) -> dict[str, Any]:
    began = time.monotonic()
    plan_rng, gate_rng = random.Random(seed), random.Random(seed + 1)
    tmp = tempfile.mkdtemp(prefix="pingan-faults-")
    try:
        return await _run_in(profile, seed, database, zone, tmp, began, plan_rng, gate_rng)
    finally:
        if keep:
            print(f"(kept {tmp})", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


async def _run_in(
    profile: Profile,
    seed: int,
    database: str | None,
    zone: str | None,
    tmp: str,
    began: float,
    plan_rng: random.Random,
    gate_rng: random.Random,
) -> dict[str, Any]:
    url = database or f"sqlite+aiosqlite:///{Path(tmp) / 'pingan.db'}"
    engine = create_engine(url)
    if engine.dialect.name == "postgresql":
        async with engine.begin() as conn:  # a throwaway database: see the README
            await conn.execute(text("DROP SCHEMA public CASCADE"))
            await conn.execute(text("CREATE SCHEMA public"))
    zone = zone or daytime_zone(SystemClock().now())
    log_path = Path(tmp) / "pingan-run.log"
    stops: list[Stop] = []
    proc: asyncio.subprocess.Process | None = None
    gave_up = ""
    try:
        async with FakeTelegramAPI(token=BOT_TOKEN) as fake:
            gate = FaultGate(fake.base_url, gate_rng, profile)
            await gate.start()
            try:
                env = _child_env(url, gate.base_url, zone)
                async with asyncio.timeout(120):
                    await run_pingan(env, tmp, "init", "--demo")
                sessions = session_factory(engine)
                people = await _prepare_people(sessions, profile.people)
                chats = [chat for _, chat in people]
                waves = _waves(profile.notices, profile.waves)
                recipients = await _enqueue(sessions, people, waves[0])
                # Later waves arrive during the first half of the kills.
                wave_after: dict[int, list[int]] = {}
                for w in range(1, len(waves)):
                    at = max(1, profile.kills * w // (2 * len(waves)))
                    wave_after.setdefault(at, []).extend(waves[w])
                plan = [
                    (
                        plan_rng.random() < profile.startup_kill_share,
                        plan_rng.uniform(profile.up_min_s, profile.up_max_s),
                        plan_rng.choice([signal.SIGKILL, signal.SIGTERM]),
                    )
                    for _ in range(profile.kills)
                ]
                horizon = sum(up + EXPECTED_START_S for _, up, _ in plan)
                windows = fault_schedule(plan_rng, profile, horizon)
                hard_deadline = time.monotonic() + 3 * horizon + 2 * profile.outage_s + 120
                gate.arm(windows)
                faults_began = time.monotonic()
                kills = 0
                was_sending: set[str] = set()
                exits_unexplained = 0
                while kills < profile.kills and time.monotonic() < hard_deadline and not gave_up:
                    during_startup, up, sig = plan[kills]
                    child = await _spawn(env, tmp, log_path)
                    proc = child.proc
                    if kills in wave_after:
                        recipients |= await _enqueue(sessions, people, wave_after.pop(kills))

                    ready = None
                    if during_startup:
                        # A random moment of the start-up (imports, migrations check, getMe...).
                        deadline = child.spawned + up * EXPECTED_START_S / profile.up_max_s
                    else:
                        ready = await _ready(child, READY_LIMIT_S)
                        deadline = time.monotonic() + up
                    exited = proc.returncode is not None
                    if not exited:
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(
                                proc.wait(), max(0.0, deadline - time.monotonic())
                            )
                            exited = True
                    window = gate.current()
                    fault = window.kind if window is not None else None
                    uptime = time.monotonic() - child.spawned
                    if exited:
                        code: Any = proc.returncode
                        stop_s, name = 0.0, "exited"
                        # Exits with no fault to blame, again and again: it cannot start at
                        # all, and waiting for the deadline would only hide that.
                        exits_unexplained = exits_unexplained + 1 if fault is None else 0
                        if exits_unexplained >= MAX_UNEXPLAINED_EXITS:
                            gave_up = f"{exits_unexplained} exits in a row outside any fault"
                    else:
                        exits_unexplained = 0
                        code, stop_s = await _stop(proc, sig)
                        name = sig.name
                        kills += 1
                    proc = None
                    left, doubt = await _after_stop(sessions, fake, chats)
                    newly_left, was_sending = left - was_sending, left
                    stops.append(
                        Stop(
                            len(stops) + 1,
                            name,
                            round(uptime, 2),
                            None if ready is None else round(ready, 2),
                            code,
                            round(stop_s, 2),
                            fault,
                            len(left),
                            len(newly_left),
                            doubt,
                        )
                    )
                    await asyncio.sleep(
                        RESTART_AFTER_EXIT_S if exited else plan_rng.uniform(0.1, 0.5)
                    )
                faults_s = time.monotonic() - faults_began
                gate.disarm()
                for wave in wave_after.values():  # if the kills ended early
                    recipients |= await _enqueue(sessions, people, wave)

                # The last start: no faults, until nothing is on its way (or --drain passes).
                proc = (await _spawn(env, tmp, log_path)).proc
                drain_began = time.monotonic()
                drained = False
                while not gave_up and time.monotonic() - drain_began < profile.drain_s:
                    await asyncio.sleep(1.0)
                    if proc.returncode is not None:
                        stops.append(
                            Stop(
                                len(stops) + 1,
                                "exited",
                                round(time.monotonic() - drain_began, 2),
                                None,
                                proc.returncode,
                                0.0,
                                None,
                                0,
                                0,
                            )
                        )
                        proc = (await _spawn(env, tmp, log_path)).proc
                    rows = await _rows(sessions)
                    if not any(row.get("status") in ACTIVE for row in rows):
                        drained = True
                        break
                drain_s = time.monotonic() - drain_began
                await asyncio.sleep(1.0)  # anything sent twice right after draining shows too
                code, stop_s = await _stop(proc, signal.SIGTERM)
                proc = None
                final_rows = await _rows(sessions)
                delivered = _delivered(fake, chats)
                other_messages = sum(
                    1
                    for chat in chats
                    for call in fake.sent(chat)
                    if not TOKEN_RE.search(call.text)
                )
            finally:
                if proc is not None and proc.returncode is None:
                    proc.kill()  # our own child, by its handle
                    await proc.wait()
                await gate.stop()
    finally:
        await engine.dispose()
    log_text = log_path.read_text(errors="replace") if log_path.exists() else ""
    return {
        "seed": seed,
        "profile": asdict(profile),
        "database": engine.dialect.name,
        "zone": zone,
        "recipients": recipients,
        "windows": [asdict(w) for w in windows],
        "gate": dict(gate.counts),
        "stops": [asdict(s) for s in stops],
        "final_stop": {"exit_code": code, "stop_s": round(stop_s, 2)},
        "faults_s": round(faults_s, 1),
        "drain_s": round(drain_s, 1),
        "drained": drained,
        "gave_up": gave_up,
        "rows": final_rows,
        "delivered": {token: dict(counts) for token, counts in delivered.items()},
        "other_messages": other_messages,
        "log": _log_summary(log_text),
        "code": _code_hashes(),
        "wall_s": round(time.monotonic() - began, 1),
    }


_NUMBERS = re.compile(r"\d+")


_EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Exit)\b.*")


def _log_summary(log_text: str) -> dict[str, Any]:
    """Warnings, errors and exceptions of all the starts, grouped with numbers masked."""
    kinds: Counter[str] = Counter()
    for line in log_text.splitlines():
        for level in ("WARNING", "ERROR", "CRITICAL"):
            if f" {level} " in line:
                message = line.split(f" {level} ", 1)[1].strip()
                kinds[f"{level} {_NUMBERS.sub('N', message)[:150]}"] += 1
                break
        else:
            if _EXCEPTION_LINE.match(line):
                kinds[f"raised {_NUMBERS.sub('N', line)[:150]}"] += 1
    return {
        "starts": log_text.count("===== start at"),
        "tracebacks": log_text.count("Traceback (most recent call last)"),
        "top": kinds.most_common(12),
    }


def _code_hashes() -> dict[str, str]:
    out = {}
    for name in (
        "dispatch/outbox.py",
        "handlers/sender.py",
        "handlers/telegram.py",
        "bot/runner.py",
    ):
        path = ROOT / name
        if path.exists():
            out[name] = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
    return out


# ---------------------------------------------------------------------- the figures


def analyse(result: dict[str, Any]) -> dict[str, Any]:
    recipients: dict[str, int] = result["recipients"]
    delivered: dict[str, dict[int, int]] = result["delivered"]
    rows = {_token_of(row): row for row in result["rows"]}
    stops = result["stops"]
    ever_in_doubt: dict[str, str] = {}
    for stop in stops:
        for token in stop["delivered_not_recorded"]:
            ever_in_doubt.setdefault(token, stop["signal"])
    lost, doubled, misdelivered, phantom, flagged = [], [], [], [], {}
    deliveries = 0
    for token, chat in sorted(recipients.items()):
        got = delivered.get(token, {})
        to_recipient = got.get(chat, 0)
        deliveries += sum(got.values())
        row = rows.get(token, {})
        if to_recipient == 0:
            lost.append(token)
        if to_recipient > 1:
            doubled.append(token)
        if any(other != chat for other in got):
            misdelivered.append(token)
        if _recorded_sent(row) and to_recipient == 0:
            phantom.append(token)
        why = _flagged_in_doubt(row) if row else None
        if why:
            flagged[token] = why
    final_status = Counter(str(row.get("status")) for row in rows.values())
    lost_by_status = Counter(str(rows.get(t, {}).get("status", "missing")) for t in lost)
    failed_errors = Counter(
        str(row.get("last_error")) for row in rows.values() if row.get("status") == "failed"
    )
    unexplained = [t for t in doubled if t not in ever_in_doubt and t not in flagged]
    kill_stops = [s for s in stops if s["signal"] in ("SIGKILL", "SIGTERM")]
    by_signal = Counter(s["signal"] for s in kill_stops)

    def per_signal(key: str) -> dict[str, int]:
        return {
            sig: sum(int(s[key]) for s in kill_stops if s["signal"] == sig)
            for sig in ("SIGKILL", "SIGTERM")
        }

    seen: set[str] = set()
    new_doubt_per_stop = []
    for stop in stops:
        fresh = set(stop["delivered_not_recorded"]) - seen
        seen |= fresh
        new_doubt_per_stop.append(len(fresh))
    new_doubt_by_signal: Counter[str] = Counter(ever_in_doubt.values())
    return {
        "gave_up": result["gave_up"],
        "queued": len(recipients),
        "people": len(set(recipients.values())),
        "kills": len(kill_stops),
        "kills_by_signal": dict(by_signal),
        "kills_in_fault_window": sum(1 for s in kill_stops if s["fault"]),
        "exited_by_itself": sum(1 for s in stops if s["signal"] == "exited"),
        "exit_codes_by_itself": dict(
            Counter(str(s["exit_code"]) for s in stops if s["signal"] == "exited")
        ),
        "sigterm_exit_codes": dict(
            Counter(str(s["exit_code"]) for s in kill_stops if s["signal"] == "SIGTERM")
        ),
        "sigterm_max_s": max(
            (s["stop_s"] for s in kill_stops if s["signal"] == "SIGTERM"), default=0.0
        ),
        "newly_left_sending_after_stop": per_signal("newly_left_sending"),
        "max_left_sending_after_a_stop": max((s["left_sending"] for s in stops), default=0),
        "in_doubt_observed": len(ever_in_doubt),
        "in_doubt_observed_by_signal": dict(new_doubt_by_signal),
        "in_doubt_new_at_one_stop_max": max(new_doubt_per_stop, default=0),
        "in_doubt_flagged": len(flagged),
        "in_doubt_flagged_how": dict(Counter(flagged.values())),
        "deliveries": deliveries,
        "delivered_once": sum(
            1 for t, c in recipients.items() if delivered.get(t, {}).get(c, 0) == 1
        ),
        "lost": len(lost),
        "lost_by_final_status": dict(lost_by_status),
        "doubled": len(doubled),
        "doubled_after_doubt": len(doubled) - len(unexplained),
        "doubled_unexplained": len(unexplained),
        "max_copies": max((max(c.values(), default=0) for c in delivered.values()), default=0),
        "misdelivered": len(misdelivered),
        "recorded_sent_never_delivered": len(phantom),
        "final_status": dict(final_status),
        "failed_last_errors": dict(failed_errors.most_common(8)),
        "examples": {
            "lost": lost[:10],
            "doubled": doubled[:10],
            "doubled_unexplained": unexplained[:10],
            "misdelivered": misdelivered[:10],
        },
    }


def problems_of(figures: dict[str, Any], profile: Profile) -> list[str]:
    problems = []
    if figures["lost"]:
        problems.append(f"{figures['lost']} notices never reached their recipient")
    if figures["doubled_unexplained"]:
        problems.append(
            f"{figures['doubled_unexplained']} notices delivered twice without having been in doubt"
        )
    if figures["misdelivered"]:
        problems.append(f"{figures['misdelivered']} notices reached someone else")
    if figures["recorded_sent_never_delivered"]:
        problems.append(
            f"{figures['recorded_sent_never_delivered']} notices recorded sent but never delivered"
        )
    if figures["gave_up"]:
        problems.append(f"`pingan run` does not start: {figures['gave_up']} (see its log)")
    if figures["kills"] < profile.kills:
        problems.append(f"only {figures['kills']} kills of {profile.kills} before the deadline")
    return problems


def _pairs(counts: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))


def report(result: dict[str, Any], figures: dict[str, Any], problems: list[str]) -> str:
    profile = result["profile"]
    out = ["### Faults: kills, 429 and 5xx bursts, an outage (stand-in Bot API)", ""]
    out.append(
        f"Seed {result['seed']}, {result['database']}, zone {result['zone']}; code "
        + ", ".join(f"{name} {digest}" for name, digest in result["code"].items())
    )
    gate = result["gate"]
    windows = result["windows"]
    kinds = Counter(w["kind"] for w in windows)
    out.append(
        f"Faults for {result['faults_s']} s: {kinds['429']} 429 bursts, {kinds['5xx']} 5xx bursts, "
        f"an outage of {profile['outage_s']:g} s (refused, then 502 pages); the gate answered "
        + ", ".join(f"{k}: {v}" for k, v in sorted(gate.items()))
    )
    out.append("")
    f = figures
    rows = [
        ["notices queued", f"{f['queued']} to {f['people']} people"],
        [
            "kills",
            f"{f['kills']} ({_pairs(f['kills_by_signal'])}); "
            f"{f['kills_in_fault_window']} during a fault window",
        ],
        [
            "exited by itself (restarted)",
            f"{f['exited_by_itself']} (exit codes {f['exit_codes_by_itself'] or '-'})",
        ],
        [
            "SIGTERM: exit codes, slowest stop",
            f"{f['sigterm_exit_codes'] or '-'}, {f['sigterm_max_s']} s",
        ],
        [
            "claimed, left `sending` by a stop (new rows)",
            f"{_pairs(f['newly_left_sending_after_stop'])}; at most "
            f"{f['max_left_sending_after_a_stop']} `sending` at once",
        ],
        [
            "deliveries (messages with a token)",
            f"{f['deliveries']} ({f['delivered_once']} notices exactly once)",
        ],
        ["**lost** (never delivered)", f"**{f['lost']}** {dict(f['lost_by_final_status']) or ''}"],
        [
            "**doubled** (delivered 2+ times)",
            f"**{f['doubled']}** (max {f['max_copies']} copies; "
            f"{f['doubled_after_doubt']} after being in doubt, **{f['doubled_unexplained']}** not)",
        ],
        [
            "in doubt, observed (delivered, not recorded, at a stop)",
            f"{f['in_doubt_observed']} {f['in_doubt_observed_by_signal'] or ''} "
            f"(at most {f['in_doubt_new_at_one_stop_max']} new at one stop)",
        ],
        [
            "in doubt, flagged by the outbox",
            f"{f['in_doubt_flagged']} {f['in_doubt_flagged_how'] or ''}",
        ],
        ["delivered to someone else", f["misdelivered"]],
        ["recorded sent, never delivered", f["recorded_sent_never_delivered"]],
        ["final statuses", f["final_status"]],
        [
            "drain after the last kill",
            f"{result['drain_s']} s, "
            + ("drained" if result["drained"] else "NOT drained (deadline passed)"),
        ],
        ["wall time", f"{result['wall_s']} s"],
    ]
    out.append(markdown_table(["", "figure"], rows))
    if f["failed_last_errors"]:
        out.append("")
        out.append("Failed rows by last_error:")
        out += [f"    {count} × {error}" for error, count in f["failed_last_errors"].items()]
    if result["log"]["top"]:
        out.append("")
        out.append(
            f"Process log: {result['log']['starts']} starts, "
            f"{result['log']['tracebacks']} tracebacks; most frequent warnings and errors:"
        )
        out += [f"    {count} × {line}" for line, count in result["log"]["top"]]
    out.append("")
    if problems:
        out.append(f"**TARGET MISSED** ({len(problems)}):")
        out += [f"- {p}" for p in problems]
        for name, tokens in f["examples"].items():
            if tokens:
                out.append(f"  e.g. {name}: {', '.join(tokens)}")
    else:
        out.append("Target met: 0 lost, no notice sent twice except after being in doubt.")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="2-3 minutes instead of 10-16")
    parser.add_argument("--seed", type=int, default=8, help="seeds the kills and the faults")
    parser.add_argument("--notices", type=int, help="notices queued in all")
    parser.add_argument("--people", type=int, help="recipients")
    parser.add_argument("--kills", type=int, help="kills (SIGKILL or SIGTERM), at least")
    parser.add_argument("--outage", type=float, help="outage seconds (half refused, half 502)")
    parser.add_argument("--drain", type=float, help="seconds allowed to drain after the kills")
    parser.add_argument("--database", help="a throwaway database URL (PostgreSQL: schema dropped)")
    parser.add_argument("--timezone", help="PINGAN_TIMEZONE for the process (default: 10:xx now)")
    parser.add_argument("--json", metavar="PATH", help="write the result and figures as JSON")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args(argv)
    profile = QUICK if args.quick else FULL
    overrides = {
        "notices": args.notices,
        "people": args.people,
        "kills": args.kills,
        "outage_s": args.outage,
        "drain_s": args.drain,
    }
    profile = Profile(**(asdict(profile) | {k: v for k, v in overrides.items() if v is not None}))
    result = asyncio.run(run(profile, args.seed, args.database, args.timezone, args.keep))
    figures = analyse(result)
    problems = problems_of(figures, profile)
    print(report(result, figures, problems))
    if args.json:
        document = {"figures": figures, "problems": problems, **result}
        Path(args.json).write_text(json.dumps(document, ensure_ascii=False, indent=1, default=str))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
