"""Binance klines client against the fake server: parsing, paging, errors, retries."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pandas as pd
import pytest

from data_sources import (
    DEFAULT_ASSETS,
    AssetRegistry,
    MalformedDataError,
    UnknownSymbolError,
    UpstreamRateLimitedError,
    UpstreamUnavailableError,
)
from data_sources.assets import Asset
from data_sources.binance import BinanceClient
from tests.data_sources.fake_upstreams import FakeUpstreams, Reply

BTC = AssetRegistry(DEFAULT_ASSETS).get("BTC")


@pytest.fixture
async def binance(fake_upstreams: FakeUpstreams) -> AsyncIterator[BinanceClient]:
    client = BinanceClient(fake_upstreams.settings())
    yield client
    await client.aclose()


def expected(fake: FakeUpstreams, symbol: str, limit: int) -> pd.DataFrame:
    frame = fake.closed_candles(symbol).tail(limit).reset_index(drop=True)
    return frame[["timestamp", "open", "high", "low", "close", "volume", "amount"]]


async def test_klines_match_the_csv_and_drop_the_open_candle(
    binance: BinanceClient, fake_upstreams: FakeUpstreams
) -> None:
    frame = await binance.candles(BTC, "1h", 24)
    pd.testing.assert_frame_equal(frame, expected(fake_upstreams, "BTC", 24), check_exact=True)
    assert frame.attrs["source"] == "binance"
    request = fake_upstreams.requests[-1]
    assert request.params == {"symbol": "BTCUSDT", "interval": "1h", "limit": "25"}


async def test_more_than_a_page_is_fetched_backwards(
    binance: BinanceClient, fake_upstreams: FakeUpstreams
) -> None:
    frame = await binance.candles(BTC, "1h", 1500)
    pd.testing.assert_frame_equal(frame, expected(fake_upstreams, "BTC", 1500), check_exact=True)
    assert fake_upstreams.count("klines") == 2
    assert "endTime" in fake_upstreams.requests[-1].params


async def test_unknown_symbol_is_not_retried(
    binance: BinanceClient, fake_upstreams: FakeUpstreams
) -> None:
    with pytest.raises(UnknownSymbolError):
        await binance.candles(
            Asset(symbol="LINK", name="chainlink", binance_pair="LINKUSDT"), "1h", 5
        )
    assert fake_upstreams.count("klines") == 1


async def test_429_retry_after_is_honoured(
    binance: BinanceClient, fake_upstreams: FakeUpstreams
) -> None:
    fake_upstreams.enqueue("klines", Reply(status=429, headers={"Retry-After": "1"}))
    start = time.monotonic()
    frame = await binance.candles(BTC, "1h", 5)
    assert time.monotonic() - start >= 1.0
    assert len(frame) == 5 and fake_upstreams.count("klines") == 2


async def test_429_without_retry_after_backs_off_then_gives_up(
    binance: BinanceClient, fake_upstreams: FakeUpstreams
) -> None:
    fake_upstreams.always("klines", Reply(status=429))
    with pytest.raises(UpstreamRateLimitedError) as info:
        await binance.candles(BTC, "1h", 5)
    assert info.value.retry_after is None
    assert fake_upstreams.count("klines") == 3  # market_data_attempts


async def test_long_retry_after_fails_fast_and_blocks_later_calls(
    binance: BinanceClient, fake_upstreams: FakeUpstreams
) -> None:
    fake_upstreams.enqueue("klines", Reply(status=429, headers={"Retry-After": "120"}))
    with pytest.raises(UpstreamRateLimitedError) as info:
        await binance.candles(BTC, "1h", 5)
    assert info.value.retry_after == 120
    with pytest.raises(UpstreamRateLimitedError):
        await binance.candles(BTC, "1h", 5)  # blocked: nothing is sent
    assert fake_upstreams.count("klines") == 1


async def test_418_is_never_retried(binance: BinanceClient, fake_upstreams: FakeUpstreams) -> None:
    fake_upstreams.always("klines", Reply(status=418, body={"code": -1003, "msg": "banned"}))
    with pytest.raises(UpstreamRateLimitedError):
        await binance.candles(BTC, "1h", 5)
    with pytest.raises(UpstreamRateLimitedError):
        await binance.candles(BTC, "1h", 5)
    assert fake_upstreams.count("klines") == 1


async def test_500s_then_recovery(binance: BinanceClient, fake_upstreams: FakeUpstreams) -> None:
    fake_upstreams.enqueue("klines", Reply(status=500), Reply(status=503))
    frame = await binance.candles(BTC, "1h", 5)
    assert len(frame) == 5 and fake_upstreams.count("klines") == 3


async def test_500s_until_attempts_run_out(
    binance: BinanceClient, fake_upstreams: FakeUpstreams
) -> None:
    fake_upstreams.always("klines", Reply(status=502))
    with pytest.raises(UpstreamUnavailableError, match="502"):
        await binance.candles(BTC, "1h", 5)
    assert fake_upstreams.count("klines") == 3


async def test_slow_answers_time_out_and_are_retried(fake_upstreams: FakeUpstreams) -> None:
    client = BinanceClient(fake_upstreams.settings(market_data_timeout_s=0.4))
    fake_upstreams.enqueue("klines", Reply(delay=0.8))
    assert len(await client.candles(BTC, "1h", 5)) == 5
    assert fake_upstreams.count("klines") == 2
    never = 60.0  # far longer than any attempt may wait
    fake_upstreams.always("klines", Reply(delay=never))
    start = time.monotonic()
    with pytest.raises(UpstreamUnavailableError, match=r"no answer within 0\.4s"):
        await client.candles(BTC, "1h", 5)
    # the deadline cuts every attempt short: all three took less than one answer would
    assert time.monotonic() - start < never
    assert fake_upstreams.count("klines") == 2 + 3
    await client.aclose()


@pytest.mark.parametrize(
    "reply",
    [
        Reply(truncate=True),
        Reply(body=[]),
        Reply(body={"unexpected": "object"}),
        Reply(body=[[1, "x"]]),
        Reply(body=[[1, "1", "2", "0.5", "-1", "3", 2, "4"]]),
    ],
    ids=["truncated", "empty", "object", "short-row", "negative-close"],
)
async def test_malformed_answers_are_not_retried(
    binance: BinanceClient, fake_upstreams: FakeUpstreams, reply: Reply
) -> None:
    fake_upstreams.enqueue("klines", reply)
    with pytest.raises(MalformedDataError):
        await binance.candles(BTC, "1h", 5)
    assert fake_upstreams.count("klines") == 1


async def test_unreachable_host_is_unavailable(fake_upstreams: FakeUpstreams) -> None:
    client = BinanceClient(fake_upstreams.settings())
    fake_upstreams.stop()  # nothing listens on that port any more
    with pytest.raises(UpstreamUnavailableError):
        await client.candles(BTC, "1h", 5)
    await client.aclose()
