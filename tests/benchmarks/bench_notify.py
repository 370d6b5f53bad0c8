"""How long a notice queued by a `web` process waits for the `worker` to send it.

```sh
python -m tests.benchmarks.bench_notify [--database URL] [--reports 10]
```

One `pingan run --role web` (webhook mode) and one `--role worker` against the stand-in Bot
API, on a fresh SQLite file or on `--database URL` (PostgreSQL: **the public schema is dropped
and recreated**, throwaway database only). Citizens file reports one after another through
the web process; the receipt (an answer that must arrive, so it goes through the outbox) is
sent by the worker. Measured: the submit's webhook POST answered (its unit of work committed)
→ the receipt reaching the stand-in. On PostgreSQL the web process's commit NOTIFYs the worker;
on SQLite the worker finds the notice at its next poll (every second).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

from storage.database import create_engine
from tests.benchmarks._driver import (
    EXPECT_RECEIPT,
    LABEL_SUBMIT,
    REPORTS,
    Conversation,
    free_port,
    percentile,
    report_up_to_summary,
)
from tests.fakes.telegram_api import FakeTelegramAPI
from tests.schema import empty_public_schema

TOKEN = "123456:TEST-TOKEN-benchnotifyxxxxxxxx"
SECRET = "bench-notify-secret"
ROOT = Path(__file__).resolve().parents[2]


def _env(database_url: str, port: int, api_base: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PINGAN_")}
    return env | {
        "PYTHONPATH": str(ROOT),
        "PINGAN_DATABASE_URL": database_url,
        "PINGAN_TELEGRAM_TOKEN": TOKEN,
        "PINGAN_TELEGRAM_API_BASE": api_base,
        "PINGAN_PUBLIC_URL": "https://pingan.example.org",
        "PINGAN_TELEGRAM_WEBHOOK_SECRET": SECRET,
        "PINGAN_HTTP_HOST": "127.0.0.1",
        "PINGAN_HTTP_PORT": str(port),
        "PINGAN_TIMEZONE": "UTC",
    }


async def _cli(env: dict[str, str], cwd: str, *args: str) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.cli", *args, env=env, cwd=cwd,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    if await proc.wait() != 0:
        raise SystemExit(f"pingan {' '.join(args)} failed")


async def _healthy(http: aiohttp.ClientSession, port: int, want: str) -> None:
    for _ in range(1200):
        with contextlib.suppress(aiohttp.ClientError, OSError):
            async with http.get(f"http://127.0.0.1:{port}/healthz") as resp:
                if resp.status == 200 and (await resp.json())["worker"] == want:
                    return
        await asyncio.sleep(0.05)
    raise SystemExit(f"the process on port {port} never said worker={want}")


async def run(database: str | None, reports: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="pingan-bench-notify-") as tmp:
        url = database or f"sqlite+aiosqlite:///{tmp}/pingan.db"
        if database:
            engine = create_engine(database)
            await empty_public_schema(engine)
            await engine.dispose()
        procs: list[asyncio.subprocess.Process] = []
        async with FakeTelegramAPI(token=TOKEN) as fake, aiohttp.ClientSession() as http:
            await _cli(_env(url, free_port(), fake.base_url), tmp, "init", "--demo")
            ports = {"web": free_port(), "worker": free_port()}
            try:
                for role, port in ports.items():
                    env = _env(url, port, fake.base_url)
                    procs.append(
                        await asyncio.create_subprocess_exec(
                            *(sys.executable, "-m", "bot.cli", "run", "--role", role),
                            env=env,
                            cwd=tmp,
                            stdout=asyncio.subprocess.DEVNULL,
                            stderr=asyncio.subprocess.DEVNULL,
                        )
                    )
                await _healthy(http, ports["web"], "off")
                await _healthy(http, ports["worker"], "active")
                update_ids = iter(range(1, 1_000_000))

                async def post(update: dict[str, Any]) -> None:
                    update["update_id"] = next(update_ids)
                    async with http.post(
                        f"http://127.0.0.1:{ports['web']}/telegram/webhook",
                        json=update,
                        headers={"X-Telegram-Bot-Api-Secret-Token": SECRET},
                    ) as resp:
                        assert resp.status == 200, resp.status

                waits: list[float] = []
                for index in range(reports):
                    talk = Conversation(fake, 920_000 + index, post=post)
                    summary = await report_up_to_summary(talk, REPORTS[index % len(REPORTS)])
                    await post(talk.button_update("submit", summary, LABEL_SUBMIT))
                    committed = time.monotonic()
                    receipt = await fake.wait_for_sent(
                        talk.user_id, text_contains=EXPECT_RECEIPT, timeout=30, since=0
                    )
                    waits.append(receipt.at - committed)
            finally:
                for proc in procs:
                    if proc.returncode is None:
                        proc.send_signal(signal.SIGTERM)
                for proc in procs:
                    await proc.wait()
    waits.sort()
    return {
        "database": "postgresql" if database else "sqlite",
        "reports": reports,
        "p50_ms": round(percentile(waits, 0.5) * 1000, 1),
        "max_ms": round(waits[-1] * 1000, 1),
        "mean_ms": round(sum(waits) / len(waits) * 1000, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--database", default=None)
    parser.add_argument("--reports", type=int, default=10)
    args = parser.parse_args(argv)
    result = asyncio.run(run(args.database, args.reports))
    print(
        f"notice queued by web → sent by worker ({result['database']}, {result['reports']}"
        f" receipts): p50 {result['p50_ms']} ms, mean {result['mean_ms']} ms,"
        f" max {result['max_ms']} ms"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
