"""The live source end to end against the fake upstreams: caching, fallback, staleness."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pandas as pd
import pytest

from data_sources import (
    Asset,
    AssetRegistry,
    LiveSource,
    MalformedDataError,
    MarketDataSource,
    UnknownSymbolError,
    UpstreamUnavailableError,
    build_source,
)
from tests.data_sources.fake_upstreams import FakeUpstreams, Reply


@pytest.fixture
async def live(fake_upstreams: FakeUpstreams) -> AsyncIterator[MarketDataSource]:
    source = build_source(fake_upstreams.settings())
    yield source
    await source.aclose()


async def test_candles_from_binance_then_from_cache(
    live: MarketDataSource, fake_upstreams: FakeUpstreams
) -> None:
    frame = await live.candles("btc", "1h", 100)
    expected = fake_upstreams.closed_candles("BTC").tail(100).reset_index(drop=True)
    pd.testing.assert_frame_equal(frame, expected[list(frame.columns)], check_exact=True)
    assert frame.attrs == {
        "source": "binance", "stale": False, "age_seconds": 0.0, "gaps": [], "missing_candles": 0
    }  # fmt: skip
    await asyncio.sleep(0.02)
    again = await live.candles("BTC", "1h", 100)
    assert fake_upstreams.count("klines") == 1
    assert again.attrs["age_seconds"] > 0 and not again.attrs["stale"]
    again.loc[0, "close"] = -1.0  # callers get copies
    assert (await live.candles("BTC", "1h", 100))["close"].iloc[0] > 0
    shorter = await live.candles("BTC", "1h", 10)  # any limit up to 999: the same entry
    pd.testing.assert_frame_equal(shorter, frame.tail(10).reset_index(drop=True))
    assert fake_upstreams.count("klines") == 1
    assert fake_upstreams.requests[0].params["limit"] == "1000"


async def test_single_flight_counted_by_the_server(fake_upstreams: FakeUpstreams) -> None:
    live = build_source(fake_upstreams.settings(market_data_timeout_s=5))
    fake_upstreams.always("klines", Reply(delay=0.2))
    fake_upstreams.always("simple_price", Reply(delay=0.2))
    frames = await asyncio.gather(*(live.candles("ETH", "1h", 50) for _ in range(20)))
    quotes = await asyncio.gather(*(live.quote(a.symbol) for a in live.assets for _ in range(3)))
    assert fake_upstreams.count("klines") == 1
    assert fake_upstreams.count("simple_price") == 1
    assert all(f.equals(frames[0]) for f in frames)
    assert {q.symbol for q in quotes} == {a.symbol for a in live.assets}
    await live.aclose()


async def test_binance_down_falls_back_to_coingecko(
    live: MarketDataSource, fake_upstreams: FakeUpstreams
) -> None:
    fake_upstreams.always("klines", Reply(status=500))
    frame = await live.candles("SOL", "1h", 24)
    assert frame.attrs["source"] == "coingecko" and frame.attrs["approximate"]
    closed = fake_upstreams.closed_candles("SOL").tail(24)
    assert list(frame["close"]) == pytest.approx(list(closed["close"]))
    assert fake_upstreams.count("klines") == 3 and fake_upstreams.count("market_chart") == 1


async def test_pair_unknown_to_binance_falls_back_to_coingecko(
    fake_upstreams: FakeUpstreams,
) -> None:
    assets = AssetRegistry([Asset(symbol="XBT", name="bitcoin", binance_pair="XBTUSDT")])
    source = build_source(fake_upstreams.settings(), assets)
    frame = await source.candles("xbt", "1h", 10)
    assert frame.attrs["source"] == "coingecko"
    await source.aclose()


async def test_unknown_symbols(live: MarketDataSource, fake_upstreams: FakeUpstreams) -> None:
    for call in (live.candles("LINK"), live.quote("LINK"), live.history("LINK", 7)):
        with pytest.raises(UnknownSymbolError):
            await call
    assert fake_upstreams.count() == 0
    nowhere = AssetRegistry([Asset(symbol="NOPE", name="no-such-coin", binance_pair="NOPEUSDT")])
    source = LiveSource(fake_upstreams.settings(), nowhere)
    for call in (source.candles("NOPE"), source.quote("NOPE"), source.history("NOPE", 7)):
        with pytest.raises(UnknownSymbolError):
            await call
    await source.aclose()


async def test_both_upstreams_down_raises_a_typed_error(
    live: MarketDataSource, fake_upstreams: FakeUpstreams
) -> None:
    fake_upstreams.always("klines", Reply(status=503))
    fake_upstreams.always("market_chart", Reply(body=b"{", status=200))
    with pytest.raises(UpstreamUnavailableError, match="503"):
        await live.candles("BTC", "1h", 10)


async def test_stale_if_error_with_age(fake_upstreams: FakeUpstreams) -> None:
    settings = fake_upstreams.settings(
        market_data_quote_ttl_s=0.05, market_data_history_ttl_s=0.05, market_data_max_stale_s=1.0
    )
    source = build_source(settings)
    fresh = await source.quote("BTC")
    history = await source.history("BTC", 3)
    await asyncio.sleep(0.1)
    fake_upstreams.always("simple_price", Reply(status=500))
    fake_upstreams.enqueue("market_chart", Reply(truncate=True))
    stale = await source.quote("BTC")
    assert stale.stale and stale.age_seconds >= 0.1 and stale.price == fresh.price
    stale_history = await source.history("BTC", 3)
    assert stale_history.stale and stale_history.prices == history.prices
    assert (await source.history("BTC", 3)).stale is False  # recovered
    await asyncio.sleep(1.0)
    with pytest.raises(UpstreamUnavailableError):
        await source.quote("BTC")  # too old to serve
    await source.aclose()


async def test_a_bad_quote_entry_is_served_stale_alone(fake_upstreams: FakeUpstreams) -> None:
    source = build_source(fake_upstreams.settings(market_data_quote_ttl_s=0.05))
    btc, eth = await source.quote("BTC"), await source.quote("ETH")
    await asyncio.sleep(0.06)
    fake_upstreams.enqueue("simple_price", Reply(body={"bitcoin": {"usd": None}, **_fresh_eth()}))
    stale_btc, fresh_eth = await source.quote("btc"), await source.quote("eth")
    assert stale_btc.stale and stale_btc.price == btc.price and stale_btc.age_seconds >= 0.05
    assert not fresh_eth.stale and fresh_eth.price == 1234.5 != eth.price
    assert fake_upstreams.count("simple_price") == 2
    await source.aclose()


def _fresh_eth() -> dict:
    return {"ethereum": {"usd": 1234.5, "usd_24h_change": 1.0, "last_updated_at": 1}}


async def test_malformed_quote_entry_is_a_typed_error(
    live: MarketDataSource, fake_upstreams: FakeUpstreams
) -> None:
    fake_upstreams.enqueue("simple_price", Reply(body={"bitcoin": {"usd": -3}}))
    with pytest.raises(MalformedDataError):
        await live.quote("BTC")
    with pytest.raises(UnknownSymbolError):
        await live.quote("ETH")  # absent from that answer


async def test_history_shape(live: MarketDataSource) -> None:
    history = await live.history("ada", 2)
    seed = history.to_seed_dict()
    assert len(seed["prices"]) == len(seed["volumes"]) == len(seed["marketCaps"]) == 49
    assert history.source == "coingecko" and not history.stale


async def test_fake_env_configures_a_live_source(
    fake_upstreams: FakeUpstreams, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in fake_upstreams.env().items():
        monkeypatch.setenv(name, value)
    source = build_source()
    assert (await source.quote("DOGE")).source == "coingecko"
    assert fake_upstreams.count("simple_price") == 1
    await source.aclose()
