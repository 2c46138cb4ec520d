"""Backtests over candles with gaps: contexts regularised or skipped, truth never shifted."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from forecasting.candles import candle_timestamps, future_index
from forecasting.forecast import FEATURES, Forecast
from kronos_runner.backtest import main
from kronos_runner.backtest_scoring import run_backtest
from kronos_runner.backtest_windows import rolling_windows

T0 = pd.Timestamp("2023-03-20", tz="UTC")
HOUR = pd.Timedelta(hours=1)


def _clock_frame(n: int, drop: list[int]) -> pd.DataFrame:
    """Close = 100 + hours since T0, so every candle's true close is known from its time."""
    stamps = pd.date_range(T0, periods=n, freq="h")
    close = 100.0 + np.arange(n)
    frame = pd.DataFrame(
        {"timestamp": stamps, **{c: close for c in ("open", "high", "low", "close")}}
    )
    return frame.assign(volume=1.0).drop(index=drop).reset_index(drop=True)


class ClockForecaster:
    """Forecasts the true close of every future timestamp (100 + hours since T0)."""

    def forecast(
        self, series: list[pd.DataFrame], horizon: int, *, samples: int, seed: int | None
    ) -> list[Forecast]:
        out = []
        for df in series:
            future = future_index(candle_timestamps(df), horizon)
            close = 100.0 + (future - T0) / HOUR
            paths = np.repeat(np.asarray(close, dtype=float)[:, None], len(FEATURES), axis=1)
            out.append(Forecast(timestamps=future, paths=paths[None]))
        return out


def test_truth_spanning_a_gap_is_skipped_and_never_scored_against_shifted_candles() -> None:
    # Hour 60 is missing: the truths of the origins at hours 57-59 cross it, and the origin at
    # hour 61 follows hour 59 (its truth should start at the missing hour).
    frame = _clock_frame(100, drop=[60])
    windows = rolling_windows({"CLK": frame}, T0, lookback=20, horizon=4, stride=1)
    skipped = {w.origin for w in windows.skipped}
    assert skipped == {T0 + h * HOUR for h in (57, 58, 59, 61)}
    assert all("truth spans a gap (1 candle(s) missing)" in w.reason for w in windows.skipped)
    result = run_backtest(
        {"clock": ClockForecaster()}, {"CLK": frame}, start=T0, lookback=20, horizon=4,
        stride=1, samples=1,
    )  # fmt: skip
    rows = pd.DataFrame(result.rows).query("symbol == 'ALL'")
    assert (rows["mae"] == 0).all()  # a shifted truth would give an error of 1 at some step
    assert len(result.skipped) == 4
    # Contexts that contain the hole (origins at hours 62-80) are filled, not skipped.
    filled = [w for w in result.windows if w.filled]
    assert [w.origin for w in filled] == [T0 + h * HOUR for h in range(62, 81)]
    assert result.filled == 19 and all(w.filled == 1 for w in filled)
    context = filled[0].context
    assert len(context) == 21 and context["close"].iloc[-1] == 161
    assert context.set_index("timestamp").loc[T0 + 60 * HOUR, "close"] == 159


def test_contexts_past_the_fill_limit_use_the_recent_stretch_or_are_skipped() -> None:
    frame = _clock_frame(120, drop=list(range(60, 70)))  # a 10-hour halt
    windows = rolling_windows(
        {"CLK": frame}, T0, lookback=24, horizon=2, stride=1, max_fill=3, min_context=12
    )
    by_origin = {w.origin: w for w in windows}
    # Hours 70-81 are the first 12 regular candles after the halt: the origin at hour 82.
    assert min(o for o in by_origin if o > T0 + 70 * HOUR) == T0 + 82 * HOUR
    assert len(by_origin[T0 + 82 * HOUR].context) == 12
    reasons = [w.reason for w in windows.skipped if w.origin > T0 + 70 * HOUR]
    assert len(reasons) == 11 and all("gap of 10 missing candles" in r for r in reasons)
    truth = {w.origin for w in windows.skipped if w.reason.startswith("truth")}
    assert truth == {T0 + 59 * HOUR, T0 + 70 * HOUR}


def test_an_error_names_the_symbol_and_time() -> None:
    class Broken:
        def forecast(self, series, horizon, *, samples, seed):  # type: ignore[no-untyped-def]
            raise ValueError("boom")

    frame = _clock_frame(60, drop=[])
    with pytest.raises(RuntimeError, match=r"CLK 2023-03-21 06:00.*boom"):
        run_backtest({"b": Broken()}, {"CLK": frame}, start=T0, lookback=30, horizon=2, stride=10)


def test_cli_reports_skipped_and_filled_windows(ohlcv_dir: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    btc = pd.read_csv(ohlcv_dir / "BTC_1h.csv")
    hole = btc.index[btc["timestamp"] == "2025-12-10T13:00:00Z"][0]
    btc.drop(index=[hole]).to_csv(data / "BTC_1h.csv", index=False)
    out = tmp_path / "out"
    main(
        ["--data", str(data), "--forecasters", "naive", "--start", "2025-12-01", "--stride", "6",
         "--lookback", "64", "--horizon", "24", "--trend-threshold", "-1", "--out", str(out)]
    )  # fmt: skip
    report = json.loads((out / "metrics.json").read_text())
    assert report["skipped_windows"] == 4  # origins whose 24 hours of truth cross the hole
    assert report["filled_windows"] > 0
    assert {s["symbol"] for s in report["skipped"]} == {"BTC"}
