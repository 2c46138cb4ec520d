"""TTL cache with single-flight, stale-if-error and a short memory of failures (cachetools)."""

from __future__ import annotations

import asyncio
import copy
import time
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

from cachetools import LRUCache, TLRUCache

from .errors import TRANSIENT_ERRORS, MarketDataError

T = TypeVar("T")


@dataclass(frozen=True)
class Cached(Generic[T]):
    """A value with how it was obtained: `stale` (served after a failed refresh) and its age."""

    value: T
    stale: bool
    age_seconds: float


@dataclass(frozen=True)
class _Entry:
    value: object
    fetched_at: float  # clock()
    expires_at: float  # clock()


class SingleFlightCache:
    """Async read-through cache.

    * fresh entries are served until their own expiry (a TTL chosen per value);
    * concurrent misses for one key share a single `fetch` (single-flight); a caller that is
      cancelled does not cancel the fetch the others are waiting for;
    * when a fetch fails with a transient error (upstream unavailable, rate-limited or
      malformed data), the last good value is served with `stale=True` and its age, as long as
      it is at most `max_stale_s` old; otherwise the error is raised. Unknown symbols and other
      errors always propagate;
    * a transient failure is remembered for `error_ttl_s`: meanwhile the key is answered from
      that memory (stale value or the same error) without calling the upstream again.
    """

    def __init__(
        self,
        *,
        maxsize: int,
        max_stale_s: float,
        error_ttl_s: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._clock = clock
        self.max_stale_s = max_stale_s
        self.error_ttl_s = error_ttl_s
        self._fresh: TLRUCache = TLRUCache(maxsize, ttu=_expiry, timer=clock)
        self._failed: TLRUCache = TLRUCache(maxsize, ttu=_expiry, timer=clock)
        self._last_good: LRUCache = LRUCache(maxsize)
        self._inflight: dict[Hashable, asyncio.Task] = {}

    async def get(
        self,
        key: Hashable,
        fetch: Callable[[], Awaitable[T]],
        ttl: Callable[[T], float],
        *,
        stale_if_error: bool = True,
    ) -> Cached[T]:
        """The value for `key`: cached if fresh, else fetched once for all concurrent callers.

        `ttl(value)` gives the seconds a newly fetched value stays fresh.
        """
        entry = self._fresh.get(key)
        if entry is not None:
            return Cached(entry.value, False, self._clock() - entry.fetched_at)
        failure = self._failed.get(key)
        if failure is not None:
            return self._fallback(key, failure.value, stale_if_error)
        task = self._inflight.get(key)
        if task is None:
            task = asyncio.ensure_future(self._load(key, fetch, ttl, stale_if_error))
            self._inflight[key] = task
            task.add_done_callback(lambda done: self._finish(key, done))
        return await asyncio.shield(task)

    def _finish(self, key: Hashable, task: asyncio.Task) -> None:
        if self._inflight.get(key) is task:
            del self._inflight[key]
        if not task.cancelled():
            task.exception()  # mark retrieved even when every waiter was cancelled

    async def _load(
        self,
        key: Hashable,
        fetch: Callable[[], Awaitable[T]],
        ttl: Callable[[T], float],
        stale_if_error: bool,
    ) -> Cached[T]:
        try:
            value = await fetch()
        except TRANSIENT_ERRORS as exc:
            now = self._clock()
            if self.error_ttl_s > 0:
                self._failed[key] = _Entry(exc, now, now + self.error_ttl_s)
            return self._fallback(key, exc, stale_if_error)
        now = self._clock()
        entry = _Entry(value, now, now + max(0.0, ttl(value)))
        self._fresh[key] = entry
        self._last_good[key] = entry
        self._failed.pop(key, None)
        return Cached(value, False, 0.0)

    def _fallback(self, key: Hashable, error: MarketDataError, stale_if_error: bool) -> Cached:
        """The last good value marked stale if allowed and young enough, else raise `error`."""
        old = self._last_good.get(key) if stale_if_error else None
        if old is not None:
            age = self._clock() - old.fetched_at
            if age <= self.max_stale_s:
                return Cached(old.value, True, age)
        raise copy.copy(error)


def _expiry(_key: Hashable, entry: _Entry, _now: float) -> float:
    return entry.expires_at
