"""Rolling-origin backtest: hand-computed cases and the CLI on the shared candles."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from forecasting.baselines import Drift, NaiveLastPrice
from forecasting.forecast import FEATURES, Forecast
from kronos_runner.backtest import main
from kronos_runner.backtest_scoring import confidence_buckets, run_backtest
from kronos_runner.backtest_windows import rolling_windows

HORIZON = 4


def _linear_frame(n: int = 120) -> pd.DataFrame:
    """Close rises by exactly 1 per hour, so naive last price misses step h by h."""
    close = 100.0 + np.arange(n)
    return pd.DataFrame(
        {
            "timestamp": pd.date_range("2025-01-01", periods=n, freq="h", tz="UTC"),
            **{c: close for c in ("open", "high", "low", "close")},
            "volume": np.ones(n),
        }
    )


class TruthForecaster:
    """Looks the future up in the full frame: perfect forecasts."""

    def __init__(self, frame: pd.DataFrame) -> None:
        self.frame = frame.set_index("timestamp")

    def forecast(
        self, series: list[pd.DataFrame], horizon: int, *, samples: int, seed: int | None
    ) -> list[Forecast]:
        out = []
        for df in series:
            future = self.frame.loc[self.frame.index > df["timestamp"].iloc[-1]].head(horizon)
            values = future.reindex(columns=list(FEATURES), fill_value=0.0).to_numpy()
            out.append(Forecast(timestamps=future.index, paths=np.repeat(values[None], 3, axis=0)))
        return out


def test_windows_are_inside_the_data_and_after_start() -> None:
    frame = _linear_frame()
    start = frame["timestamp"][50]
    windows = rolling_windows({"LIN": frame}, start, lookback=24, horizon=HORIZON, stride=10)
    assert [w.origin for w in windows] == list(frame["timestamp"][50:117:10])
    w = windows[0]
    assert len(w.context) == 24 and w.context["timestamp"].iloc[-1] < w.origin
    assert w.last == 149 and w.truth.tolist() == [150, 151, 152, 153]


def test_truth_and_naive_forecasters() -> None:
    frame = _linear_frame()
    result = run_backtest(
        {"truth": TruthForecaster(frame), "naive": NaiveLastPrice(), "drift": Drift()},
        {"LIN": frame},
        start=frame["timestamp"][30],
        calibrate_until=frame["timestamp"][70],
        lookback=24,
        horizon=HORIZON,
        stride=3,
        samples=10,
    )
    rows = pd.DataFrame(result.rows).query("symbol == 'ALL'").set_index(["forecaster", "step"])
    truth = rows.loc["truth"]
    assert (truth[["mae", "mape", "crps"]] == 0).all().all()
    assert (
        (truth[["cov80_raw", "cov90_raw", "cov80_cal", "cov90_cal", "direction"]] == 1).all().all()
    )
    naive = rows.loc["naive"]
    np.testing.assert_allclose(naive["mae"], [1, 2, 3, 4])
    np.testing.assert_allclose(naive["crps"], [1, 2, 3, 4])  # one path: CRPS = MAE
    assert (naive["cov90_raw"] == 0).all() and (naive["direction"] == 0.5).all()
    # Every calibration window's truth ends before the first scored origin.
    assert result.calibrations["naive"].n_windows == len(range(30, 67, 3))
    assert min(w.origin for w in result.windows) >= frame["timestamp"][70]
    # Drift follows the trend: far closer than naive, and right about the direction.
    assert (rows.loc["drift", "mae"] < 0.1 * naive["mae"]).all()
    assert (rows.loc["drift", "direction"] == 1).all()


def test_cli_on_shared_candles(ohlcv_dir: Path, tmp_path: Path) -> None:
    main(
        ["--data", str(ohlcv_dir), "--symbols", "BTC,DOT", "--forecasters", "naive,drift",
         "--start", "2025-12-01", "--calibrate-until", "2025-12-20", "--stride", "12",
         "--lookback", "128", "--samples", "30", "--trend-threshold", "-1", "--out", str(tmp_path)]
    )  # fmt: skip
    report = json.loads((tmp_path / "metrics.json").read_text())
    assert {r["step"] for r in report["summary"]} == {1, 6, 24}
    assert report["calibration_windows"]["drift"] > 0
    csv = pd.read_csv(tmp_path / "metrics.csv")
    assert set(csv["symbol"]) == {"ALL", "BTC", "DOT"} and len(csv) == 2 * 3 * 24
    for name in ("fan_chart.png", "coverage.png", "calibration_drift.json"):
        assert (tmp_path / name).stat().st_size > 0


def test_cli_needs_a_checkpoint_for_kronos(tmp_path: Path) -> None:
    with pytest.raises(SystemExit):
        main(["--data", str(tmp_path), "--start", "2025-01-01", "--out", str(tmp_path)])


def test_confidence_buckets() -> None:
    rows = confidence_buckets([0.1, 0.35, 0.38, 0.95, 1.0], [0, 1, 0, 1, 1])
    by_bucket = {r["bucket"]: r for r in rows}
    assert by_bucket["0.30-0.40"] == {
        "bucket": "0.30-0.40", "n": 2, "mean_confidence": pytest.approx(0.365), "hit_rate": 0.5
    }  # fmt: skip
    assert by_bucket["0.80-1.00"]["n"] == 2 and by_bucket["0.80-1.00"]["hit_rate"] == 1
    assert by_bucket["0.50-0.60"]["n"] == 0
    assert sum(r["n"] for r in rows) == 5


def test_service_confidence_of_a_perfect_forecaster() -> None:
    frame = _linear_frame()
    result = run_backtest(
        {"truth": TruthForecaster(frame)},
        {"LIN": frame},
        start=frame["timestamp"][30],
        lookback=24,
        horizon=HORIZON,
        stride=5,
        samples=3,
        trend_threshold=0.005,
    )
    (row,) = [r for r in result.confidence["truth"] if r["n"]]
    # Every path rises by more than the threshold: "bullish" with confidence 1, always right.
    assert row["mean_confidence"] == 1 and row["hit_rate"] == 1
