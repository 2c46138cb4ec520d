"""Prediction cache with single-flight.

Keys name the symbol, the last closed candle, the model and every request parameter, so a new
candle closing makes a new key: an entry is valid until the next candle closes (its time-to-live
is one candle interval, which also bounds memory). Concurrent requests for a key that is being
computed wait for that one computation ("a thousand clients asking for BTC cost one model run").
The latest value per series (key without the candle) is also kept, to answer with a stale,
labelled forecast when market data is unavailable.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Generic, TypeVar

from cachetools import LRUCache, TLRUCache

V = TypeVar("V")


@dataclass(frozen=True)
class PredictionKey:
    """What a forecast depends on; `seed=None` keys share one sampled answer per candle."""

    symbol: str
    last_candle_ms: int
    model_id: str
    horizon: int
    samples: int
    seed: int | None
    sampling: Hashable = ()
    interval: str = "1h"
    blend: bool = True  # served blended (False: the model alone, `blend=off`)

    def series(self) -> PredictionKey:
        """The key without the candle: identifies 'the latest forecast' for stale answers."""
        return replace(self, last_candle_ms=0)


@dataclass(frozen=True)
class _Entry(Generic[V]):
    value: V
    ttl: float
    stored_at: float


Compute = Callable[[list[PredictionKey]], Awaitable[Sequence[tuple[V, float]]]]


class PredictionCache(Generic[V]):
    """TTL + LRU cache of forecasts with single-flight computation of missing keys."""

    def __init__(self, maxsize: int = 1024, timer: Callable[[], float] = time.monotonic) -> None:
        self._timer = timer
        self._store: TLRUCache[PredictionKey, _Entry[V]] = TLRUCache(
            maxsize, ttu=lambda _key, entry, now: now + entry.ttl, timer=timer
        )
        self._latest: LRUCache[PredictionKey, _Entry[V]] = LRUCache(maxsize)
        self._inflight: dict[PredictionKey, asyncio.Task[dict[PredictionKey, V]]] = {}

    def get(self, key: PredictionKey) -> V | None:
        """The cached value, or None when absent or expired."""
        entry = self._store.get(key)
        return None if entry is None else entry.value

    def put(self, key: PredictionKey, value: V, ttl: float) -> None:
        """Store a value for `ttl` seconds (0: only remember it as the series' latest)."""
        entry = _Entry(value, ttl, self._timer())
        if ttl > 0:
            self._store[key] = entry
        self._latest[key.series()] = entry

    def latest(self, key: PredictionKey, max_age: float) -> tuple[V, float] | None:
        """The newest value for the key's series (any candle) and its age, if within `max_age`."""
        entry = self._latest.get(key.series())
        if entry is None:
            return None
        age = self._timer() - entry.stored_at
        return (entry.value, age) if age <= max_age else None

    async def get_or_compute_many(
        self, keys: Sequence[PredictionKey], compute: Compute[V]
    ) -> list[tuple[V, bool]]:
        """(value, cached) per key, computing all missing keys in one `compute` call.

        `compute(missing)` returns one (value, ttl) per missing key. Keys already being computed
        by another caller are awaited, not recomputed; `cached` is True for hits and for values
        computed by another caller. A failing `compute` raises in every caller waiting for it;
        a value that is an exception (one key's own error) is returned, never cached.
        """
        hits: dict[PredictionKey, V] = {}
        missing: list[PredictionKey] = []
        for key in dict.fromkeys(keys):
            value = self.get(key)
            if value is not None:
                hits[key] = value
            elif key not in self._inflight:
                missing.append(key)
        own: asyncio.Task[dict[PredictionKey, V]] | None = None
        if missing:
            own = asyncio.create_task(self._fill(missing, compute))
            for key in missing:
                self._inflight[key] = own
        waiting = {key: self._inflight[key] for key in dict.fromkeys(keys) if key not in hits}
        results: list[tuple[V, bool]] = []
        for key in keys:
            if key in hits:
                results.append((hits[key], True))
                continue
            task = waiting[key]
            values = await asyncio.shield(task)
            results.append((values[key], task is not own))
        return results

    async def _fill(
        self, keys: list[PredictionKey], compute: Compute[V]
    ) -> dict[PredictionKey, Any]:
        try:
            pairs = await compute(keys)
            if len(pairs) != len(keys):
                raise RuntimeError("compute returned a wrong number of values")
            for key, (value, ttl) in zip(keys, pairs, strict=True):
                if not isinstance(value, Exception):  # a per-key error goes to its callers only
                    self.put(key, value, ttl)
            return {key: value for key, (value, _) in zip(keys, pairs, strict=True)}
        finally:
            for key in keys:
                if self._inflight.get(key) is asyncio.current_task():
                    del self._inflight[key]
