"""The shared prediction cache on a real redis-server: one computation across "workers" (two
caches with their own RedisState), crashed owners, Redis going away and coming back, counters."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from forecast_api.forecasts.prediction_cache import PredictionCache, PredictionKey
from forecast_api.shared.redis_state import RedisState
from tests.redis_server import RedisServer, redis_installed

pytestmark = pytest.mark.skipif(not redis_installed(), reason="redis-server not installed")


@pytest.fixture
def server() -> Iterator[RedisServer]:
    redis = RedisServer()
    redis.start()
    yield redis
    redis.cleanup()


def key(seed: int = 1) -> PredictionKey:
    return PredictionKey("BTC", 1, "m", horizon=24, samples=30, seed=seed)


class Compute:
    """Records its calls; answers 'value' after `delay` seconds."""

    def __init__(self, delay: float = 0.2) -> None:
        self.calls = 0
        self.delay = delay

    async def __call__(self, keys: list[PredictionKey]) -> list[tuple[str, float]]:
        self.calls += 1
        await asyncio.sleep(self.delay)
        return [(f"value{k.seed}", 60.0) for k in keys]


async def test_one_computation_across_workers(server: RedisServer) -> None:
    states = [RedisState(server.url) for _ in range(3)]
    caches = [PredictionCache[str](shared=s, lease_s=5) for s in states]
    computes = [Compute() for _ in caches]
    asked = [
        c.get_or_compute_many([key()], f)
        for _ in range(10)
        for c, f in zip(caches, computes, strict=True)
    ]
    results = [r[0] for r in await asyncio.gather(*asked)]
    assert sum(f.calls for f in computes) == 1
    assert {v for v, _ in results} == {"value1"}
    origins = [o for _, o in results]
    assert origins.count("miss") == 1
    assert origins.count("shared") == 20  # the two other workers' 10 callers each
    # later, a fresh worker takes it from Redis
    fresh = PredictionCache[str](shared=RedisState(server.url))
    assert await fresh.get_or_compute_many([key()], Compute()) == [("value1", "shared")]
    for s in states:
        await s.aclose()


async def test_a_value_published_between_look_and_claim_is_not_recomputed(
    server: RedisServer,
) -> None:
    """Worker B looks (nothing yet), then A computes, publishes and frees the lock before B
    claims it: B takes A's value instead of computing again."""
    a = PredictionCache[str](shared=RedisState(server.url), lease_s=5)
    b = PredictionCache[str](shared=RedisState(server.url), lease_s=5)
    compute_a, compute_b = Compute(delay=0), Compute(delay=0)

    async def a_finishes_meanwhile(keys: list[PredictionKey]) -> None:
        assert await a.get_or_compute_many(keys, compute_a) == [("value1", "miss")]

    got = await b.get_or_compute_many([key()], compute_b, admit=a_finishes_meanwhile)
    assert got == [("value1", "shared")]
    assert (compute_a.calls, compute_b.calls) == (1, 0)
    assert await RedisState(server.url).claim([key()], lease_s=1) == [key()]  # B freed it


async def test_a_crashed_owner_lock_expires(server: RedisServer) -> None:
    state = RedisState(server.url)
    assert await state.claim([key()], lease_s=0.3) == [key()]  # an owner that never finishes
    cache = PredictionCache[str](shared=RedisState(server.url), lease_s=5)
    compute = Compute(delay=0)
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert await cache.get_or_compute_many([key()], compute) == [("value1", "miss")]
    assert compute.calls == 1
    waited = loop.time() - started
    assert 0.2 < waited < 5  # waited for the lease, not for the whole bound


async def test_redis_down_serves_alone_and_recovers(server: RedisServer) -> None:
    state = RedisState(server.url, max_backoff_s=0.2)
    cache = PredictionCache[str](shared=state, lease_s=5)
    compute = Compute(delay=0)
    assert (await state.health()).state == "ok"
    server.stop()
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert await cache.get_or_compute_many([key(2)], compute) == [("value2", "miss")]
    assert loop.time() - started < 3  # bounded by the short timeouts
    health = await state.health()
    assert health.state == "degraded" and health.reason
    assert (await state.count("b", 5, 60))[0] == 5  # this process's counter meanwhile
    server.start()
    await asyncio.sleep(0.3)
    assert (await state.health()).state == "ok"
    other = PredictionCache[str](shared=RedisState(server.url))
    await cache.get_or_compute_many([key(3)], compute)
    assert await other.get_or_compute_many([key(3)], Compute()) == [("value3", "shared")]


async def test_counters_are_shared(server: RedisServer) -> None:
    a, b = RedisState(server.url), RedisState(server.url)
    assert (await a.count("k", 10, 60))[0] == 10
    total, left = await b.count("k", 5, 60)
    assert total == 15 and 0 < left <= 60
