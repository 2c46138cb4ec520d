"""The live source refuses candles that go backwards and reports gaps (stub upstreams)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from data_sources import (
    Asset,
    AssetRegistry,
    DataRegressionError,
    LiveSource,
    MarketDataSettings,
    UpstreamUnavailableError,
)


def _candles(n: int, drop: tuple[int, ...] = ()) -> pd.DataFrame:
    """``n`` hourly candles ending two hours ago (so all are closed), ``drop`` rows left out."""
    end = pd.Timestamp.now(tz="UTC").floor("h") - pd.Timedelta(hours=2)
    close = 10.0 + np.arange(n)
    frame = pd.DataFrame(
        {
            "timestamp": pd.date_range(end=end, periods=n, freq="h"),
            **{c: close for c in ("open", "high", "low", "close")},
            "volume": np.ones(n),
            "amount": close,
        }
    ).drop(index=list(drop))
    frame = frame.reset_index(drop=True)
    frame.attrs["source"] = "binance"
    return frame


class ScriptedBinance:
    """Answers `candles` with the next scripted frame (or raises it when it is an error)."""

    def __init__(self, *answers: pd.DataFrame | Exception) -> None:
        self.answers = list(answers)

    async def candles(self, asset: Asset, interval: str, limit: int) -> pd.DataFrame:
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer.copy()

    async def aclose(self) -> None:
        """Nothing to close."""


class NoCoinGecko(ScriptedBinance):
    """A CoinGecko that is always down."""

    async def candles(self, asset: Asset, interval: str, limit: int) -> pd.DataFrame:
        raise UpstreamUnavailableError("coingecko down", upstream="coingecko")


def _live(binance: ScriptedBinance, max_stale_s: float = 3600.0) -> LiveSource:
    settings = MarketDataSettings(
        _env_file=None, market_data_error_ttl_s=0.0, market_data_max_stale_s=max_stale_s
    )
    assets = AssetRegistry([Asset(symbol="BTC", name="bitcoin", binance_pair="BTCUSDT")])
    source = LiveSource(settings, assets, binance=binance, coingecko=NoCoinGecko())
    return source


async def test_an_older_snapshot_is_served_stale_then_newer_data_fresh(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    good, older, newer = _candles(50), _candles(50).iloc[:-5].copy(), _candles(50)
    newer.loc[len(newer)] = newer.iloc[-1] + [pd.Timedelta(hours=1), 1, 1, 1, 1, 0, 1]
    source = _live(ScriptedBinance(good, older, newer))
    monkeypatch.setattr("data_sources.live.seconds_until_next_close", lambda *_: 0.0)
    first = await source.candles("BTC", limit=10)
    assert not first.attrs["stale"]
    stale = await source.candles("BTC", limit=10)  # the upstream went back five hours
    assert stale.attrs["stale"] and stale["close"].iloc[-1] == first["close"].iloc[-1]
    fresh = await source.candles("BTC", limit=10)
    assert not fresh.attrs["stale"] and fresh["timestamp"].iloc[-1] > first["timestamp"].iloc[-1]


async def test_a_regression_without_a_good_value_is_an_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    source = _live(ScriptedBinance(_candles(50), _candles(50).iloc[:-1].copy()), max_stale_s=0)
    monkeypatch.setattr("data_sources.live.seconds_until_next_close", lambda *_: 0.0)
    await source.candles("BTC", limit=10)
    with pytest.raises(DataRegressionError, match="BTC 1h candles now end at"):
        await source.candles("BTC", limit=10)


async def test_gaps_of_the_returned_candles() -> None:
    source = _live(ScriptedBinance(_candles(50, drop=(45,))))
    frame = await source.candles("BTC", limit=10)
    assert frame.attrs["missing_candles"] == 1
    [(after, missing)] = frame.attrs["gaps"]
    assert missing == 1 and after == _candles(50)["timestamp"].iloc[44]
    assert (await source.candles("BTC", limit=3)).attrs["gaps"] == []
