"""SingleFlightCache with a fake clock: TTLs, single-flight, stale-if-error, cancellation."""

from __future__ import annotations

import asyncio

import pytest

from data_sources.cache import SingleFlightCache
from data_sources.errors import UnknownSymbolError, UpstreamUnavailableError


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Upstream:
    """Counts calls; answers the next scripted value or raises it."""

    def __init__(self, *script: object, delay: float = 0.0) -> None:
        self.script = list(script)
        self.calls = 0
        self.delay = delay

    async def __call__(self) -> object:
        self.calls += 1
        await asyncio.sleep(self.delay)
        item = self.script.pop(0)
        if isinstance(item, Exception):
            raise item
        return item


def ten_seconds(_: object) -> float:
    return 10.0


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def cache(clock: Clock) -> SingleFlightCache:
    return SingleFlightCache(maxsize=16, max_stale_s=60, clock=clock)


async def test_fresh_until_the_ttl(cache: SingleFlightCache, clock: Clock) -> None:
    upstream = Upstream("a", "b")
    first = await cache.get("k", upstream, ten_seconds)
    clock.now += 9
    hit = await cache.get("k", upstream, ten_seconds)
    assert (first.value, hit.value, hit.stale, hit.age_seconds) == ("a", "a", False, 9)
    clock.now += 2
    assert (await cache.get("k", upstream, ten_seconds)).value == "b"
    assert upstream.calls == 2


async def test_stale_if_error_up_to_the_limit(cache: SingleFlightCache, clock: Clock) -> None:
    down = UpstreamUnavailableError("down")
    upstream = Upstream("a", down, down)
    await cache.get("k", upstream, ten_seconds)
    clock.now += 30
    stale = await cache.get("k", upstream, ten_seconds)
    assert (stale.value, stale.stale, stale.age_seconds) == ("a", True, 30)
    clock.now += 31  # 61 s old: beyond max_stale_s
    with pytest.raises(UpstreamUnavailableError):
        await cache.get("k", upstream, ten_seconds)


async def test_unknown_symbols_are_never_served_stale(
    cache: SingleFlightCache, clock: Clock
) -> None:
    upstream = Upstream("a", UnknownSymbolError("gone"))
    await cache.get("k", upstream, ten_seconds)
    clock.now += 11
    with pytest.raises(UnknownSymbolError):
        await cache.get("k", upstream, ten_seconds)


async def test_concurrent_misses_share_one_fetch_and_its_error(cache: SingleFlightCache) -> None:
    upstream = Upstream("a", delay=0.05)
    results = await asyncio.gather(*(cache.get("k", upstream, ten_seconds) for _ in range(50)))
    assert {r.value for r in results} == {"a"} and upstream.calls == 1
    failing = Upstream(UpstreamUnavailableError("down"), delay=0.05)
    outcomes = await asyncio.gather(
        *(cache.get("x", failing, ten_seconds) for _ in range(5)), return_exceptions=True
    )
    assert all(isinstance(o, UpstreamUnavailableError) for o in outcomes) and failing.calls == 1


async def test_a_cancelled_caller_does_not_cancel_the_fetch(cache: SingleFlightCache) -> None:
    upstream = Upstream("a", delay=0.05)
    first = asyncio.ensure_future(cache.get("k", upstream, ten_seconds))
    second = asyncio.ensure_future(cache.get("k", upstream, ten_seconds))
    await asyncio.sleep(0.01)
    first.cancel()
    assert (await second).value == "a"
    assert first.cancelled() and upstream.calls == 1


async def test_failures_are_remembered_for_the_error_ttl(clock: Clock) -> None:
    cache = SingleFlightCache(maxsize=4, max_stale_s=60, error_ttl_s=5, clock=clock)
    upstream = Upstream("a", UpstreamUnavailableError("down"), "b")
    await cache.get("k", upstream, ten_seconds)
    clock.now += 11
    assert (await cache.get("k", upstream, ten_seconds)).stale
    clock.now += 4
    memo = await cache.get("k", upstream, ten_seconds)  # no upstream call within 5 s
    assert (memo.value, memo.stale, memo.age_seconds, upstream.calls) == ("a", True, 15, 2)
    clock.now += 2
    assert (await cache.get("k", upstream, ten_seconds)).value == "b"
    failing = Upstream(UpstreamUnavailableError("down"))
    for _ in range(3):
        with pytest.raises(UpstreamUnavailableError):
            await cache.get("x", failing, ten_seconds)
    assert failing.calls == 1


async def test_stale_fallback_can_be_turned_off(cache: SingleFlightCache, clock: Clock) -> None:
    upstream = Upstream("a", UpstreamUnavailableError("down"))
    await cache.get("k", upstream, ten_seconds)
    clock.now += 11
    with pytest.raises(UpstreamUnavailableError):
        await cache.get("k", upstream, ten_seconds, stale_if_error=False)
