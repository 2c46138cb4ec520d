"""TTL cache with single-flight and stale-if-error, built on cachetools."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

from cachetools import LRUCache, TLRUCache

from .errors import TRANSIENT_ERRORS

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
    fetched_at: float  # time.monotonic()
    expires_at: float  # time.monotonic()


class SingleFlightCache:
    """Async read-through cache.

    * fresh entries are served until their own expiry (a TTL chosen per value);
    * concurrent misses for one key share a single `fetch` (single-flight); a caller that is
      cancelled does not cancel the fetch the others are waiting for;
    * when a refresh fails with a transient error (upstream unavailable, rate-limited or
      malformed data), the last good value is served with `stale=True` and its age, as long as
      it is at most `max_stale_s` old. Unknown symbols and other errors propagate.
    """

    def __init__(
        self, *, maxsize: int, max_stale_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._clock = clock
        self._fresh: TLRUCache = TLRUCache(
            maxsize, ttu=lambda _k, e, _now: e.expires_at, timer=clock
        )
        self._last_good: LRUCache = LRUCache(maxsize)
        self._inflight: dict[Hashable, asyncio.Task] = {}
        self.max_stale_s = max_stale_s

    async def get(
        self,
        key: Hashable,
        fetch: Callable[[], Awaitable[T]],
        ttl: Callable[[T], float],
    ) -> Cached[T]:
        """The value for `key`: cached if fresh, else fetched once for all concurrent callers.

        `ttl(value)` gives the seconds a newly fetched value stays fresh.
        """
        entry = self._fresh.get(key)
        if entry is not None:
            return Cached(entry.value, False, self._clock() - entry.fetched_at)
        task = self._inflight.get(key)
        if task is None:
            task = asyncio.ensure_future(self._load(key, fetch, ttl))
            self._inflight[key] = task
            task.add_done_callback(lambda done: self._finish(key, done))
        return await asyncio.shield(task)

    def invalidate(self, key: Hashable) -> None:
        """Forget the fresh value of `key` (the last good value stays for stale-if-error)."""
        self._fresh.pop(key, None)

    def _finish(self, key: Hashable, task: asyncio.Task) -> None:
        if self._inflight.get(key) is task:
            del self._inflight[key]
        if not task.cancelled():
            task.exception()  # mark retrieved even when every waiter was cancelled

    async def _load(
        self, key: Hashable, fetch: Callable[[], Awaitable[T]], ttl: Callable[[T], float]
    ) -> Cached[T]:
        try:
            value = await fetch()
        except TRANSIENT_ERRORS:
            old = self._last_good.get(key)
            if old is not None:
                age = self._clock() - old.fetched_at
                if age <= self.max_stale_s:
                    return Cached(old.value, True, age)
            raise
        now = self._clock()
        entry = _Entry(value, now, now + max(0.0, ttl(value)))
        self._fresh[key] = entry
        self._last_good[key] = entry
        return Cached(value, False, 0.0)
