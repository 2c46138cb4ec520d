"""Shared state behind one small interface: `SharedState`, with the in-process default here and
the Redis implementation in `forecast_api.shared.redis_state`.

The prediction cache (`forecast_api.forecasts.prediction_cache`) keeps every worker's own cache
and single-flight; a `SharedState` adds what other workers and replicas computed (`fetch`), who
computes a key (`claim`, a lock that expires when its owner dies), the published results
(`publish`, `release`, `wait`), and fixed-window usage counters (`count`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import Any, Protocol

from forecast_api.http.health_schemas import SharedStateHealth


class SharedState(Protocol):
    """What the API workers share; every call answers within a short bound, never raises for an
    unreachable backend (it degrades to this worker alone)."""

    async def fetch(self, keys: Sequence[Hashable]) -> dict[Hashable, tuple[Any, float]]:
        """(value, seconds left to live) of the keys another worker published."""

    async def claim(self, keys: Sequence[Hashable], lease_s: float) -> list[Hashable]:
        """The keys this caller now computes (nobody else holds their lock)."""

    async def publish(self, values: Mapping[Hashable, tuple[Any, float]]) -> None:
        """Share computed values for their time to live (seconds)."""

    async def release(self, keys: Sequence[Hashable]) -> None:
        """Give up the locks `claim` took."""

    async def wait(
        self, keys: Sequence[Hashable], timeout_s: float
    ) -> dict[Hashable, tuple[Any, float]]:
        """Wait (at most `timeout_s`) until each key is published or its lock is gone; the
        published values."""

    async def count(self, bucket: str, amount: int, window_s: int) -> tuple[int, float]:
        """Add `amount` to `bucket`'s counter of the current `window_s` window: (total, seconds
        until the window ends)."""

    async def health(self) -> SharedStateHealth:
        """The backend's state for `/health` (may retry an unreachable backend, briefly)."""

    async def aclose(self) -> None:
        """Release connections."""


class WindowCounters:
    """Fixed-window counters in this process (old windows are dropped as time moves on)."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._counts: dict[tuple[str, int, int], int] = {}  # (bucket, window_s, window)

    def add(self, bucket: str, amount: int, window_s: int) -> tuple[int, float]:
        """Add `amount` to `bucket` in the window now: (total, seconds until it ends)."""
        now = self._clock()
        window = int(now // window_s)
        for old in [k for k in self._counts if k[1] == window_s and k[2] < window]:
            del self._counts[old]
        total = self._counts.get((bucket, window_s, window), 0) + amount
        self._counts[(bucket, window_s, window)] = total
        return total, (window + 1) * window_s - now


class InProcessState:
    """`SharedState` for one worker alone (no REDIS_URL): nothing to fetch or wait for, every key
    is this caller's to compute, counters in this process."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.counters = WindowCounters(clock)

    async def fetch(self, keys: Sequence[Hashable]) -> dict[Hashable, tuple[Any, float]]:
        """Nothing is shared."""
        return {}

    async def claim(self, keys: Sequence[Hashable], lease_s: float) -> list[Hashable]:
        """Every key (single-flight inside the worker is the cache's own)."""
        return list(keys)

    async def publish(self, values: Mapping[Hashable, tuple[Any, float]]) -> None:
        """Nobody to share with."""

    async def release(self, keys: Sequence[Hashable]) -> None:
        """No locks taken."""

    async def wait(
        self, keys: Sequence[Hashable], timeout_s: float
    ) -> dict[Hashable, tuple[Any, float]]:
        """Nothing to wait for."""
        await asyncio.sleep(0)
        return {}

    async def count(self, bucket: str, amount: int, window_s: int) -> tuple[int, float]:
        """This process's counter."""
        return self.counters.add(bucket, amount, window_s)

    async def health(self) -> SharedStateHealth:
        """In-process: nothing shared, nothing to fail."""
        return SharedStateHealth(backend="in-process", state="local")

    async def aclose(self) -> None:
        """Nothing to release."""
