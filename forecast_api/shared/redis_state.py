"""`SharedState` in Redis (`REDIS_URL`): one computation per forecast key across every worker and
replica, and usage counters they all add to.

Values are pickled (a cached forecast holds numpy paths and pydantic models): the Redis server
is trusted infrastructure of this deployment, never reachable by clients. Every call is bounded
by a short timeout; an unreachable Redis makes this worker answer alone (its own cache and
counters) and `/health` say degraded, and it is tried again after a capped backoff, so shared
state comes back by itself when Redis does.
"""

from __future__ import annotations

import asyncio
import hashlib
import pickle
import time
import uuid
from collections.abc import Awaitable, Callable, Hashable, Mapping, Sequence
from datetime import datetime, timezone
from typing import Any, TypeVar

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from forecast_api.http.health_schemas import SharedStateHealth
from forecast_api.shared.state import InProcessState

T = TypeVar("T")
PREFIX = "kronos:"
# Delete a lock only while it is still ours (an expired lease may have passed it on).
RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end"


def digest(key: Hashable) -> str:
    """A stable name for a cache key (the same in every process)."""
    return hashlib.sha256(repr(key).encode()).hexdigest()[:40]


class RedisState:
    """`SharedState` through one Redis server, degrading to `InProcessState` while it is down."""

    def __init__(
        self,
        url: str,
        *,
        timeout_s: float = 1.0,
        poll_s: float = 0.05,
        max_backoff_s: float = 5.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.redis = aioredis.from_url(
            url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s, retry=None
        )
        self.local = InProcessState(clock)
        self.timeout_s, self.poll_s, self.max_backoff_s = timeout_s, poll_s, max_backoff_s
        self._clock = clock
        self._token = uuid.uuid4().hex.encode()
        self._release = self.redis.register_script(RELEASE)
        self._failures = 0
        self._retry_at = 0.0
        self._error: str | None = None
        self._since: float | None = None

    # ---- reaching Redis -----------------------------------------------------------------------

    async def _call(self, op: Callable[[aioredis.Redis], Awaitable[T]], fallback: T) -> T:
        """`op`'s result, or `fallback` while Redis is down (no call before the next attempt)."""
        if self._failures and time.monotonic() < self._retry_at:
            return fallback
        try:
            result = await asyncio.wait_for(op(self.redis), 4 * self.timeout_s)
        except (RedisError, OSError, asyncio.TimeoutError) as exc:
            self._failures += 1
            self._retry_at = time.monotonic() + min(
                self.max_backoff_s, 0.5 * 2 ** (self._failures - 1)
            )
            self._error = f"{type(exc).__name__}: {exc}"[:300]
            self._since = self._since or self._clock()
            return fallback
        self._failures, self._error, self._since = 0, None, None
        return result

    @property
    def degraded(self) -> bool:
        """Whether the last call to Redis failed."""
        return self._failures > 0

    # ---- the shared prediction cache --------------------------------------------------------

    async def fetch(self, keys: Sequence[Hashable]) -> dict[Hashable, tuple[Any, float]]:
        """(value, seconds left) of each key published and not expired."""
        if not keys:
            return {}
        names = [f"{PREFIX}value:{digest(k)}" for k in keys]
        raw = await self._call(lambda r: r.mget(names), [None] * len(keys))
        found: dict[Hashable, tuple[Any, float]] = {}
        now = self._clock()
        for key, blob in zip(keys, raw, strict=True):
            if blob is not None:
                value, expires_at = pickle.loads(blob)
                if expires_at > now:
                    found[key] = (value, expires_at - now)
        return found

    async def claim(self, keys: Sequence[Hashable], lease_s: float) -> list[Hashable]:
        """The keys whose lock this worker took (all of them while Redis is down)."""
        if not keys:
            return []
        lease_ms = max(1, round(lease_s * 1000))

        async def take(r: aioredis.Redis) -> list[Any]:
            pipe = r.pipeline(transaction=False)
            for k in keys:
                pipe.set(f"{PREFIX}lock:{digest(k)}", self._token, nx=True, px=lease_ms)
            return await pipe.execute()

        taken = await self._call(take, [True] * len(keys))
        return [k for k, ok in zip(keys, taken, strict=True) if ok]

    async def publish(self, values: Mapping[Hashable, tuple[Any, float]]) -> None:
        """Store each value for its time to live."""
        now = self._clock()
        live = {k: (v, ttl) for k, (v, ttl) in values.items() if ttl > 0}
        if not live:
            return

        async def store(r: aioredis.Redis) -> None:
            pipe = r.pipeline(transaction=False)
            for k, (v, ttl) in live.items():
                blob = pickle.dumps((v, now + ttl), protocol=pickle.HIGHEST_PROTOCOL)
                pipe.set(f"{PREFIX}value:{digest(k)}", blob, px=max(1, round(ttl * 1000)))
            await pipe.execute()

        await self._call(store, None)

    async def release(self, keys: Sequence[Hashable]) -> None:
        """Drop this worker's locks on `keys`."""

        async def drop(r: aioredis.Redis) -> None:
            for k in keys:
                await self._release(keys=[f"{PREFIX}lock:{digest(k)}"], args=[self._token])

        if keys:
            await self._call(drop, None)

    async def _locked(self, keys: Sequence[Hashable]) -> list[bool]:
        """Whether each key's lock is held (False while Redis is down: compute it here)."""

        async def held(r: aioredis.Redis) -> list[Any]:
            pipe = r.pipeline(transaction=False)
            for k in keys:
                pipe.exists(f"{PREFIX}lock:{digest(k)}")
            return await pipe.execute()

        return [bool(h) for h in await self._call(held, [0] * len(keys))]

    async def wait(
        self, keys: Sequence[Hashable], timeout_s: float
    ) -> dict[Hashable, tuple[Any, float]]:
        """Poll until every key is published or unlocked (its owner failed or died), at most
        `timeout_s`; the published values."""
        deadline = time.monotonic() + timeout_s
        found: dict[Hashable, tuple[Any, float]] = {}
        pending = list(keys)
        while pending:
            found.update(await self.fetch(pending))
            pending = [k for k in pending if k not in found]
            locked = await self._locked(pending)
            pending = [k for k, held in zip(pending, locked, strict=True) if held]
            if not pending or time.monotonic() >= deadline:
                break
            await asyncio.sleep(self.poll_s)
        return found

    # ---- counters ---------------------------------------------------------------------------

    async def count(self, bucket: str, amount: int, window_s: int) -> tuple[int, float]:
        """The counter shared by every replica (this process's own while Redis is down)."""
        now = self._clock()
        window = int(now // window_s)
        name = f"{PREFIX}count:{bucket}:{window}"

        async def add(r: aioredis.Redis) -> int:
            pipe = r.pipeline(transaction=True)
            pipe.incrby(name, amount)
            pipe.expire(name, 2 * window_s)
            total, _ = await pipe.execute()
            return int(total)

        total = await self._call(add, None)
        if total is None:
            return self.local.counters.add(bucket, amount, window_s)
        return total, (window + 1) * window_s - now

    # ---- health -----------------------------------------------------------------------------

    async def health(self) -> SharedStateHealth:
        """ok, or degraded with the last error (trying Redis again when that is due)."""
        if self.degraded:
            await self._call(lambda r: r.ping(), None)
        if not self.degraded:
            return SharedStateHealth(backend="redis", state="ok")
        since = datetime.fromtimestamp(self._since or self._clock(), tz=timezone.utc)
        return SharedStateHealth(
            backend="redis",
            state="degraded",
            reason=self._error,
            since=since.isoformat().replace("+00:00", "Z"),
            nextAttemptInSeconds=round(max(0.0, self._retry_at - time.monotonic()), 3),
        )

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self.redis.aclose()
