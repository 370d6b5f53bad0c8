"""What the fake platform servers share: an aiohttp app served on a free port of 127.0.0.1
for the length of an ``async with`` block."""

from __future__ import annotations

from types import TracebackType
from typing import Self

from aiohttp import web


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
