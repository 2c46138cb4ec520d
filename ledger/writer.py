"""Ledger writes off the response path: a bounded buffer flushed by a background task.

`submit` is O(1), never blocks and never raises: a forecast is never failed or slowed by the
ledger. A background task writes the buffer in batches (in a worker thread, so the event loop
never waits on the database). While the database is unreachable the records stay buffered and the
flush retries with exponential backoff; when the buffer is full the oldest record is dropped and
counted. Writes are insert-if-absent by record uid, so a flush retried after an ambiguous failure
never records a forecast twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from ledger.records import ForecastRecord
from ledger.store import Ledger

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WriterSettings:
    """Buffer size, batch size and retry timing of the ledger writer."""

    capacity: int = 10_000
    batch: int = 200
    flush_interval: float = 0.5
    retry_initial: float = 0.5
    retry_max: float = 30.0
    down_after: int = 3  # consecutive failed flushes before the state is "down"


class LedgerWriter:
    """Buffered, asynchronous ledger writer with health state."""

    def __init__(
        self,
        connect: Callable[[], Ledger],
        settings: WriterSettings = WriterSettings(),
        observe: Callable[[dict[str, float]], None] = lambda _: None,
    ):
        self._connect = connect
        self._observe = observe  # told `metrics()` whenever they change (Prometheus gauges)
        self._ledger: Ledger | None = None
        self.settings = settings
        self._buffer: deque[ForecastRecord] = deque()
        self._lock = threading.Lock()
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None
        self.written = self.dropped = self.failures = self.consecutive_failures = 0
        self.last_error: str | None = None
        self.last_flush_at: float | None = None

    def submit(self, record: ForecastRecord) -> None:
        """Queue a record; drops (and counts) the oldest one when the buffer is full."""
        with self._lock:
            if len(self._buffer) >= self.settings.capacity:
                self._buffer.popleft()
                self.dropped += 1
            self._buffer.append(record)
        self._observe(self.metrics())
        if len(self._buffer) >= self.settings.batch:
            with contextlib.suppress(RuntimeError):  # no loop in this thread: the timer flushes
                asyncio.get_running_loop().call_soon(self._wake.set)

    @property
    def buffered(self) -> int:
        """Records waiting to be written."""
        return len(self._buffer)

    def _write(self, batch: list[ForecastRecord]) -> int:
        """Write one batch (worker thread); connects and migrates first if not yet done."""
        if self._ledger is None:
            self._ledger = self._connect()
        return self._ledger.insert(batch)

    def _forget(self, batch: list[ForecastRecord]) -> None:
        """Remove a written batch from the buffer's front (minus any dropped meanwhile)."""
        ids = {id(r) for r in batch}
        with self._lock:
            while self._buffer and id(self._buffer[0]) in ids:
                self._buffer.popleft()

    async def flush_once(self) -> bool:
        """Write one batch from the buffer's front; False (records kept) on a database error."""
        with self._lock:
            batch = [self._buffer[i] for i in range(min(self.settings.batch, len(self._buffer)))]
        if not batch:
            return True
        try:
            await asyncio.to_thread(self._write, batch)
        except Exception as exc:  # any database or driver error: keep the records, retry later
            self.failures += 1
            self.consecutive_failures += 1
            self.last_error = f"{type(exc).__name__}: {str(exc).splitlines()[0][:300]}"
            log.warning("ledger write failed (%d buffered): %s", self.buffered, self.last_error)
            self._observe(self.metrics())
            return False
        self._forget(batch)
        self.written += len(batch)
        self.consecutive_failures = 0
        self.last_flush_at = time.time()
        self._observe(self.metrics())
        return True

    async def flush(self) -> bool:
        """Write everything buffered now; False if the database failed."""
        while self.buffered:
            if not await self.flush_once():
                return False
        return True

    async def _run(self) -> None:
        """The background loop: flush on a timer or when a batch is full; back off on errors."""
        delay = self.settings.flush_interval
        while True:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=delay)
            self._wake.clear()
            ok = await self.flush()
            if ok:
                delay = self.settings.flush_interval
            else:
                delay = min(self.settings.retry_max, max(self.settings.retry_initial, delay * 2))

    def start(self) -> None:
        """Start the background flush task on the running loop."""
        if self._task is None:
            self._wake = asyncio.Event()
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self, timeout: float = 5.0) -> None:
        """Stop the task and try one last flush within `timeout` seconds."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self.flush(), timeout=timeout)

    @property
    def status(self) -> str:
        """ok; degraded (a flush failed, records kept); down (`down_after` failures in a row)."""
        if self.consecutive_failures == 0:
            return "ok"
        return "down" if self.consecutive_failures >= self.settings.down_after else "degraded"

    def state(self) -> dict:
        """The ledger's part of /health."""
        return {
            "status": self.status,
            "buffered": self.buffered,
            "capacity": self.settings.capacity,
            "written": self.written,
            "dropped": self.dropped,
            "failures": self.failures,
            "lastError": self.last_error,
            "lastFlushAt": self.last_flush_at,
        }

    def metrics(self) -> dict[str, float]:
        """Numbers for Prometheus (gauges and counters, by name)."""
        return {
            "ledger_up": 1.0 if self.status == "ok" else 0.0,
            "ledger_buffered": float(self.buffered),
            "ledger_written_total": float(self.written),
            "ledger_dropped_total": float(self.dropped),
            "ledger_write_failures_total": float(self.failures),
        }
