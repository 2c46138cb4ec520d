"""Prediction cache: keys, TTL, single-flight, batched computation, latest-for-stale."""

from __future__ import annotations

import asyncio

import pytest

from forecast_api.forecasts.prediction_cache import PredictionCache, PredictionKey


class Clock:
    """A settable timer."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def key(symbol: str = "BTC", candle: int = 1, seed: int | None = None) -> PredictionKey:
    return PredictionKey(symbol, candle, "m", horizon=24, samples=30, seed=seed)


class Counter:
    """A compute function that records its calls and returns 'SYMBOL@candle' values."""

    def __init__(self, ttl: float = 3600.0, delay: float = 0.0) -> None:
        self.calls: list[list[PredictionKey]] = []
        self.ttl = ttl
        self.delay = delay

    async def __call__(self, keys: list[PredictionKey]) -> list[tuple[str, float]]:
        self.calls.append(list(keys))
        await asyncio.sleep(self.delay)
        return [(f"{k.symbol}@{k.last_candle_ms}", self.ttl) for k in keys]


async def one(cache: PredictionCache, k: PredictionKey, compute: Counter) -> tuple[str, str]:
    """(value, origin) of one key."""
    return (await cache.get_or_compute_many([k], compute))[0]


async def test_hit_after_miss_and_new_candle_is_a_new_key() -> None:
    cache: PredictionCache[str] = PredictionCache()
    compute = Counter()
    assert await one(cache, key(), compute) == ("BTC@1", "miss")
    assert await one(cache, key(), compute) == ("BTC@1", "hit")
    assert await one(cache, key(candle=2), compute) == ("BTC@2", "miss")
    assert await one(cache, key(seed=5), compute) == ("BTC@1", "miss")
    assert len(compute.calls) == 3


async def test_entries_expire_after_their_ttl() -> None:
    clock = Clock()
    cache: PredictionCache[str] = PredictionCache(timer=clock)
    await one(cache, key(), Counter(ttl=60))
    clock.now = 59
    assert cache.get(key()) == "BTC@1"
    clock.now = 61
    assert cache.get(key()) is None


async def test_single_flight_many_concurrent_callers_one_computation() -> None:
    cache: PredictionCache[str] = PredictionCache()
    compute = Counter(delay=0.05)
    results = await asyncio.gather(*(one(cache, key(), compute) for _ in range(1000)))
    assert len(compute.calls) == 1
    assert {value for value, _ in results} == {"BTC@1"}
    assert sum(origin == "miss" for _, origin in results) == 1


async def test_many_computes_only_missing_keys_in_one_call() -> None:
    cache: PredictionCache[str] = PredictionCache()
    compute = Counter()
    await one(cache, key("ETH"), compute)
    keys = [key("BTC"), key("ETH"), key("SOL"), key("BTC")]
    results = await cache.get_or_compute_many(keys, compute)
    assert [v for v, _ in results] == ["BTC@1", "ETH@1", "SOL@1", "BTC@1"]
    assert [c for _, c in results] == ["miss", "hit", "miss", "miss"]
    assert compute.calls[-1] == [key("BTC"), key("SOL")]


async def test_failure_reaches_every_waiter_and_is_not_cached() -> None:
    cache: PredictionCache[str] = PredictionCache()

    async def failing(keys: list[PredictionKey]) -> list[tuple[str, float]]:
        await asyncio.sleep(0.01)
        raise RuntimeError("boom")

    results = await asyncio.gather(
        *(one(cache, key(), failing) for _ in range(3)), return_exceptions=True
    )
    assert all(isinstance(r, RuntimeError) for r in results)
    assert await one(cache, key(), Counter()) == ("BTC@1", "miss")


async def test_zero_ttl_is_not_cached_but_remembered_as_latest() -> None:
    clock = Clock()
    cache: PredictionCache[str] = PredictionCache(timer=clock)
    await one(cache, key(candle=1), Counter(ttl=0))
    assert cache.get(key(candle=1)) is None
    clock.now = 100
    assert cache.latest(key(candle=99), max_age=200) == ("BTC@1", 100)
    assert cache.latest(key(candle=99), max_age=50) is None
    assert cache.latest(key("ETH"), max_age=200) is None


async def test_cancelled_caller_does_not_cancel_the_computation() -> None:
    cache: PredictionCache[str] = PredictionCache()
    compute = Counter(delay=0.05)
    first = asyncio.create_task(one(cache, key(), compute))
    await asyncio.sleep(0.01)
    second = asyncio.create_task(one(cache, key(), compute))
    await asyncio.sleep(0)
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    assert await second == ("BTC@1", "hit")
    assert len(compute.calls) == 1
