"""`load_candle_dir` for the training and backtest tools: own files, else resampled 1h files;
`candle_frames` for the replays: one frame per symbol, indexed by open time."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from data_sources.candle_files import candle_frames, load_candle_dir


def hourly(path: Path, hours: int, start: str = "2025-01-01T00:00:00Z") -> pd.DataFrame:
    close = 100 + np.arange(hours, dtype=float)
    frame = pd.DataFrame(
        {
            "timestamp": pd.date_range(start, periods=hours, freq="h"),
            "open": close - 0.5,
            "high": close + 1,
            "low": close - 1,
            "close": close,
            "volume": 1.0,
            "amount": close,
        }
    )
    frame.to_csv(path, index=False)
    return frame


def test_4h_is_resampled_from_the_hourly_file(tmp_path: Path) -> None:
    hourly(tmp_path / "BTC_1h.csv", 4 * 6 + 3, start="2025-01-01T00:00:00Z")
    [frame] = load_candle_dir(tmp_path, "4h").values()
    assert len(frame) == 6  # the incomplete last period is dropped
    assert (frame["timestamp"].diff().dropna() == pd.Timedelta(hours=4)).all()
    assert frame["open"].iloc[0] == 99.5 and frame["close"].iloc[0] == 103.0
    assert frame["amount"].iloc[0] == pytest.approx(100 + 101 + 102 + 103)


def test_an_own_file_wins_and_15m_is_not_made_up(tmp_path: Path) -> None:
    hourly(tmp_path / "BTC_1h.csv", 48)
    own = hourly(tmp_path / "BTC_1d.csv", 3)  # whatever it holds, it is the 1d file
    assert len(load_candle_dir(tmp_path, "1d")["BTC"]) == len(own)
    with pytest.raises(ValueError, match="no 15m candle files"):
        load_candle_dir(tmp_path, "15m")


def test_candle_frames_per_symbol_indexed_by_open_time(tmp_path: Path) -> None:
    btc = hourly(tmp_path / "BTC_1h.csv", 5)
    hourly(tmp_path / "eth_1h.csv", 3)
    hourly(tmp_path / "SOL_1h.csv", 2)
    frames = candle_frames(tmp_path, "1h", " btc, eth ")
    assert sorted(frames) == ["BTC", "ETH"]
    assert frames["BTC"].attrs["symbol"] == "BTC" and frames["BTC"].index.name == "timestamp"
    assert list(frames["BTC"].index) == list(btc["timestamp"])
    assert sorted(candle_frames(tmp_path, "1h", None)) == ["BTC", "ETH", "SOL"]
