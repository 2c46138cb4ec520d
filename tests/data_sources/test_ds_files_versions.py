"""The files source per file version: gaps reported, regressions refused, figures cached."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import data_sources.files as files_module
from data_sources import DEFAULT_ASSETS, AssetRegistry, DataRegressionError, FilesSource
from data_sources.cache import SingleFlightCache
from data_sources.errors import TRANSIENT_ERRORS


def _write(path: Path, n: int, drop: tuple[int, ...] = ()) -> pd.DataFrame:
    """``n`` hourly candles from 2023-03-20 (rows in ``drop`` left out) written as CSV."""
    close = 100.0 + np.arange(n)
    frame = pd.DataFrame(
        {
            "timestamp": pd.date_range("2023-03-20", periods=n, freq="h", tz="UTC"),
            "open": close,
            "high": close + 1,
            "low": close - 1,
            "close": close,
            "volume": np.ones(n),
            "amount": close,
        }
    ).drop(index=list(drop))
    frame.to_csv(path, index=False, date_format="%Y-%m-%dT%H:%M:%SZ")
    return frame.reset_index(drop=True)


@pytest.fixture
def source(tmp_path: Path) -> FilesSource:
    return FilesSource(tmp_path, AssetRegistry(DEFAULT_ASSETS))


async def test_gaps_in_the_returned_candles_are_reported(
    tmp_path: Path, source: FilesSource
) -> None:
    _write(tmp_path / "BTC_1h.csv", 100, drop=(90, 95, 96))
    frame = await source.candles("BTC", limit=50)
    assert frame.attrs["gaps"] == [
        (pd.Timestamp("2023-03-23T17:00Z"), 1),
        (pd.Timestamp("2023-03-23T22:00Z"), 2),
    ]
    assert frame.attrs["missing_candles"] == 3
    tail = await source.candles("BTC", limit=3)  # after the last gap
    assert tail.attrs["gaps"] == [] and tail.attrs["missing_candles"] == 0
    _write(tmp_path / "ETH_1h.csv", 100, drop=(90,))
    four = await source.candles("ETH", "4h", limit=50)  # the incomplete 16:00 period is dropped
    assert four.attrs["gaps"] == [(pd.Timestamp("2023-03-23T12:00Z"), 1)]


async def test_callers_get_their_own_frame(tmp_path: Path, source: FilesSource) -> None:
    _write(tmp_path / "BTC_1h.csv", 30)
    first = await source.candles("BTC", limit=10)
    first.attrs["stale"] = True
    first["close"] = 0.0
    again = await source.candles("BTC", limit=10)
    assert again.attrs["stale"] is False and (again["close"] > 0).all()


async def test_a_truncated_copy_is_a_regression_until_restored(
    tmp_path: Path, ohlcv_dir: Path, source: FilesSource
) -> None:
    path = tmp_path / "BTC_1h.csv"
    shutil.copy(ohlcv_dir / "BTC_1h.csv", path)
    good = await source.candles("BTC", limit=10)
    lines = path.read_text().splitlines(keepends=True)
    backup = tmp_path / "backup.csv"
    shutil.copy2(path, backup)
    truncated = tmp_path / "truncated.csv"
    truncated.write_text("".join(lines[: len(lines) // 2]))  # cut at a line boundary
    os.replace(truncated, path)
    for call in (source.candles("BTC"), source.quote("BTC"), source.history("BTC", 1)):
        with pytest.raises(DataRegressionError, match=r"BTC_1h\.csv now ends at 2025-04"):
            await call
    assert issubclass(DataRegressionError, TRANSIENT_ERRORS)
    shutil.copy2(backup, path)  # restored, mtime included
    restored = await source.candles("BTC", limit=10)
    pd.testing.assert_frame_equal(restored, good)


async def test_truncation_keeping_the_mtime_is_seen(tmp_path: Path, source: FilesSource) -> None:
    path = tmp_path / "BTC_1h.csv"
    _write(path, 50)
    await source.quote("BTC")
    mtime = path.stat().st_mtime_ns
    _write(path, 40)
    os.utime(path, ns=(mtime, mtime))
    with pytest.raises(DataRegressionError):
        await source.quote("BTC")


async def test_new_candles_are_fresh_data(tmp_path: Path, source: FilesSource) -> None:
    path = tmp_path / "BTC_1h.csv"
    _write(path, 50)
    assert (await source.quote("BTC")).price == 149
    _write(path, 51)
    assert (await source.quote("BTC")).price == 150


async def test_the_cache_serves_stale_over_a_regression_then_fresh(
    tmp_path: Path, source: FilesSource
) -> None:
    path = tmp_path / "BTC_1h.csv"
    _write(path, 60)
    cache = SingleFlightCache(maxsize=8, max_stale_s=3600)

    async def fetch() -> pd.DataFrame:
        return await source.candles("BTC", limit=5)

    assert not (await cache.get("btc", fetch, ttl=lambda _: 0)).stale
    _write(path, 30)
    stale = await cache.get("btc", fetch, ttl=lambda _: 0)
    assert stale.stale and stale.value["close"].iloc[-1] == 159
    _write(path, 61)
    fresh = await cache.get("btc", fetch, ttl=lambda _: 0)
    assert not fresh.stale and fresh.value["close"].iloc[-1] == 160


async def test_a_file_is_read_once_per_version_and_stat_once_per_call(
    tmp_path: Path, source: FilesSource, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "BTC_1h.csv"
    _write(path, 200)
    reads, stats = [], []
    read = files_module.read_candle_file
    monkeypatch.setattr(files_module, "read_candle_file", lambda p: reads.append(p) or read(p))
    await source.history("BTC", 1)  # locates the file
    stamp = files_module.file_stamp
    monkeypatch.setattr(files_module, "file_stamp", lambda p: stats.append(p) or stamp(p))
    for _ in range(3):
        await source.history("BTC", 7)
        await source.quote("BTC")
        await source.candles("BTC", limit=100)
    assert len(reads) == 1 and len(stats) == 9
    first = await source.history("BTC", 7)
    assert first is await source.history("BTC", 7)  # derived once per version
    _write(path, 201)
    assert (await source.history("BTC", 1)).prices[-1][1] == 300
    assert len(reads) == 2


async def test_a_deleted_file_is_unavailable_then_found_again(
    tmp_path: Path, source: FilesSource
) -> None:
    path = tmp_path / "BTC_1h.csv"
    _write(path, 30)
    await source.quote("BTC")
    path.unlink()
    with pytest.raises(TRANSIENT_ERRORS):
        await source.quote("BTC")
    with pytest.raises(TRANSIENT_ERRORS):
        await source.quote("BTC")
    _write(path, 31)
    assert (await source.quote("BTC")).price == 130
