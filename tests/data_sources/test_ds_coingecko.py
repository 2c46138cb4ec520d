"""CoinGecko client against the fake server: quotes, history, derived candles, errors."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from datetime import datetime, timezone

import numpy as np
import pytest

from data_sources import (
    DEFAULT_ASSETS,
    AssetRegistry,
    MalformedDataError,
    Quote,
    UnknownSymbolError,
    UpstreamRateLimitedError,
    UpstreamUnavailableError,
)
from data_sources.assets import Asset
from data_sources.coingecko import CoinGeckoClient, chart_days
from tests.data_sources.fake_upstreams import SUPPLY, FakeUpstreams, Reply

ASSETS = AssetRegistry(DEFAULT_ASSETS)
BTC = ASSETS.get("BTC")


@pytest.fixture
async def coingecko(fake_upstreams: FakeUpstreams) -> AsyncIterator[CoinGeckoClient]:
    client = CoinGeckoClient(fake_upstreams.settings())
    yield client
    await client.aclose()


async def test_quotes_of_all_assets_in_one_call(
    coingecko: CoinGeckoClient, fake_upstreams: FakeUpstreams
) -> None:
    quotes = await coingecko.quotes(ASSETS.all())
    assert fake_upstreams.count("simple_price") == 1
    assert set(quotes) == {a.symbol for a in ASSETS}
    btc = quotes["BTC"]
    assert isinstance(btc, Quote)
    live = fake_upstreams.candles("BTC")
    assert btc.price == live["close"].iloc[-1]
    assert btc.change_24h == pytest.approx((btc.price / live["close"].iloc[-25] - 1) * 100)
    assert btc.volume_24h == pytest.approx(live["amount"].tail(24).sum())
    assert btc.market_cap == pytest.approx(btc.price * SUPPLY["BTC"])
    assert btc.last_updated == datetime.fromtimestamp(
        int(fake_upstreams.now.timestamp()), tz=timezone.utc
    )
    assert btc.source == "coingecko"
    params = fake_upstreams.requests[0].params
    assert params["vs_currencies"] == "usd"
    assert set(params["ids"].split(",")) == {a.name for a in ASSETS}


async def test_unknown_and_malformed_entries_fail_alone(
    coingecko: CoinGeckoClient, fake_upstreams: FakeUpstreams
) -> None:
    nope = Asset(symbol="NOPE", name="no-such-coin")
    body = {"bitcoin": {"usd": math.nan}, "ethereum": {"usd": 2000.0, "usd_24h_change": -1.5}}
    fake_upstreams.enqueue("simple_price", Reply(body=body))
    quotes = await coingecko.quotes([BTC, ASSETS.get("ETH"), nope])
    assert isinstance(quotes["BTC"], MalformedDataError)
    assert isinstance(quotes["NOPE"], UnknownSymbolError)
    eth = quotes["ETH"]
    assert (eth.price, eth.change_24h, eth.market_cap, eth.volume_24h) == (2000, -1.5, None, None)


@pytest.mark.parametrize(
    "reply",
    [Reply(truncate=True), Reply(body=[]), Reply(body="<html>busy</html>")],
    ids=["truncated", "array", "html"],
)
async def test_malformed_quote_payloads(
    coingecko: CoinGeckoClient, fake_upstreams: FakeUpstreams, reply: Reply
) -> None:
    fake_upstreams.enqueue("simple_price", reply)
    with pytest.raises(MalformedDataError):
        await coingecko.quotes(ASSETS.all())


@pytest.mark.parametrize(
    ("plan", "header"), [("demo", "x-cg-demo-api-key"), ("pro", "x-cg-pro-api-key")]
)
async def test_api_key_header_follows_the_plan(
    fake_upstreams: FakeUpstreams, plan: str, header: str
) -> None:
    client = CoinGeckoClient(
        fake_upstreams.settings(coingecko_api_key="k123", coingecko_api_plan=plan)
    )
    await client.quotes([BTC])
    await client.aclose()
    headers = fake_upstreams.requests[0].headers
    assert headers[header] == "k123"
    other = ({"x-cg-demo-api-key", "x-cg-pro-api-key"} - {header}).pop()
    assert other not in headers


async def test_history_values(coingecko: CoinGeckoClient, fake_upstreams: FakeUpstreams) -> None:
    history = await coingecko.history(BTC, 7)
    closed = fake_upstreams.closed_candles("BTC")
    assert len(history.prices) == 7 * 24 + 1  # hourly points and the live price
    assert [p for _, p in history.prices[-4:-1]] == list(closed["close"].tail(3))
    assert history.prices[-1][1] == fake_upstreams.candles("BTC")["close"].iloc[-1]
    assert history.volumes[-2][1] == pytest.approx(closed["amount"].tail(24).sum())
    assert history.market_caps[-1][1] == pytest.approx(history.prices[-1][1] * SUPPLY["BTC"])
    assert history.source == "coingecko"
    assert fake_upstreams.requests[0].params == {"vs_currency": "usd", "days": "7"}


async def test_history_errors(coingecko: CoinGeckoClient, fake_upstreams: FakeUpstreams) -> None:
    with pytest.raises(UnknownSymbolError):
        await coingecko.history(Asset(symbol="NOPE", name="no-such-coin"), 7)
    fake_upstreams.enqueue(
        "market_chart",
        Reply(body={"prices": [], "market_caps": [], "total_volumes": []}),
        Reply(body={"prices": [[1, -5.0]], "market_caps": [], "total_volumes": []}),
        Reply(body={"prices": [[1, 5.0]], "market_caps": []}),
        Reply(body={"prices": [[1, None]], "market_caps": [], "total_volumes": []}),
    )
    for what in ("no prices", "implausible prices", "lacks 'total_volumes'", "not a number"):
        with pytest.raises(MalformedDataError, match=what):
            await coingecko.history(BTC, 7)
    assert fake_upstreams.count("market_chart") == 5  # none of these was retried


async def test_429_without_retry_after_backs_off(
    coingecko: CoinGeckoClient, fake_upstreams: FakeUpstreams
) -> None:
    fake_upstreams.enqueue("market_chart", Reply(status=429))
    assert (await coingecko.history(BTC, 2)).prices
    fake_upstreams.always("market_chart", Reply(status=429))
    with pytest.raises(UpstreamRateLimitedError):
        await coingecko.history(BTC, 2)
    assert fake_upstreams.count("market_chart") == 2 + 3


async def test_client_side_rate_limit_fails_fast(fake_upstreams: FakeUpstreams) -> None:
    client = CoinGeckoClient(
        fake_upstreams.settings(coingecko_calls_per_minute=1, market_data_timeout_s=0.2)
    )
    await client.history(BTC, 2)
    with pytest.raises(UpstreamRateLimitedError, match="client-side"):
        await client.history(BTC, 3)
    assert fake_upstreams.count("market_chart") == 1
    await client.aclose()


async def test_derived_candles(coingecko: CoinGeckoClient, fake_upstreams: FakeUpstreams) -> None:
    frame = await coingecko.candles(BTC, "1h", 48)
    closed = fake_upstreams.closed_candles("BTC").tail(48).reset_index(drop=True)
    assert frame.attrs == {"source": "coingecko", "approximate": True}
    assert list(frame["timestamp"]) == list(closed["timestamp"])
    np.testing.assert_allclose(frame["close"], closed["close"])  # snapshots at each close
    np.testing.assert_allclose(frame["open"].iloc[1:], closed["close"].iloc[:-1])
    assert (frame["high"] >= frame[["open", "close"]].max(axis=1)).all()
    assert (frame["low"] <= frame[["open", "close"]].min(axis=1)).all()
    volume_24h = fake_upstreams.closed_candles("BTC")["amount"].rolling(24).sum().tail(48)
    np.testing.assert_allclose(frame["amount"], volume_24h.to_numpy() / 24)  # spread evenly
    np.testing.assert_allclose(frame["volume"], frame["amount"] / frame["close"])
    assert fake_upstreams.requests[0].params["days"] == "3"


async def test_minute_candles_cannot_be_derived(coingecko: CoinGeckoClient) -> None:
    with pytest.raises(UpstreamUnavailableError, match="cannot derive 1m"):
        await coingecko.candles(BTC, "1m", 10)


def test_chart_days() -> None:
    assert chart_days(3600, 500) == 21
    assert chart_days(3600, 5000) == 90  # hourly points stop at 90 days
    assert chart_days(86400, 300) == 302  # daily points beyond 90 days suit daily candles
    assert chart_days(900, 50) == 1
