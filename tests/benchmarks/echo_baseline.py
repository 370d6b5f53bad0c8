"""Baseline throughput of a bare aiogram echo bot against the stand-in Bot API.

The real bot's throughput is compared against this figure.  Run directly::

    /work/venv/bin/python -m tests.benchmarks.echo_baseline --users 50 --messages 20
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from typing import Any

from aiogram import Bot, Dispatcher, F, Router
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.types import Message

from tests.fakes.telegram_api import ApiCall, FakeTelegramAPI

FIRST_USER_ID = 700_000_000


def _percentile(sorted_values: list[float], fraction: float) -> float:
    """Nearest-rank percentile of an already sorted, non-empty list."""
    index = max(0, min(len(sorted_values) - 1, round(fraction * len(sorted_values)) - 1))
    return sorted_values[index]


def _echo_dispatcher() -> Dispatcher:
    router = Router(name="echo")

    @router.message(F.text)
    async def echo(message: Message) -> None:
        await message.answer(message.text or "")

    dispatcher = Dispatcher()
    dispatcher.include_router(router)
    return dispatcher


async def _round_trip(fake: FakeTelegramAPI, user_id: int, text: str) -> float:
    """Push one text update and wait for its echo; return latency in seconds."""

    def is_echo(call: ApiCall) -> bool:
        return call.method == "sendMessage" and call.params.get("text") == text

    pushed_at = time.monotonic()
    fake.push_update(fake.text_update(user_id, text))
    # wait_for registers before yielding, so the echo cannot slip past it.
    echo = await fake.wait_for(is_echo, timeout=30.0, chat_id=user_id)
    if echo.failed:
        msg = f"echo to {user_id} failed: {echo.description}"
        raise RuntimeError(msg)
    return echo.at - pushed_at


async def measure_echo_baseline(
    fake: FakeTelegramAPI, users: int, messages_per_user: int
) -> dict[str, Any]:
    """Run a bare aiogram echo bot (long polling) against ``fake`` and measure it.

    One coroutine per user sends ``messages_per_user`` texts, each only after the echo
    of the previous one arrived.  Latency is push → echo ``sendMessage`` received by the
    fake.  ``fake`` must be started; its recorded calls are cleared before and after.
    """
    session = AiohttpSession(api=TelegramAPIServer.from_base(fake.base_url))
    bot = Bot(token=fake.token, session=session)
    dispatcher = _echo_dispatcher()
    started = asyncio.Event()
    dispatcher.startup.register(started.set)
    latencies: list[float] = []

    async def user(user_id: int) -> None:
        for index in range(messages_per_user):
            latencies.append(await _round_trip(fake, user_id, f"u{user_id} #{index}"))

    elapsed = 0.0
    try:
        async with asyncio.TaskGroup() as tg:
            tg.create_task(
                dispatcher.start_polling(
                    bot, handle_signals=False, polling_timeout=1, close_bot_session=False
                )
            )
            await asyncio.wait_for(started.wait(), 10)
            try:
                await _round_trip(fake, FIRST_USER_ID - 1, "warm-up")  # connections, getMe
                fake.clear()
                began = time.monotonic()
                async with asyncio.TaskGroup() as users_tg:
                    for offset in range(users):
                        users_tg.create_task(user(FIRST_USER_ID + offset))
                elapsed = time.monotonic() - began
            finally:
                await dispatcher.stop_polling()
    finally:
        await bot.session.close()
        fake.clear()

    handled = len(latencies)
    ordered = sorted(latencies)
    return {
        "users": users,
        "messages_per_user": messages_per_user,
        "handled": handled,
        "seconds": round(elapsed, 3),
        "messages_per_second": round(handled / elapsed, 1) if elapsed else 0.0,
        "p50_ms": round(_percentile(ordered, 0.50) * 1000, 2) if ordered else 0.0,
        "p99_ms": round(_percentile(ordered, 0.99) * 1000, 2) if ordered else 0.0,
        "max_ms": round(ordered[-1] * 1000, 2) if ordered else 0.0,
        "mean_ms": round(statistics.fmean(ordered) * 1000, 2) if ordered else 0.0,
    }


async def _main(users: int, messages: int) -> dict[str, Any]:
    async with FakeTelegramAPI() as fake:
        return await measure_echo_baseline(fake, users, messages)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--messages", type=int, default=20)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(_main(args.users, args.messages)), indent=2))
