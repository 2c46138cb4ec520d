"""Draining on SIGTERM: answer what the worker has, refuse the rest cleanly, exit in time.

`Drain.install()` (called once the worker's event loop runs) puts a SIGTERM/SIGINT handler in
front of uvicorn's. On the first signal the worker starts draining: `/readyz` turns 503, new
requests get 503 with `Retry-After` and `Connection: close`, in-flight requests run on (runner
calls stop retrying, so a lost runner turns into labelled fallbacks at once). When nothing is in
flight, or `deadline_s` has passed, uvicorn's own handler stops the server; a watchdog ends the
process shortly after the deadline if anything still holds it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

logger = logging.getLogger(__name__)

SIGNALS = (signal.SIGTERM, signal.SIGINT)
PROBES = ("/livez", "/readyz", "/healthz", "/metrics")  # answered as usual while draining
HARD_STOP_GRACE_S = 2.0


class Drain:
    """In-flight bookkeeping and the draining state of one worker."""

    def __init__(self, deadline_s: float, retry_after_s: int = 5) -> None:
        self.deadline_s = deadline_s
        self.retry_after_s = retry_after_s
        self.in_flight = 0
        self.draining = False
        self._previous: dict[int, Any] = {}
        self._loop: asyncio.AbstractEventLoop | None = None

    def install(self) -> None:
        """Handle SIGTERM/SIGINT ahead of uvicorn (call from the worker's running loop)."""
        self._loop = asyncio.get_running_loop()
        for sig in SIGNALS:
            self._previous[sig] = signal.signal(sig, self._on_signal)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        if self.draining or self._loop is None:
            return
        self.draining = True
        logger.info("draining: %d in flight, deadline %.0f s", self.in_flight, self.deadline_s)
        watchdog = threading.Timer(self.deadline_s + HARD_STOP_GRACE_S, os._exit, args=(0,))
        watchdog.daemon = True
        watchdog.start()
        self._loop.call_soon_threadsafe(
            lambda: self._loop.create_task(self._stop_when_drained(signum, frame))
        )

    async def _stop_when_drained(self, signum: int, frame: FrameType | None) -> None:
        """Wait for in-flight requests (up to the deadline), then let uvicorn stop."""
        end = time.monotonic() + self.deadline_s
        while self.in_flight and time.monotonic() < end:
            await asyncio.sleep(0.05)
        logger.info("drained (%d still in flight); stopping", self.in_flight)
        previous = self._previous.get(signum)
        if callable(previous):
            previous(signum, frame)
        else:  # no handler before ours: exit the way the default action would
            os._exit(0)


class DrainGuard:
    """ASGI middleware: counts requests in flight; 503 + Retry-After once draining."""

    def __init__(self, app: ASGIApp, drain: Drain) -> None:
        self.app = app
        self.drain = drain

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on, or refuse it while draining."""
        if scope["type"] != "http" or scope["path"] in PROBES:
            await self.app(scope, receive, send)
            return
        if self.drain.draining:
            await refuse(send, self.drain.retry_after_s)
            return
        self.drain.in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.drain.in_flight -= 1


async def refuse(send: Send, retry_after_s: int) -> None:
    """A JSON 503 that tells the client to retry elsewhere or later."""
    body = json.dumps({"error": "shutting_down", "message": "server is shutting down"}).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"retry-after", str(retry_after_s).encode()),
        (b"connection", b"close"),
    ]
    await send({"type": "http.response.start", "status": 503, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def stop_flag(drain: Drain) -> Callable[[], bool]:
    """A callable saying whether the worker is draining (for retry loops)."""
    return lambda: drain.draining
