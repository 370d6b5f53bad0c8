"""The sweep and the leaders' daily report on a big database: a million historical cases.

    python -m tests.benchmarks.bench_sweep [--database URL] [--cases 1000000] [--open 100000]
                                           [--keep] [--analyze] [--seed 7] [--report-limit 300]

Targets (from the issue): with a million historical cases and a hundred thousand open ones,
one sweep tick that finds nothing due costs < 50 ms and its cost grows with the number of due
items, not of open cases; the daily report for a whole prefecture is built in < 2 s.

1. **Seed.** A fresh database is migrated (a SQLite file in a temporary directory, or the
   PostgreSQL URL given, whose ``public`` schema is **dropped and recreated**: a throwaway
   database only), the demo organisation imported, people created (citizens, a grid worker
   per grid, a mediator per mediation committee, a dispatcher and a leader per centre, staff
   per department, each with a Telegram identity), then ``--cases`` cases over the last two
   years across the 42 demo grids, in id order = report order. ``--open`` of them (recent
   ones) are open (assigned with an open offer, or in progress) with an SLA clock whose
   ``next_action_at`` lies 1–10 days in the future, so nothing is due at ``now``; the rest
   are closed (resolved / unresolved / closed, no clock). Each case gets the events it would
   have had (report, offer, decline+reoffer sometimes, accept, resolve / fail, followup,
   archive...; about 5 per closed case, 2–3 per open one), with the data the statistics read.
   SQLite: SQLAlchemy Core ``insert()`` executemany in chunks of 10k rows; PostgreSQL: asyncpg
   ``copy_records_to_table`` on the same transaction, then ANALYZE (autovacuum would).
   SQLite is *not* ANALYZEd (the product never does) unless ``--analyze``.
   ``--keep`` keeps the SQLite file (in ``$TMPDIR/pingan-bench-sweep/``) or the PostgreSQL
   data, and reuses it on the next run when the counts match (seeding is skipped).
2. **Measure** with a FrozenClock at 2026-11-24 10:00 +08:00: ``sweep()`` with nothing due
   (50 ticks; also once on the empty database before seeding, for "does not grow with open
   cases"), ``sweep()`` with k = 10, 100, 1000 cases made due (``next_action_at`` = now − 1
   min), ticking until none is left (the sweep takes at most 200 per tick), each set restored
   afterwards (cases, offers; new events, notices and points deleted); ``followups()`` with
   nothing due; ``stats.report`` for the prefecture ("/532800/", day) median of 5 and
   ``digests.digest_reply`` for the prefecture leader (chart included) median of 3; a first
   run slower than 20 s is not repeated, one slower than ``--report-limit`` is given up.
3. **Explain.** The sweep's due query, and the slowest statements of one report + digest
   (captured at the cursor), with EXPLAIN QUERY PLAN (SQLite) or EXPLAIN ANALYZE (PostgreSQL).

Prints Markdown tables with pass/fail against the targets, and the database size.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Table, bindparam, delete, event, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.app import build_domain
from dispatch import digests, stats
from dispatch.clock import FrozenClock
from dispatch.orgfile import DEMO_ORG_PATH, OrgFile, load_org_file
from dispatch.policy import Policy
from dispatch.sweep import followups, sweep
from storage.database import create_engine, session_factory
from storage.migrate import upgrade
from storage.models import (
    Case,
    CaseCounter,
    CaseEvent,
    CaseOffer,
    Identity,
    OutboxMessage,
    Person,
    PointsEntry,
)
from tests.schema import empty_public_schema, import_demo_org

ZONE = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 24, 10, 0, tzinfo=ZONE).astimezone(UTC)
TODAY = NOW.astimezone(ZONE).date()
PREFECTURE = "532800"
PREFECTURE_PATH = "/532800/"
HISTORY_DAYS = 730
CHUNK = 10_000  # rows per executemany / COPY
CASES_PER_TRANSACTION = 100_000
OPEN_SHARE_OF_RECENT = 0.6  # open cases are 60% of the most recent cases
CITIZENS = 5_000
SWEEP_TARGET_MS = 50.0
REPORT_TARGET_S = 2.0
DUE_SIZES = (10, 100, 1000)

CATEGORIES = (
    ("neighbor", 22),
    ("family", 18),
    ("land", 12),
    ("housing", 9),
    ("labor", 9),
    ("contract", 7),
    ("damages", 6),
    ("business", 4),
    ("traffic", 4),
    ("property", 3),
    ("consumer", 2),
    ("medical", 1),
    ("environment", 1),
    ("expropriation", 1),
    ("other", 1),
)
RISKS = (("general", 85), ("significant", 12), ("major", 3))
SOURCES = (("citizen", 60), ("grid_worker", 35), ("dept_staff", 5))
CHANNELS = (("telegram", 70), ("wechat", 25), ("console", 5))
DESCRIPTIONS = (
    "邻居装修噪音太大，多次沟通无果",
    "宅基地边界有争议，两家都说是自己的",
    "老板拖欠三个月工资不给",
    "夫妻因为抚养费问题吵架",
    "承包的橡胶地被别人占了",
    "楼上漏水把我家天花板泡坏了",
    "买的电动车质量有问题商家不退",
    "物业费涨价业主不同意",
    "交通事故赔偿谈不拢",
    "合同到期对方不退押金",
)
HANDLING_HOURS = {"general": (2, 72), "significant": (6, 168), "major": (12, 360)}


def _weighted(pairs: Sequence[tuple[str, int]]) -> tuple[list[str], list[int]]:
    return [p[0] for p in pairs], [p[1] for p in pairs]


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 2)


def _percentile(values: Sequence[float], fraction: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    return ordered[max(0, min(len(ordered) - 1, round(fraction * len(ordered)) - 1))]


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def say(message: str) -> None:
    print(message, flush=True)


# ---------------------------------------------------------------- organisation and people


class Org:
    """What the seed needs to know of the demo organisation and of the people it made."""

    def __init__(self, org: OrgFile) -> None:
        self.regions = {r.code: r for r in org.regions}
        self.paths: dict[str, str] = {}
        for spec in org.regions:
            self.paths[spec.code] = (
                (self.paths[spec.parent] if spec.parent else "/") + spec.code + "/"
            )
        self.units = {u.code: u for u in org.units}
        self.grids = [r.code for r in org.regions if r.level == "grid"]
        self.handler: dict[str, int] = {}  # unit → the person who takes its cases
        self.grid_worker: dict[str, int] = {}
        self.citizens: list[int] = []
        self.dept_staff: list[int] = []
        self.leaders: dict[str, int] = {}  # region code → leader

    def ancestor(self, region: str, level: str) -> str | None:
        code: str | None = region
        while code is not None:
            if self.regions[code].level == level:
                return code
            code = self.regions[code].parent
        return None

    def unit_for(self, grid: str, category: str, risk: str) -> str:
        village = self.ancestor(grid, "village")
        township = self.ancestor(grid, "township")
        county = self.ancestor(grid, "county")
        if risk == "major":
            wanted = [f"U{county}-ZZ"]
        elif risk == "significant":
            wanted = [f"U{township}-TJ", f"U{township}-ZZ", f"U{county}-ZZ"]
        else:
            specialised = {"labor": "RS", "medical": "YT", "traffic": "JJ"}.get(category)
            wanted = [f"U{county}-{specialised}"] if specialised else []
            wanted += [f"U{village}-TJ", f"U{village}-ZZ", f"U{township}-ZZ", f"U{county}-ZZ"]
        for code in wanted:
            if code in self.units and code in self.handler:
                return code
        return f"U{PREFECTURE}-ZZ"


def make_people(org: Org) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    people: list[dict[str, Any]] = []
    created = NOW - timedelta(days=HISTORY_DAYS + 30)

    def add(role: str, name: str, unit: str | None, region: str | None) -> int:
        pid = len(people) + 1
        people.append(
            {
                "id": pid,
                "display_name": name,
                "role": role,
                "unit_code": unit,
                "region_code": region,
                "locale": "zh-hans",
                "digest_time": None,
                "created_at": created,
            }
        )
        return pid

    for code, unit in org.units.items():
        region = org.regions[unit.region]
        if unit.kind == "mediation":
            org.handler[code] = add("mediator", f"调解员{code}", code, unit.region)
        elif unit.kind == "department":
            pid = add("dept_staff", f"工作人员{code}", code, unit.region)
            org.handler[code] = pid
            org.dept_staff.append(pid)
        else:  # a centre: a dispatcher, and a leader above village level
            org.handler[code] = add("dispatcher", f"调度员{code}", code, unit.region)
            if region.level in ("prefecture", "county", "township"):
                org.leaders[unit.region] = add("leader", f"领导{region.name}", code, unit.region)
    for grid in org.grids:
        village = org.ancestor(grid, "village")
        org.grid_worker[grid] = add("grid_worker", f"网格员{grid}", f"U{village}-ZZ", grid)
    for i in range(CITIZENS):
        org.citizens.append(add("citizen", f"群众{i}", None, None))
    staff = [p for p in people if p["role"] != "citizen"]
    identities = [
        {
            "id": p["id"],
            "person_id": p["id"],
            "channel": "telegram",
            "user_ref": str(700_000_000 + p["id"]),
            "chat_ref": str(700_000_000 + p["id"]),
            "last_seen_at": NOW - timedelta(days=1),
            "unreachable_at": None,
        }
        for p in people
        if p["role"] != "citizen" or p["id"] % 2 == 0
    ]
    say(
        f"people: {len(people)} ({len(staff)} staff, {len(org.leaders)} leaders, "
        f"{len(org.citizens)} citizens), identities: {len(identities)}"
    )
    return people, identities


# ---------------------------------------------------------------- cases and their events

CASE_COLUMNS = [c.name for c in Case.__table__.columns]
EVENT_COLUMNS = ["case_id", "kind", "from_status", "to_status", "actor_id", "at", "data"]
OFFER_COLUMNS = [c.name for c in CaseOffer.__table__.columns]


def _offer_data(offer_id: int | None, handler: int, unit: str) -> dict[str, Any]:
    return {"offer_id": offer_id, "person_id": handler, "unit": unit, "as_dispatcher": False}


def _accept_event(
    cid: int, handler: int, at: datetime, offer_id: int | None, unit: str
) -> tuple[Any, ...]:
    data = {"offer_id": offer_id, "unit": unit}
    return (cid, "accept", "assigned", "in_progress", handler, at, data)


class Generator:
    """Cases in report order, with their events and (for open cases) their offers."""

    def __init__(self, org: Org, n: int, n_open: int, seed: int) -> None:
        self.org = org
        self.rng = random.Random(seed)
        rng = self.rng
        seconds = HISTORY_DAYS * 86400 - 600
        self.offsets = sorted(rng.random() * seconds for _ in range(n))
        self.first = NOW - timedelta(days=HISTORY_DAYS)
        recent = min(n, max(n_open, int(n_open / OPEN_SHARE_OF_RECENT)))
        self.open = set(rng.sample(range(n - recent, n), n_open))
        self.categories = _weighted(CATEGORIES)
        self.risks = _weighted(RISKS)
        self.sources = _weighted(SOURCES)
        self.channels = _weighted(CHANNELS)
        self.counters: Counter[int] = Counter()
        self.offer_id = 0
        self.policy = Policy.load()

    def pick(self, pair: tuple[list[str], list[int]]) -> str:
        return self.rng.choices(pair[0], pair[1])[0]

    def cases(
        self, lo: int, hi: int
    ) -> tuple[list[dict[str, Any]], list[tuple[Any, ...]], list[dict[str, Any]]]:
        rows: list[dict[str, Any]] = []
        events: list[tuple[Any, ...]] = []
        offers: list[dict[str, Any]] = []
        for i in range(lo, hi):
            self._case(i, rows, events, offers)
        return rows, events, offers

    def _case(
        self,
        i: int,
        rows: list[dict[str, Any]],
        events: list[tuple[Any, ...]],
        offers: list[dict[str, Any]],
    ) -> None:
        rng, org = self.rng, self.org
        cid = i + 1
        t0 = self.first + timedelta(seconds=self.offsets[i])
        grid = rng.choice(org.grids)
        category = self.pick(self.categories)
        risk = self.pick(self.risks)
        source = self.pick(self.sources)
        if source == "grid_worker":
            reporter = org.grid_worker[grid]
        elif source == "dept_staff":
            reporter = rng.choice(org.dept_staff)
        else:
            reporter = rng.choice(org.citizens)
        year = t0.astimezone(ZONE).year
        self.counters[year] += 1
        unit = org.unit_for(grid, category, risk)
        handler = org.handler[unit]
        row: dict[str, Any] = dict.fromkeys(CASE_COLUMNS)
        row.update(
            id=cid,
            number=f"{year}-{self.counters[year]:06d}",
            source=source,
            category=category,
            confidence=round(rng.uniform(0.5, 0.99), 2),
            risk=risk,
            cues=[],
            description=rng.choice(DESCRIPTIONS),
            region_code=grid,
            region_path=org.paths[grid],
            people_involved=rng.choice(("2人", "3-5人", "6人以上")),
            danger=risk == "major",
            reporter_id=reporter,
            created_at=t0,
            version=1,
            ladder=0,
        )
        report = {
            "channel": self.pick(self.channels),
            "category": category,
            "risk": risk,
            "cues": [],
        }
        events.append((cid, "report", None, "reported", reporter, t0, report))
        if i in self.open:
            self._open(row, events, offers, t0, unit, handler)
        elif source == "grid_worker" and rng.random() < 0.25:
            self._on_spot(row, events, t0, reporter, unit)
        else:
            self._closed(row, events, t0, unit, handler)
        rows.append(row)

    def _open(
        self,
        row: dict[str, Any],
        events: list[tuple[Any, ...]],
        offers: list[dict[str, Any]],
        t0: datetime,
        unit: str,
        handler: int,
    ) -> None:
        rng, cid = self.rng, row["id"]
        self.offer_id += 1
        offered = t0 + timedelta(seconds=rng.uniform(1, 5))
        offer_data = _offer_data(self.offer_id, handler, unit)
        events.append((cid, "offer", "reported", "assigned", None, offered, offer_data))
        accepted: datetime | None = offered + timedelta(minutes=rng.uniform(5, 240))
        if accepted is not None and (accepted >= NOW or rng.random() < 0.3):
            accepted = None
        offers.append(
            {
                "id": self.offer_id,
                "case_id": cid,
                "person_id": handler,
                "unit_code": unit,
                "state": "open" if accepted is None else "accepted",
                "offered_at": offered,
                "decided_at": accepted,
                "reason": None,
            }
        )
        action_at = NOW + timedelta(seconds=rng.uniform(86400, 10 * 86400))
        row.update(
            unit_code=unit,
            assignee_id=None,
            ladder=0,
            next_action_at=action_at,
            due_at=action_at + timedelta(seconds=rng.uniform(0, 2 * 86400)),
            version=2,
            updated_at=offered,
        )
        if accepted is None:
            row.update(status="assigned", sla_stage="accept", sla_started_at=offered)
        else:
            events.append(_accept_event(cid, handler, accepted, self.offer_id, unit))
            last = accepted
            row.update(
                status="in_progress",
                assignee_id=handler,
                accepted_at=accepted,
                sla_stage="resolve",
                sla_started_at=accepted,
                version=3,
            )
            if rng.random() < 0.2 and last < NOW - timedelta(hours=1):
                last = last + (NOW - last) * rng.random()
                events.append(
                    (
                        cid,
                        "progress",
                        "in_progress",
                        "in_progress",
                        handler,
                        last,
                        {"note": "已联系双方当事人"},
                    )
                )
            if rng.random() < 0.01 and last < NOW - timedelta(hours=1):
                last = last + (NOW - last) * rng.random()
                events.append(
                    (
                        cid,
                        "overdue",
                        "in_progress",
                        "in_progress",
                        None,
                        last,
                        {"stage": "resolve", "step": 2, "skipped": 0},
                    )
                )
            row["updated_at"] = last
        if rng.random() < 0.005:
            leader = self.org.leaders[PREFECTURE]
            local = NOW.astimezone(ZONE)
            next_nine = (local + timedelta(days=1)).replace(
                hour=9, minute=0, second=0, microsecond=0
            )
            row.update(supervised_by=leader, supervise_next_at=next_nine.astimezone(UTC))

    def _on_spot(
        self,
        row: dict[str, Any],
        events: list[tuple[Any, ...]],
        t0: datetime,
        reporter: int,
        unit: str,
    ) -> None:
        cid = row["id"]
        events.append(
            (cid, "resolve_on_spot", "reported", "resolved", reporter, t0, {"summary": "当场说和"})
        )
        row.update(
            status="resolved",
            unit_code=self.org.units[unit].code,
            assignee_id=reporter,
            outcome="success",
            outcome_summary="当场说和",
            resolved_at=t0,
            updated_at=t0,
            version=2,
        )
        self._after_outcome(row, events, t0, reporter)

    def _closed(
        self,
        row: dict[str, Any],
        events: list[tuple[Any, ...]],
        t0: datetime,
        unit: str,
        handler: int,
    ) -> None:
        rng, cid = self.rng, row["id"]
        lo, hi = HANDLING_HOURS[row["risk"]]
        room = (NOW - t0).total_seconds() - 60
        duration = min(rng.uniform(lo, hi) * 3600, room * rng.uniform(0.5, 1.0))
        resolved = t0 + timedelta(seconds=duration)
        offered = t0 + timedelta(seconds=min(rng.uniform(1, 5), duration / 10))
        accepted = offered + (resolved - offered) * rng.uniform(0.02, 0.3)
        version = 2
        offer_data = _offer_data(None, handler, unit)
        events.append((cid, "offer", "reported", "assigned", None, offered, offer_data))
        if rng.random() < 0.05:
            declined = offered + (accepted - offered) / 2
            events.append(
                (cid, "decline", "assigned", "assigned", handler, declined, {"reason": "不在辖区"})
            )
            reoffered = declined + timedelta(seconds=1)
            reoffer_data = _offer_data(None, handler, unit)
            events.append((cid, "reoffer", "assigned", "assigned", None, reoffered, reoffer_data))
            version += 2
        events.append(_accept_event(cid, handler, accepted, None, unit))
        failed = rng.random() < 0.15
        events.append(
            (
                cid,
                "fail" if failed else "resolve",
                "in_progress",
                "unresolved" if failed else "resolved",
                handler,
                resolved,
                {"summary": "双方达成一致" if not failed else "调解不成，建议诉讼"},
            )
        )
        row.update(
            status="unresolved" if failed else "resolved",
            unit_code=unit,
            assignee_id=handler,
            outcome="failed" if failed else "success",
            outcome_summary="调解不成" if failed else "双方达成一致",
            agreement=None if failed else rng.choice(("oral", "written")),
            accepted_at=accepted,
            resolved_at=resolved,
            updated_at=resolved,
            version=version + 2,
        )
        self._after_outcome(row, events, resolved, row["reporter_id"])

    def _after_outcome(
        self, row: dict[str, Any], events: list[tuple[Any, ...]], resolved: datetime, reporter: int
    ) -> None:
        """Follow-up three days later: answered (40%), archived unanswered (40%), or none."""
        rng, cid = self.rng, row["id"]
        asked = resolved + self.policy.followup_after
        if asked > NOW:
            row["followup_at"] = asked  # in the future: the followup job is not due yet
            return
        draw = rng.random()
        status = row["status"]
        if draw < 0.4:
            at = asked + timedelta(hours=rng.uniform(1, 48))
            if at > NOW:
                return
            rating = rng.choices(("satisfied", "basic"), (80, 20))[0]
            events.append(
                (cid, "followup", status, status, reporter, at, {"rating": rating, "comment": ""})
            )
            events.append((cid, "archive", status, "closed", None, at, {"followup": rating}))
            row.update(status="closed", followup_state="answered", rating=rating, updated_at=at)
            row["version"] += 1
        elif draw < 0.8:
            at = asked + self.policy.followup_expires
            if at > NOW:
                return
            events.append((cid, "archive", status, "closed", None, at, {"followup": "unanswered"}))
            row.update(status="closed", followup_state="unanswered", updated_at=at)
            row["version"] += 1


# ---------------------------------------------------------------- database


def sqlite_path(url: str) -> Path | None:
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    return (
        Path(parsed.database) if parsed.get_backend_name() == "sqlite" and parsed.database else None
    )


def _remove_sqlite_files(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)


def _sqlite_bytes(path: Path) -> int:
    files = [Path(str(path) + suffix) for suffix in ("", "-wal")]
    return sum(f.stat().st_size for f in files if f.exists())


async def counts(engine: AsyncEngine) -> tuple[int, int, int]:
    async with engine.connect() as conn:
        cases = (await conn.execute(select(func.count()).select_from(Case))).scalar_one()
        opened = (
            await conn.execute(
                select(func.count())
                .select_from(Case)
                .where(Case.status.in_(("assigned", "in_progress")))
            )
        ).scalar_one()
        events = (await conn.execute(select(func.count()).select_from(CaseEvent))).scalar_one()
    return cases, opened, events


async def reusable(url: str, n: int, n_open: int) -> bool:
    path = sqlite_path(url)
    if path is not None and not path.exists():
        return False
    engine = create_engine(url)
    try:
        cases, opened, _ = await counts(engine)
        return cases == n and opened == n_open
    except Exception:
        return False
    finally:
        await engine.dispose()


async def fresh_schema(url: str) -> None:
    path = sqlite_path(url)
    if path is not None:
        _remove_sqlite_files(path)
    engine = create_engine(url)
    try:
        if engine.dialect.name == "postgresql":
            await empty_public_schema(engine)
        await upgrade(engine)
        await import_demo_org(engine)
    finally:
        await engine.dispose()


async def _insert(conn: Any, table: Any, rows: list[dict[str, Any]]) -> None:
    for i in range(0, len(rows), CHUNK):
        await conn.execute(insert(table), rows[i : i + CHUNK])


async def _copy(conn: Any, table: Any, columns: list[str], records: list[tuple[Any, ...]]) -> None:
    raw = (await conn.get_raw_connection()).driver_connection
    for i in range(0, len(records), CHUNK):
        await raw.copy_records_to_table(table.name, records=records[i : i + CHUNK], columns=columns)


def _jsonable(columns: list[str], json_columns: set[str], row: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(
        json.dumps(row[c], ensure_ascii=False) if c in json_columns else row[c] for c in columns
    )


async def seed(url: str, n: int, n_open: int, seed_value: int) -> dict[str, float]:
    """Fill a migrated database; returns the seconds spent per phase."""
    timings: dict[str, float] = {}
    began = time.monotonic()
    org = Org(load_org_file(DEMO_ORG_PATH))
    people, identities = make_people(org)
    # Seeding only: no foreign-key checks on SQLite (we build consistent rows), a big cache.
    engine = create_engine(url, foreign_keys=False)
    postgres = engine.dialect.name == "postgresql"
    try:
        async with engine.begin() as conn:
            if not postgres:
                await conn.exec_driver_sql("PRAGMA cache_size=-524288")
            await _insert(conn, Person.__table__, people)
            await _insert(conn, Identity.__table__, identities)
        generator = Generator(org, n, n_open, seed_value)
        made = written = 0.0
        total_events = total_offers = 0
        for lo in range(0, n, CASES_PER_TRANSACTION):
            hi = min(n, lo + CASES_PER_TRANSACTION)
            t = time.monotonic()
            rows, events, offers = generator.cases(lo, hi)
            made += time.monotonic() - t
            t = time.monotonic()
            async with engine.begin() as conn:
                if postgres:
                    await _copy(
                        conn,
                        Case.__table__,
                        CASE_COLUMNS,
                        [_jsonable(CASE_COLUMNS, {"cues"}, r) for r in rows],
                    )
                    await _copy(
                        conn,
                        CaseOffer.__table__,
                        OFFER_COLUMNS,
                        [tuple(o[c] for c in OFFER_COLUMNS) for o in offers],
                    )
                    await _copy(
                        conn,
                        CaseEvent.__table__,
                        EVENT_COLUMNS,
                        [(*e[:6], json.dumps(e[6], ensure_ascii=False)) for e in events],
                    )
                else:
                    await conn.exec_driver_sql("PRAGMA cache_size=-524288")
                    await _insert(conn, Case.__table__, rows)
                    await _insert(conn, CaseOffer.__table__, offers)
                    await _insert(
                        conn,
                        CaseEvent.__table__,
                        [dict(zip(EVENT_COLUMNS, e, strict=True)) for e in events],
                    )
            written += time.monotonic() - t
            total_events += len(events)
            total_offers += len(offers)
            say(
                f"  seeded {hi:>9,} cases, {total_events:>10,} events "
                f"({time.monotonic() - began:6.1f} s; generate {made:.1f} s, write {written:.1f} s)"
            )
        async with engine.begin() as conn:
            await _insert(
                conn,
                CaseCounter.__table__,
                [{"year": y, "last": last} for y, last in sorted(generator.counters.items())],
            )
            if postgres:
                for table in ("people", "identities", "cases", "case_offers"):
                    await conn.exec_driver_sql(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                        f"(SELECT max(id) FROM {table}))"
                    )
        timings["generate"] = made
        timings["write"] = written
        t = time.monotonic()
        if postgres:
            async with engine.connect() as conn:
                await conn.execution_options(isolation_level="AUTOCOMMIT")
                await conn.exec_driver_sql("VACUUM ANALYZE")
            timings["vacuum analyze"] = time.monotonic() - t
        else:
            async with engine.connect() as conn:
                # Outside any transaction (ours begin with BEGIN IMMEDIATE): the driver's own.
                driver: Any = (await conn.get_raw_connection()).driver_connection
                await driver.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            timings["checkpoint"] = time.monotonic() - t
        timings["total"] = time.monotonic() - began
        say(
            f"seeded {n:,} cases ({n_open:,} open), {total_events:,} events, "
            f"{total_offers:,} offers in {timings['total']:.1f} s"
        )
    finally:
        await engine.dispose()
    return timings


# ---------------------------------------------------------------- measuring


class Capture:
    """Every statement the engine runs while active, with its time (execute + fetch)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine.sync_engine
        self.active = False
        self.statements: list[tuple[float, str, Any]] = []
        event.listen(self.engine, "before_cursor_execute", self._before)
        event.listen(self.engine, "after_cursor_execute", self._after)

    def _before(
        self, conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool
    ) -> None:
        conn.info["bench_t0"] = time.perf_counter()

    def _after(
        self, conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool
    ) -> None:
        if self.active and not many:
            self.statements.append(
                (time.perf_counter() - conn.info["bench_t0"], statement, parameters)
            )

    def __enter__(self) -> Capture:
        self.statements = []
        self.active = True
        return self

    def __exit__(self, *exc: object) -> None:
        self.active = False


async def explain(engine: AsyncEngine, statement: str, parameters: Any) -> str:
    postgres = engine.dialect.name == "postgresql"
    prefix = "EXPLAIN (ANALYZE, BUFFERS) " if postgres else "EXPLAIN QUERY PLAN "
    params = tuple(parameters) if parameters is not None else ()
    if not postgres:
        # A plain read-only connection: ours begin with BEGIN IMMEDIATE, which waits for a
        # report query that was given up on but still runs in aiosqlite's thread.
        return await asyncio.to_thread(_sqlite_plan, str(engine.url.database), statement, params)
    async with engine.connect() as conn:
        rows: list[Any] = list((await conn.exec_driver_sql(prefix + statement, params)).all())
        await conn.rollback()
    if postgres:
        return "\n".join(r[0] for r in rows)
    return "\n".join(f"{r[0]:>3} {r[1]:>3} {r[-1]}" for r in rows)


FAST_ENOUGH_S = 20.0  # a first run slower than this is not repeated


def _seconds(value: float | None) -> str:
    return "timed out" if value is None else f"{value:.3f} s"


async def _report_figure(
    name: str,
    call: Callable[[], Awaitable[Any]],
    times: int,
    limit: float,
    capture: Capture,
    captured: list[tuple[float, str, Any]],
) -> float | None:
    """The median of `times` runs (the first captured), or of one when the first is slow;
    None when the first run did not finish within `limit` seconds."""
    began = time.perf_counter()
    with capture:
        try:
            await asyncio.wait_for(call(), limit)
        except TimeoutError:
            captured.extend(capture.statements)
            say(f"{name}: did not finish in {limit:.0f} s ({len(capture.statements)} statements)")
            return None
    captured.extend(capture.statements)
    first = time.perf_counter() - began
    if first > FAST_ENOUGH_S:
        say(f"{name}: {first:.3f} s (one run: too slow to repeat)")
        return first
    values, _ = await timed(call, times)
    median = statistics.median(values)
    say(
        f"{name}: median {median:.3f} s of {times} after a first run of {first:.3f} s "
        f"({', '.join(f'{v:.3f}' for v in values)})"
    )
    return median


def _sqlite_plan(path: str, statement: str, params: tuple[Any, ...]) -> str:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        rows = conn.execute("EXPLAIN QUERY PLAN " + statement, params).fetchall()
    finally:
        conn.close()
    return "\n".join(f"{r[0]:>3} {r[1]:>3} {r[-1]}" for r in rows)


async def timed(call: Callable[[], Awaitable[Any]], times: int) -> tuple[list[float], Any]:
    values, result = [], None
    for _ in range(times):
        t = time.perf_counter()
        result = await call()
        values.append(time.perf_counter() - t)
    return values, result


async def due_count(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return (
            await conn.execute(
                select(func.count()).select_from(Case).where(Case.next_action_at <= NOW)
            )
        ).scalar_one()


async def _max_id(conn: Any, table: Any) -> int:
    return (await conn.execute(select(func.coalesce(func.max(table.c.id), 0)))).scalar_one()


CASES: Table = Case.__table__  # type: ignore[assignment]
OFFERS: Table = CaseOffer.__table__  # type: ignore[assignment]
GROWING: tuple[Table, ...] = (
    CaseEvent.__table__,  # type: ignore[assignment]
    OutboxMessage.__table__,
    PointsEntry.__table__,
    OFFERS,
)


async def make_due(engine: AsyncEngine, ids: list[int]) -> dict[str, Any]:
    """Remember the cases, their offers and the tables' high-water marks; make them due."""
    cases_t, offers_t = CASES, OFFERS
    async with engine.begin() as conn:
        snap = {
            "cases": [
                dict(r)
                for r in (
                    await conn.execute(select(cases_t).where(cases_t.c.id.in_(ids)))
                ).mappings()
            ],
            "offers": [
                dict(r)
                for r in (
                    await conn.execute(select(offers_t).where(offers_t.c.case_id.in_(ids)))
                ).mappings()
            ],
            "marks": {t.name: await _max_id(conn, t) for t in GROWING},
        }
        await conn.execute(
            update(cases_t)
            .where(cases_t.c.id.in_(ids))
            .values(next_action_at=NOW - timedelta(minutes=1))
        )
    return snap


async def restore(engine: AsyncEngine, snap: dict[str, Any]) -> None:
    cases_t, offers_t = CASES, OFFERS
    async with engine.begin() as conn:
        for table in GROWING:
            await conn.execute(delete(table).where(table.c.id > snap["marks"][table.name]))
        for table, rows in ((cases_t, snap["cases"]), (offers_t, snap["offers"])):
            if not rows:
                continue
            columns = [c for c in rows[0] if c != "id"]
            stmt = (
                update(table)
                .where(table.c.id == bindparam("b_id"))
                .values({c: bindparam(f"b_{c}") for c in columns})
            )
            await conn.execute(stmt, [{f"b_{k}": v for k, v in r.items()} for r in rows])


async def database_size(engine: AsyncEngine, url: str) -> list[tuple[str, str]]:
    sizes: list[tuple[str, str]] = []
    if engine.dialect.name == "postgresql":
        async with engine.connect() as conn:
            total = (
                await conn.exec_driver_sql("SELECT pg_database_size(current_database())")
            ).scalar_one()
            sizes.append(("database", f"{total / 2**20:,.0f} MB"))
            for table in ("cases", "case_events"):
                heap = (
                    await conn.exec_driver_sql(f"SELECT pg_relation_size('{table}')")
                ).scalar_one()
                index = (
                    await conn.exec_driver_sql(f"SELECT pg_indexes_size('{table}')")
                ).scalar_one()
                sizes.append((table, f"{heap / 2**20:,.0f} MB + indexes {index / 2**20:,.0f} MB"))
        return sizes
    path = sqlite_path(url)
    assert path is not None
    total = _sqlite_bytes(path)
    sizes.append(("database file (+WAL)", f"{total / 2**20:,.0f} MB"))
    async with engine.connect() as conn:
        try:
            rows: list[Any] = list(
                (
                    await conn.exec_driver_sql(
                        "SELECT name, SUM(pgsize) FROM dbstat GROUP BY name ORDER BY 2 DESC LIMIT 8"
                    )
                ).all()
            )
            sizes += [(str(r[0]), f"{r[1] / 2**20:,.0f} MB") for r in rows]
        except Exception:
            pass
    return sizes


def fingerprint() -> str:
    """Which product code was measured: other people edit it while benchmarks run."""
    import hashlib

    root = Path(__file__).resolve().parents[2]
    parts = []
    for name in ("dispatch/sweep.py", "dispatch/stats.py", "dispatch/digests.py"):
        source = (root / name).read_bytes()
        parts.append(f"{name} {hashlib.sha1(source).hexdigest()[:10]}")
    return ", ".join(parts)


def _mark(ok: bool) -> str:
    return "✅" if ok else "❌"


async def measure(
    url: str, empty_sweep: list[float], seeding: dict[str, float], report_limit: float
) -> int:
    engine = create_engine(url)
    sessions = session_factory(engine)
    domain = build_domain(FrozenClock(NOW), ZONE, policy=Policy.load())
    capture = Capture(engine)
    results: list[tuple[str, str, str, str]] = []
    try:
        cases, opened, events = await counts(engine)
        say(f"code measured: {fingerprint()}")
        say(f"planner statistics: {await planner_statistics(engine)}")
        say(
            f"\ndatabase: {engine.dialect.name}, {cases:,} cases ({opened:,} open), "
            f"{events:,} events"
        )
        due = await due_count(engine)
        if due:
            say(f"WARNING: {due} cases already due at now; the 'nothing due' figures include them")

        # (a) nothing due
        await sweep(sessions, domain)  # warm-up: pool, compiled-statement cache
        values, tally = await timed(lambda: sweep(sessions, domain), 50)
        median, p95 = statistics.median(values) * 1000, _percentile(values, 0.95) * 1000
        say(
            f"sweep, nothing due (50 ticks): median {median:.2f} ms, p95 {p95:.2f} ms "
            f"({tally.summary()})"
        )
        results.append(
            (
                f"sweep tick, nothing due ({opened:,} open), median / p95",
                f"{median:.2f} / {p95:.2f} ms",
                f"< {SWEEP_TARGET_MS:.0f} ms",
                _mark(p95 < SWEEP_TARGET_MS),
            )
        )
        if empty_sweep:
            e_median = statistics.median(empty_sweep) * 1000
            e_p95 = _percentile(empty_sweep, 0.95) * 1000
            results.append(
                (
                    "sweep tick, nothing due, same database before seeding (0 cases)",
                    f"{e_median:.2f} / {e_p95:.2f} ms",
                    "≈ the line above",
                    _mark(median < 2 * e_median + 1),
                )
            )

        # (c) followups, nothing due
        await followups(sessions, domain)
        values, tally = await timed(lambda: followups(sessions, domain), 50)
        f_median, f_p95 = statistics.median(values) * 1000, _percentile(values, 0.95) * 1000
        say(f"followups, nothing due (50 ticks): median {f_median:.2f} ms, p95 {f_p95:.2f} ms")
        results.append(
            (
                "followups tick, nothing due, median / p95",
                f"{f_median:.2f} / {f_p95:.2f} ms",
                f"< {SWEEP_TARGET_MS:.0f} ms",
                _mark(f_p95 < SWEEP_TARGET_MS),
            )
        )

        # the due query's plan
        with capture:
            await sweep(sessions, domain)
        due_plans = [
            (s, p) for _, s, p in capture.statements if s.lstrip().upper().startswith("SELECT")
        ]

        # (b) k due
        async with engine.connect() as conn:
            open_ids = list(
                (
                    await conn.execute(
                        select(Case.id).where(Case.status.in_(("assigned", "in_progress")))
                    )
                ).scalars()
            )
        rng = random.Random(11)
        pool = rng.sample(open_ids, min(len(open_ids), sum(DUE_SIZES)))
        due_rows: list[list[object]] = []
        per_item: list[float] = []
        for k in DUE_SIZES:
            ids, pool = pool[:k], pool[k:]
            if len(ids) < k:
                break
            snap = await make_due(engine, ids)
            ticks: list[float] = []
            done: Counter[str] = Counter()
            while await due_count(engine) and len(ticks) < 20:
                t = time.perf_counter()
                tally = await sweep(sessions, domain)
                ticks.append(time.perf_counter() - t)
                done.update(tally.done)
            left = await due_count(engine)
            await restore(engine, snap)
            if await due_count(engine):
                say("WARNING: cases still due after restoring")
            total = sum(ticks)
            per_item.append(total / k)
            kinds = ", ".join(f"{a} {n}" for a, n in sorted(done.items()))
            say(
                f"sweep, {k} due: {len(ticks)} tick(s), {total * 1000:.0f} ms, "
                f"{total / k * 1000:.2f} ms per item, first tick {ticks[0] * 1000:.0f} ms "
                f"({kinds}; left {left})"
            )
            due_rows.append(
                [
                    k,
                    len(ticks),
                    f"{ticks[0] * 1000:.0f}",
                    f"{total * 1000:.0f}",
                    f"{total / k * 1000:.2f}",
                    kinds or "-",
                ]
            )
        if per_item:
            spread = max(per_item) / min(per_item)
            results.append(
                (
                    f"sweep, k due (k = {', '.join(str(r[0]) for r in due_rows)}): ms per due item",
                    " / ".join(f"{v * 1000:.1f}" for v in per_item),
                    "≈ constant (cost ∝ due items)",
                    _mark(spread < 3),
                )
            )

        # (d) the prefecture's daily report. The first run of each is captured (statements
        # and their times) and capped at --report-limit seconds; repeats only when it is fast.
        breakdown: list[list[object]] = []
        async with sessions() as session:
            leader = await session.scalar(
                select(Person).where(
                    Person.role == "leader", Person.unit_code == f"U{PREFECTURE}-ZZ"
                )
            )
            assert leader is not None, "no prefecture leader"

            async def figures_only() -> Any:
                return await stats.report(session, PREFECTURE_PATH, ZONE, TODAY, "day")

            async def digest() -> Any:
                return await digests.digest_reply(domain.within(session), leader, TODAY, "day")

            captured: list[tuple[float, str, Any]] = []
            r_median = await _report_figure(
                "stats.report(/532800/, day)", figures_only, 5, report_limit, capture, captured
            )
            results.append(
                (
                    "stats.report, prefecture, day (figures, today + yesterday)",
                    _seconds(r_median),
                    f"< {REPORT_TARGET_S:.0f} s",
                    _mark(r_median is not None and r_median < REPORT_TARGET_S),
                )
            )
            d_median = None
            if r_median is not None:
                d_median = await _report_figure(
                    "digests.digest_reply(prefecture leader)",
                    digest,
                    3,
                    report_limit,
                    capture,
                    captured,
                )
            results.append(
                (
                    "digests.digest_reply, prefecture leader "
                    "(figures + 14-day series + open by type + chart)",
                    _seconds(d_median) if r_median is not None else "not run (report too slow)",
                    f"< {REPORT_TARGET_S:.0f} s",
                    _mark(d_median is not None and d_median < REPORT_TARGET_S),
                )
            )

            # Where the time goes: the public parts, median of 3 each (private helpers of
            # dispatch.stats change too often to be named here).
            if d_median is not None and d_median < FAST_ENOUGH_S:
                start, end = stats.period(TODAY, "day", ZONE)
                before = stats.period(stats.previous(TODAY, "day"), "day", ZONE)
                parts: list[tuple[str, Callable[[], Awaitable[Any]]]] = [
                    ("figures(today)", lambda: stats.figures(session, PREFECTURE_PATH, start, end)),
                    (
                        "figures(yesterday)",
                        lambda: stats.figures(session, PREFECTURE_PATH, *before),
                    ),
                    (
                        "  of which overdue_at(end of today)",
                        lambda: stats.overdue_at(session, PREFECTURE_PATH, end),
                    ),
                    (
                        "daily_series (14 days, for the chart)",
                        lambda: stats.daily_series(session, PREFECTURE_PATH, ZONE, TODAY, 14),
                    ),
                    (
                        "open_by_category(end of today, for the chart)",
                        lambda: stats.open_by_category(session, PREFECTURE_PATH, end),
                    ),
                ]
                spent = 0.0
                for name, call in parts:
                    values, _ = await timed(call, 3)
                    breakdown.append([name, f"{statistics.median(values) * 1000:.0f}"])
                    if not name.startswith(" "):
                        spent += statistics.median(values)
                breakdown.append(
                    [
                        "rest of digest_reply (chart render, names, formatting)",
                        f"{max(0.0, d_median - spent) * 1000:.0f}",
                    ]
                )
            slow = sorted(captured, key=lambda s: -s[0])

        if breakdown:
            say("\n### Where the report's time goes (median of 3, ms)\n")
            say(markdown_table(["part", "ms"], breakdown))

        say("\n### The sweep's due queries\n")
        for statement, params in due_plans:
            say("```sql\n" + statement.strip() + "\n```")
            say("```\n" + await explain(engine, statement, params) + "\n```")

        say(
            f"\n### Slowest statements of the first stats.report + digest_reply ({len(slow)} "
            f"statements, {sum(s[0] for s in slow) * 1000:.0f} ms in the database)\n"
        )
        seen: set[str] = set()
        shown = 0
        for seconds, statement, params in slow:
            if statement in seen or shown >= 6:
                continue
            seen.add(statement)
            shown += 1
            say(f"**{seconds * 1000:.0f} ms**")
            say("```sql\n" + " ".join(statement.split()) + "\n```")
            say("```\n" + await explain(engine, statement, params) + "\n```")

        say(
            f"\n### Results ({engine.dialect.name}, {cases:,} cases, {opened:,} open, "
            f"{events:,} events)\n"
        )
        say(markdown_table(["measure", "figure", "target", ""], results))
        say("\n### Sweep with k due\n")
        say(
            markdown_table(
                ["k due", "ticks", "first tick ms", "total ms", "ms per item", "steps taken"],
                due_rows,
            )
        )
        say("\n### Seeding and size\n")
        rows = [[f"seeding: {k}", f"{v:.1f} s"] for k, v in seeding.items()]
        rows += [[name, size] for name, size in await database_size(engine, url)]
        say(markdown_table(["", ""], rows))
        return 0
    finally:
        await engine.dispose()


async def analyze(url: str) -> float:
    """ANALYZE (SQLite: sqlite_stat1; it stays in a --keep file). Returns the seconds."""
    engine = create_engine(url)
    began = time.monotonic()
    try:
        async with engine.connect() as conn:
            if engine.dialect.name == "sqlite":
                driver: Any = (await conn.get_raw_connection()).driver_connection
                await driver.execute("ANALYZE")
            else:
                await conn.execution_options(isolation_level="AUTOCOMMIT")
                await conn.exec_driver_sql("ANALYZE")
    finally:
        await engine.dispose()
    return time.monotonic() - began


async def planner_statistics(engine: AsyncEngine) -> str:
    async with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            found = (
                await conn.exec_driver_sql(
                    "SELECT count(*) FROM sqlite_master WHERE name = 'sqlite_stat1'"
                )
            ).scalar_one()
            return (
                "sqlite_stat1 present (ANALYZEd)" if found else "no sqlite_stat1 (never ANALYZEd)"
            )
        analysed = (
            await conn.exec_driver_sql(
                "SELECT max(greatest(last_analyze, last_autoanalyze)) FROM pg_stat_user_tables "
                "WHERE relname IN ('cases', 'case_events')"
            )
        ).scalar_one()
        return f"last (auto)analyze of cases / case_events: {analysed}"


async def sweep_on_empty(url: str) -> list[float]:
    """Nothing-due ticks on the migrated database before any case is written."""
    engine = create_engine(url)
    try:
        sessions = session_factory(engine)
        domain = build_domain(FrozenClock(NOW), ZONE, policy=Policy.load())
        await sweep(sessions, domain)
        values, _ = await timed(lambda: sweep(sessions, domain), 50)
        return values
    finally:
        await engine.dispose()


async def run(args: argparse.Namespace) -> int:
    if args.open > args.cases:
        raise SystemExit("--open cannot exceed --cases")
    keep_dir = Path(tempfile.gettempdir()) / "pingan-bench-sweep"
    with tempfile.TemporaryDirectory(prefix="pingan-bench-sweep-") as tmp:
        if args.database:
            url = args.database
        else:
            folder = keep_dir if args.keep else Path(tmp)
            folder.mkdir(parents=True, exist_ok=True)
            url = f"sqlite+aiosqlite:///{folder / f'sweep-{args.cases}-{args.open}.db'}"
        seeding: dict[str, float] = {}
        empty: list[float] = []
        if args.keep and await reusable(url, args.cases, args.open):
            say(f"reusing the seeded database at {url} (--keep)")
            seeding["skipped (reused)"] = 0.0
        else:
            say(f"seeding {url} with {args.cases:,} cases ({args.open:,} open)...")
            t = time.monotonic()
            await fresh_schema(url)
            empty = await sweep_on_empty(url)
            seeding["migrate + organisation"] = time.monotonic() - t
            seeding.update(await seed(url, args.cases, args.open, args.seed))
        if args.analyze:
            seeding["ANALYZE (--analyze)"] = await analyze(url)
        code = await measure(url, empty, seeding, args.report_limit)
        if args.database and not args.keep:
            engine = create_engine(url)
            try:
                await empty_public_schema(engine)
            finally:
                await engine.dispose()
        return code


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database", default=None, help="a database URL (PostgreSQL: throwaway!)")
    parser.add_argument("--cases", type=int, default=1_000_000, help="cases in all")
    parser.add_argument("--open", type=int, default=100_000, help="of which open")
    parser.add_argument("--keep", action="store_true", help="keep the seeded data and reuse it")
    parser.add_argument(
        "--analyze", action="store_true", help="ANALYZE SQLite before measuring (stays with --keep)"
    )
    parser.add_argument("--seed", type=int, default=7, help="random seed")
    parser.add_argument(
        "--report-limit", type=float, default=300.0, help="give up on a report after N seconds"
    )
    args = parser.parse_args(argv)
    return asyncio.run(run(args))


if __name__ == "__main__":
    sys.exit(main())
