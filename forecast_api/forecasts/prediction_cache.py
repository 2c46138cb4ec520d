"""Prediction cache with single-flight.

Keys name the symbol, the last closed candle, the model and every request parameter, so a new
candle closing makes a new key: an entry is valid until the next candle closes (its time-to-live
is one candle interval, which also bounds memory). Concurrent requests for a key that is being
computed wait for that one computation ("a thousand clients asking for BTC cost one model run").
The latest value per series (key without the candle) is also kept, to answer with a stale,
labelled forecast when market data is unavailable.

Across workers and replicas a `SharedState` (`forecast_api.shared`) extends both: a key missing
here is taken from the shared cache, or computed by whichever worker claims it first while the
others wait for its result. Each value says where it came from (`Origin`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Generic, Literal, TypeVar

from cachetools import LRUCache, TLRUCache

from forecast_api.shared.state import InProcessState, SharedState

V = TypeVar("V")
Origin = Literal["miss", "hit", "shared"]  # computed here, this worker's cache, elsewhere


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
Admit = Callable[[list[PredictionKey]], Awaitable[None]]


class PredictionCache(Generic[V]):
    """TTL + LRU cache of forecasts with single-flight computation of missing keys, in this
    worker and, through `shared`, across workers and replicas."""

    def __init__(
        self,
        maxsize: int = 1024,
        timer: Callable[[], float] = time.monotonic,
        *,
        shared: SharedState | None = None,
        lease_s: float = 150.0,
    ) -> None:
        self._timer = timer
        self._store: TLRUCache[PredictionKey, _Entry[V]] = TLRUCache(
            maxsize, ttu=lambda _key, entry, now: now + entry.ttl, timer=timer
        )
        self._latest: LRUCache[PredictionKey, _Entry[V]] = LRUCache(maxsize)
        self._inflight: dict[PredictionKey, asyncio.Task[dict[PredictionKey, Any]]] = {}
        self.shared: SharedState = shared or InProcessState()
        self.lease_s = lease_s  # a computation's lock lives this long (its owner may die)

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

    def _unknown(self, keys: Sequence[PredictionKey]) -> list[PredictionKey]:
        """The keys neither cached nor being computed in this worker."""
        return [k for k in keys if k not in self._inflight and self.get(k) is None]

    async def get_or_compute_many(
        self, keys: Sequence[PredictionKey], compute: Compute[V], admit: Admit | None = None
    ) -> list[tuple[V, Origin]]:
        """(value, origin) per key, computing all missing keys in one `compute` call.

        `compute(missing)` returns one (value, ttl) per missing key. Keys already being computed
        by another caller (in this worker, or elsewhere through the shared state) are awaited,
        not recomputed. `admit(missing)`, when given, may refuse (raise) before this caller
        starts a computation; nothing is computed then. A failing `compute` raises in every
        caller waiting for it; a value that is an exception (one key's own error) is returned,
        never cached.
        """
        unique = list(dict.fromkeys(keys))
        found: dict[PredictionKey, tuple[V, Origin]] = {}
        shared = await self.shared.fetch(self._unknown(unique))
        for key, (value, ttl) in shared.items():
            self.put(key, value, ttl)
            found[key] = (value, "shared")
        for key in unique:
            value = self.get(key)
            if key not in found and value is not None:
                found[key] = (value, "hit")
        missing = [k for k in self._unknown(unique) if k not in found]
        if missing and admit is not None:
            await admit(missing)
            missing = self._unknown(missing)  # others may have started them meanwhile
        own: asyncio.Task[dict[PredictionKey, Any]] | None = None
        if missing:
            own = asyncio.create_task(self._fill(missing, compute))
            for key in missing:
                self._inflight[key] = own
        waiting = {k: self._inflight[k] for k in unique if k not in found and k in self._inflight}
        for key in unique:
            if key in found:
                continue
            if key in waiting:
                task = waiting[key]
                value, origin = (await asyncio.shield(task))[key]
                found[key] = (value, origin if task is own or origin == "shared" else "hit")
            elif (value := self.get(key)) is not None:  # finished between the checks above
                found[key] = (value, "hit")
            else:  # ... with a per-key error, which is never cached: ask again
                found[key] = (await self.get_or_compute_many([key], compute, admit))[0]
        return [found[key] for key in keys]

    async def _fill(
        self, keys: list[PredictionKey], compute: Compute[V]
    ) -> dict[PredictionKey, tuple[Any, Origin]]:
        """Compute the keys this worker claims, take the others from whoever claimed them (or
        compute them too when their owner gives up or the wait runs out)."""
        done: dict[PredictionKey, tuple[Any, Origin]] = {}
        try:
            pending = keys
            deadline = time.monotonic() + self.lease_s
            while pending:
                last = time.monotonic() >= deadline
                mine = pending if last else await self.shared.claim(pending, self.lease_s)
                done.update(await self._published(mine))
                mine = [k for k in mine if k not in done]
                if mine:
                    done.update(await self._compute(mine, compute))
                rest = [k for k in pending if k not in done]
                if rest:
                    left = max(0.0, deadline - time.monotonic())
                    for key, (value, ttl) in (await self.shared.wait(rest, left)).items():
                        self.put(key, value, ttl)
                        done[key] = (value, "shared")
                pending = [k for k in pending if k not in done]
            return done
        finally:
            for key in keys:
                if self._inflight.get(key) is asyncio.current_task():
                    del self._inflight[key]

    async def _published(self, claimed: list[PredictionKey]) -> dict[PredictionKey, Any]:
        """Claimed keys whose value another worker published after our first look (it finished
        and freed the lock between our `fetch` and `claim`): take those, free their locks."""
        published = await self.shared.fetch(claimed) if claimed else {}
        for key, (value, ttl) in published.items():
            self.put(key, value, ttl)
        await self.shared.release(list(published))
        return {key: (value, "shared") for key, (value, _) in published.items()}

    async def _compute(
        self, keys: list[PredictionKey], compute: Compute[V]
    ) -> dict[PredictionKey, tuple[Any, Origin]]:
        """Compute claimed keys; cache and publish the values, then free their locks."""
        try:
            pairs = await compute(keys)
            if len(pairs) != len(keys):
                raise RuntimeError("compute returned a wrong number of values")
            usable = {}
            for key, (value, ttl) in zip(keys, pairs, strict=True):
                if not isinstance(value, Exception):  # a per-key error goes to its callers only
                    self.put(key, value, ttl)
                    usable[key] = (value, ttl)
            await self.shared.publish(usable)
            return {key: (value, "miss") for key, (value, _) in zip(keys, pairs, strict=True)}
        finally:
            await self.shared.release(keys)
