"""The files source on the shared candles (and on small files written here)."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
import pytest

from data_sources import (
    DEFAULT_ASSETS,
    AssetRegistry,
    FilesSource,
    MalformedDataError,
    MarketDataSettings,
    UnknownSymbolError,
    UpstreamUnavailableError,
    build_source,
)


@pytest.fixture
def source(ohlcv_dir: Path) -> FilesSource:
    settings = MarketDataSettings(
        _env_file=None, market_data_source="files", market_data_dir=ohlcv_dir
    )
    return build_source(settings)


@pytest.fixture(scope="module")
def btc_csv(ohlcv_dir: Path) -> pd.DataFrame:
    frame = pd.read_csv(ohlcv_dir / "BTC_1h.csv")
    frame["timestamp"] = pd.to_datetime(frame["timestamp"], utc=True)
    return frame


async def test_candles_are_the_csv_rows(source: FilesSource, btc_csv: pd.DataFrame) -> None:
    frame = await source.candles("btc", "1h", limit=500)
    expected = btc_csv.tail(500).reset_index(drop=True)
    assert list(frame.columns) == list(expected.columns)
    pd.testing.assert_frame_equal(frame, expected, check_dtype=False, check_exact=True)
    assert frame.attrs == {
        "source": "files", "stale": False, "age_seconds": 0.0, "gaps": [], "missing_candles": 0
    }  # fmt: skip
    assert str(frame["timestamp"].dt.tz) == "UTC"


async def test_quote_is_derived_from_the_last_candles(
    source: FilesSource, btc_csv: pd.DataFrame
) -> None:
    quote = await source.quote("BTC")
    assert quote.price == btc_csv["close"].iloc[-1]
    assert quote.last_updated == datetime(2026, 4, 16, tzinfo=timezone.utc)  # last close
    expected_change = (btc_csv["close"].iloc[-1] / btc_csv["close"].iloc[-25] - 1) * 100
    assert quote.change_24h == pytest.approx(expected_change)
    assert quote.volume_24h == pytest.approx(btc_csv["amount"].tail(24).sum())
    assert quote.market_cap is None
    assert (quote.source, quote.stale) == ("files", False)


async def test_history_hourly_then_daily(source: FilesSource, btc_csv: pd.DataFrame) -> None:
    hourly = await source.history("btc", 7)
    assert len(hourly.prices) == 7 * 24
    last_close_ms = int(datetime(2026, 4, 16, tzinfo=timezone.utc).timestamp() * 1000)
    assert hourly.prices[-1] == [last_close_ms, btc_csv["close"].iloc[-1]]
    assert hourly.prices[-2][0] == last_close_ms - 3_600_000
    assert hourly.volumes[-1][1] == pytest.approx(btc_csv["amount"].tail(24).sum())
    assert hourly.market_caps == []
    seed = hourly.to_seed_dict()
    assert set(seed) == {"prices", "volumes", "marketCaps"}

    daily = await source.history("btc", 120)
    assert len(daily.prices) == 120
    assert all(ms % 86_400_000 == 0 for ms, _ in daily.prices)
    # the point at 00:00 UTC is the close of the 23:00 candle
    day_before = btc_csv[btc_csv["timestamp"] == "2026-04-14T23:00:00Z"]["close"].item()
    assert daily.prices[-2][1] == day_before


async def test_now_hides_later_candles(ohlcv_dir: Path, btc_csv: pd.DataFrame) -> None:
    now = datetime(2025, 1, 1, 12, 30, tzinfo=timezone.utc)
    source = FilesSource(ohlcv_dir, AssetRegistry(DEFAULT_ASSETS), now=now)
    frame = await source.candles("BTC", limit=3)
    assert frame["timestamp"].iloc[-1] == pd.Timestamp("2025-01-01T11:00:00Z")
    quote = await source.quote("BTC")
    assert quote.last_updated == datetime(2025, 1, 1, 12, tzinfo=timezone.utc)
    assert quote.price == frame["close"].iloc[-1]


async def test_coarser_intervals_are_resampled_from_hourly(
    source: FilesSource, btc_csv: pd.DataFrame
) -> None:
    frame = await source.candles("BTC", "4h", limit=2)
    last4 = btc_csv.tail(4)
    assert frame["timestamp"].iloc[-1] == last4["timestamp"].iloc[0]
    assert frame["open"].iloc[-1] == last4["open"].iloc[0]
    assert frame["high"].iloc[-1] == last4["high"].max()
    assert frame["low"].iloc[-1] == last4["low"].min()
    assert frame["close"].iloc[-1] == last4["close"].iloc[-1]
    assert frame["volume"].iloc[-1] == pytest.approx(last4["volume"].sum())
    day = await source.candles("DOT", "1d", limit=1)  # DOT's last day is incomplete: dropped
    assert day["timestamp"].iloc[-1] == pd.Timestamp("2026-01-05T00:00:00Z")


async def test_parquet_without_amount_and_ms_timestamps(tmp_path: Path) -> None:
    raw = pd.DataFrame(
        {
            "timestamp": [1_700_003_600_000, 1_700_000_000_000],
            "open": [2.0, 1.0],
            "high": [2.5, 1.5],
            "low": [1.5, 0.5],
            "close": [2.2, 1.2],
            "volume": [10.0, 20.0],
        }
    )
    raw.to_parquet(tmp_path / "BTC_1h.parquet")
    source = FilesSource(tmp_path, AssetRegistry(DEFAULT_ASSETS))
    frame = await source.candles("BTC")
    assert list(frame["close"]) == [1.2, 2.2]
    assert list(frame["amount"]) == pytest.approx([21.0, 20.5])  # volume * mean(OHLC)
    quote = await source.quote("btc")
    assert quote.change_24h is None  # less than a day of candles


async def test_errors(tmp_path: Path) -> None:
    bad = "timestamp,open,high,low,close,volume\n2024-01-01T00:00:00Z,1,2,0.5,NaN,3\n"
    (tmp_path / "ETH_1h.csv").write_text(bad)
    source = FilesSource(tmp_path, AssetRegistry(DEFAULT_ASSETS))
    with pytest.raises(UnknownSymbolError):
        await source.candles("NOPE")
    with pytest.raises(UpstreamUnavailableError, match="SOL_1h"):
        await source.candles("SOL")
    with pytest.raises(MalformedDataError, match="non-finite"):
        await source.quote("ETH")
    with pytest.raises(ValueError):
        await source.candles("ETH", limit=0)
    with pytest.raises(ValueError):
        await source.history("ETH", 0)


def write_hourly(path: Path, last: str, count: int = 48) -> None:
    """`count` hourly candles ending with the one opened at `last`."""
    stamps = pd.date_range(end=pd.Timestamp(last), periods=count, freq="h")
    prices = [100.0 + i for i in range(count)]
    frame = pd.DataFrame({"timestamp": stamps.strftime("%Y-%m-%dT%H:%M:%SZ"), "volume": 1.0})
    frame = frame.assign(open=prices, high=prices, low=prices, close=prices)
    frame.to_csv(path, index=False)


async def test_a_file_that_ends_early_is_served_stale_with_its_age(tmp_path: Path) -> None:
    write_hourly(tmp_path / "BTC_1h.csv", "2026-04-15T23:00:00Z")
    write_hourly(tmp_path / "ETH_1h.csv", "2026-04-15T22:00:00Z")  # one candle late: tolerated
    write_hourly(tmp_path / "DOGE_1h.csv", "2026-01-06T11:00:00Z")  # three months behind
    source = FilesSource(tmp_path, AssetRegistry(DEFAULT_ASSETS))
    doge = await source.candles("DOGE", limit=10)  # asked first: the other files set "now"
    behind = pd.Timestamp("2026-04-16T00:00:00Z") - pd.Timestamp("2026-01-06T12:00:00Z")
    assert doge.attrs["stale"] is True and doge.attrs["age_seconds"] == behind.total_seconds()
    eth = await source.candles("ETH", limit=10)
    assert (eth.attrs["stale"], eth.attrs["age_seconds"]) == (False, 3600.0)
    btc = await source.candles("BTC", limit=10)
    assert (btc.attrs["stale"], btc.attrs["age_seconds"]) == (False, 0.0)
    daily = await source.candles("DOGE", "1d", limit=2)  # per interval, whole days behind
    assert daily.attrs["stale"] is True and daily.attrs["age_seconds"] % 86400 == 0

    at = datetime(2026, 1, 6, 12, 30, tzinfo=timezone.utc)  # MARKET_DATA_FILES_NOW
    pinned = FilesSource(tmp_path, AssetRegistry(DEFAULT_ASSETS), now=at)
    doge = await pinned.candles("DOGE", limit=10)
    assert (doge.attrs["stale"], doge.attrs["age_seconds"]) == (False, 1800.0)
