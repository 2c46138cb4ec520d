"""The runner's state as the API last saw it, refreshed by a background task.

One short status call (at most `timeout_s`) every `interval_s`; callers read the latest view and
never wait on the runner. The service is ready once the runner has settled: its model loaded,
or its load failed and the fallback serves (it stays ready while a runner restarts: forecasts
are then labelled fallbacks and `/health` says why).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Literal

from forecast_api.ops.runner_client import RunnerClient
from kronos_runner.wire import ChallengerState, RunnerStatus

logger = logging.getLogger(__name__)

RunnerState = Literal["unknown", "unreachable", "loading", "loaded", "failed"]


def utc_now() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(timezone.utc)


@dataclass(frozen=True)
class RunnerView:
    """One observation of the runner: its status, or why it did not answer, and when."""

    status: RunnerStatus | None = None
    error: str | None = None
    checked_at: datetime | None = None
    clock: Callable[[], datetime] = utc_now

    @property
    def state(self) -> RunnerState:
        """What the runner was doing when last checked."""
        if self.checked_at is None:
            return "unknown"
        if self.status is None:
            return "unreachable"
        if self.status.loaded:
            return "loaded"
        return "loading" if self.status.loading else "failed"

    def age_s(self) -> float | None:
        """Seconds since the check, or None before the first."""
        if self.checked_at is None:
            return None
        return round((self.clock() - self.checked_at).total_seconds(), 3)


class RunnerMonitor:
    """Polls the runner's status in the background; `view()` answers at once."""

    def __init__(
        self,
        runner: RunnerClient,
        *,
        interval_s: float = 1.0,
        timeout_s: float = 1.0,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._runner = runner
        self._interval_s, self._timeout_s = interval_s, timeout_s
        self._clock = clock
        self._view = RunnerView(clock=clock)
        self._settled = False
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def ready(self) -> bool:
        """Whether the runner has settled (loaded, or the fallback was decided) at least once."""
        return self._settled

    def checkpoint_digest(self) -> str | None:
        """The digest of the weights the runner last said it has loaded (None: not known)."""
        status = self._view.status
        return None if status is None or not status.loaded else status.checkpointDigest

    def loaded_challengers(self) -> list[ChallengerState]:
        """The challengers the runner last said it has loaded (none: not known)."""
        status = self._view.status
        return [] if status is None else [c for c in status.challengers if c.loaded]

    async def check(self) -> RunnerView:
        """Ask the runner once (bounded by `timeout_s`) and record what it said."""
        try:
            raw = await asyncio.wait_for(self._runner.status(), timeout=self._timeout_s)
            status = raw if isinstance(raw, RunnerStatus) else RunnerStatus.model_validate(raw)
            view = RunnerView(status=status, checked_at=self._clock(), clock=self._clock)
        except Exception as exc:  # unreachable, restarting, hung: report it, keep answering
            error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            view = RunnerView(error=error, checked_at=self._clock(), clock=self._clock)
        self._settled = self._settled or view.state in ("loaded", "failed")
        self._view = view
        return view

    def start(self) -> None:
        """Start the background refresh on the running loop (again if that loop changed)."""
        loop = asyncio.get_running_loop()
        if self._task is not None and self._loop is loop and not self._task.done():
            return
        self._loop, self._stopping = loop, False
        self._task = loop.create_task(self._run(), name="runner-monitor")

    async def stop(self) -> None:
        """Stop the background refresh (the flag ends it even where `wait_for` swallowed the
        cancellation, a race of Python < 3.12)."""
        self._stopping = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, RuntimeError):
                await self._task
            self._task = None

    async def view(self) -> RunnerView:
        """The latest view; before the first check completes, one check now."""
        self.start()
        if self._view.checked_at is None:
            return await self.check()
        return self._view

    async def _run(self) -> None:
        while not self._stopping:
            await self.check()
            await asyncio.sleep(self._interval_s)
