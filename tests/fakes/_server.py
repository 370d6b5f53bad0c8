"""What the fake platform servers share: an aiohttp app served on a free port of 127.0.0.1
for the length of an ``async with`` block."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Generic, Protocol, Self, TypeVar

from aiohttp import web

_Call = TypeVar("_Call")


class _FailRule(Protocol):
    skip: int
    remaining: int


_Rule = TypeVar("_Rule", bound=_FailRule)


def due_failure(rules: list[_Rule] | None, applies: Callable[[_Rule], bool]) -> _Rule | None:
    """The injected failure a call meets now, if any: the first rule that ``applies`` lets its
    ``skip`` calls through, then fails ``remaining`` calls and is dropped."""
    if not rules:
        return None
    for rule in rules:
        if applies(rule):
            if rule.skip > 0:
                rule.skip -= 1
                return None
            rule.remaining -= 1
            if rule.remaining <= 0:
                rules.remove(rule)
            return rule
    return None


@dataclass(slots=True)
class Waiter(Generic[_Call]):
    """A test awaiting the first recorded call that ``predicate`` accepts."""

    predicate: Callable[[_Call], bool]
    future: asyncio.Future[_Call]


def notify_waiters(bucket: list[Waiter[_Call]], call: _Call) -> None:
    """Resolve every waiter in ``bucket`` that ``call`` matches and drop the resolved ones."""
    fired = False
    for waiter in bucket:
        if waiter.future.done():
            fired = True
            continue
        try:
            matched = waiter.predicate(call)
        except Exception as exc:  # surface predicate bugs in the waiting test
            waiter.future.set_exception(exc)
            fired = True
            continue
        if matched:
            waiter.future.set_result(call)
            fired = True
    if fired:
        bucket[:] = [w for w in bucket if not w.future.done()]


async def wait_in(
    bucket: list[Waiter[_Call]],
    predicate: Callable[[_Call], bool],
    timeout: float,  # noqa: ASYNC109 -- the fakes' wait_for passes its documented timeout on
    timeout_message: Callable[[], str],
) -> _Call:
    """Wait for the next call in ``bucket`` matching ``predicate``; the waiter is registered
    before the first suspension, so a call made right after this is awaited is not missed.
    Raises ``TimeoutError(timeout_message())``."""
    future: asyncio.Future[_Call] = asyncio.get_running_loop().create_future()
    waiter = Waiter(predicate, future)
    bucket.append(waiter)
    try:
        async with asyncio.timeout(timeout):
            return await future
    except TimeoutError:
        raise TimeoutError(timeout_message()) from None
    finally:
        if waiter in bucket:
            bucket.remove(waiter)


class LocalServer:
    """Serves the app of ``start`` at ``base_url``; a subclass builds the app and adds its own
    clean-up (waiters to release) to ``stop``."""

    base_url: str = ""
    _runner: web.AppRunner | None = None

    async def start(self) -> None:
        raise NotImplementedError

    async def stop(self) -> None:
        await self._close()

    async def _serve(self, app: web.Application) -> None:
        # handler_cancellation: a client that gives up (a timed-out long poll) ends its handler.
        self._runner = web.AppRunner(
            app,
            handle_signals=False,
            access_log=None,
            handler_cancellation=True,
            shutdown_timeout=2.0,
        )
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        port = self._runner.addresses[0][1]
        self.base_url = f"http://127.0.0.1:{port}"

    async def _close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()
