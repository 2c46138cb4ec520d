"""Fallback forecaster: shapes, reproducibility, drift and volatility estimates; random walk."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from forecasting.baselines import FallbackForecaster, RandomWalk
from forecasting.forecast import FEATURES, Forecast
from forecasting.scoring import (
    QUANTILE_LEVELS,
    crps_lognormal,
    crps_samples,
    drift_mean,
    drift_parameters,
    lognormal_quantiles,
    random_walk_distribution,
)

CLOSE = FEATURES.index("close")


def synthetic(n: int = 400, drift: float = 0.0, sigma: float = 0.01, seed: int = 0) -> pd.DataFrame:
    """Hourly candles whose close follows a geometric random walk."""
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(drift + sigma * rng.standard_normal(n)))
    open_ = np.concatenate([[100.0], close[:-1]])
    return pd.DataFrame(
        {
            "timestamp": pd.date_range("2025-01-01", periods=n, freq="h", tz="UTC"),
            "open": open_,
            "high": np.maximum(open_, close) * 1.002,
            "low": np.minimum(open_, close) * 0.998,
            "close": close,
            "volume": np.full(n, 10.0),
        }
    )


def test_shapes_timestamps_and_consistency() -> None:
    df = synthetic()
    [forecast] = FallbackForecaster().forecast([df], 24, samples=30, seed=1)
    assert isinstance(forecast, Forecast)
    assert forecast.paths.shape == (30, 24, len(FEATURES))
    assert np.isfinite(forecast.paths).all()
    expected = pd.date_range(df["timestamp"].iloc[-1], periods=25, freq="h")[1:]
    assert forecast.timestamps.equals(expected)
    paths = forecast.paths
    o, h, lo, c = (paths[:, :, FEATURES.index(k)] for k in ("open", "high", "low", "close"))
    assert (h >= np.maximum(o, c)).all() and (lo <= np.minimum(o, c)).all()
    assert np.allclose(o[:, 0], df["close"].iloc[-1])
    assert np.allclose(paths[:, :, FEATURES.index("volume")], 10.0)
    assert np.allclose(paths[:, :, FEATURES.index("amount")], 0.0)  # no amount column given


def test_seed_reproducible_and_series_independent() -> None:
    a, b = synthetic(seed=1), synthetic(seed=2)
    fallback = FallbackForecaster()
    first = fallback.forecast([a, b], 12, samples=5, seed=3)
    again = fallback.forecast([a], 12, samples=5, seed=3)
    other = fallback.forecast([a], 12, samples=5, seed=4)
    assert np.array_equal(first[0].paths, again[0].paths)
    assert not np.array_equal(first[0].paths, other[0].paths)
    per_series = fallback.forecast([a, b], 12, samples=5, seed=[3, 9])
    assert np.array_equal(per_series[0].paths, first[0].paths)


def test_drift_and_volatility_estimates() -> None:
    up = synthetic(n=2000, drift=0.002, sigma=0.01, seed=5)
    mu, sigma = FallbackForecaster(vol_window=1000).drift_and_volatility(up["close"].to_numpy())
    assert sigma == pytest.approx(0.01, rel=0.1)
    assert mu > 0
    [forecast] = FallbackForecaster().forecast(up, 24, samples=2000, seed=0)
    log_returns = np.diff(np.log(forecast.paths[:, :, CLOSE]), axis=1)
    assert log_returns.std() == pytest.approx(
        FallbackForecaster().drift_and_volatility(up["close"].to_numpy())[1], rel=0.05
    )
    assert np.median(forecast.paths[:, -1, CLOSE]) > up["close"].iloc[-1]


def test_short_series_still_forecast() -> None:
    [forecast] = FallbackForecaster().forecast(synthetic(n=3), 4, samples=2, seed=0)
    assert forecast.paths.shape == (2, 4, len(FEATURES))


@pytest.mark.parametrize("bad", ["one_row", "negative"])
def test_bad_input_raises_value_error(bad: str) -> None:
    df = synthetic(n=10)
    if bad == "one_row":
        df = df.iloc[:1]
    else:
        df.loc[3, "close"] = -1.0
    with pytest.raises(ValueError):
        FallbackForecaster().forecast([df], 4, samples=2, seed=0)


def test_on_shared_candles(ohlcv_dir: Path) -> None:
    df = pd.read_csv(ohlcv_dir / "BTC_1h.csv").tail(400)
    [forecast] = FallbackForecaster().forecast([df], 24, samples=30, seed=0)
    last = df["close"].iloc[-1]
    assert np.isfinite(forecast.paths).all()
    assert 0.5 * last < np.median(forecast.paths[:, -1, CLOSE]) < 1.5 * last


def test_random_walk_closed_form_scores_match_its_samples() -> None:
    close = 100.0 * np.exp(np.cumsum(0.01 * np.random.default_rng(1).standard_normal(300)))
    frame = pd.DataFrame({"close": close})
    frame["timestamp"] = pd.date_range("2025-01-01", periods=300, freq="1h", tz="UTC")
    [paths] = RandomWalk().forecast([frame], 24, samples=40_000, seed=2)
    closes = paths.closes
    _, sigma = drift_parameters(close)
    steps = np.arange(1, 25)
    m, s = random_walk_distribution(close[-1], sigma, steps)
    assert np.allclose(np.median(closes, axis=0), close[-1], rtol=2e-3)  # median: the last close
    y = close[-1] * np.array([0.97, 1.0, 1.02])[:, None] * np.ones(24)
    closed = crps_lognormal(m, s, y)
    monte_carlo = crps_samples(np.broadcast_to(closes.T, (3, 24, closes.shape[0])), y)
    assert np.allclose(closed, monte_carlo, rtol=0.02)
    assert np.allclose(drift_mean(close[-1], 0.0, sigma, steps), closes.mean(axis=0), rtol=2e-3)
    grid = lognormal_quantiles(m, s)
    assert np.allclose(grid, np.quantile(closes, QUANTILE_LEVELS, axis=0).T, rtol=3e-3)
