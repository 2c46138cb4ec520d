"""Baseline forecasters behind one protocol: the statistical fallback, naive, drift, random walk.

The fallback is what the service serves when the Kronos model is not loaded, errors, times out or
returns unusable values; the backtest and the ledger score every baseline the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np
import pandas as pd

from forecasting.candles import candle_timestamps, future_index
from forecasting.forecast import CLOSE, FEATURES, Forecast


class Forecaster(Protocol):
    """Anything that samples forecast paths for candle series (Kronos, the baselines)."""

    def forecast(
        self, series: list[pd.DataFrame], horizon: int, *, samples: int, seed: int | None
    ) -> list[Forecast]: ...


def _horizon_index(df: pd.DataFrame, horizon: int) -> pd.DatetimeIndex:
    """The `horizon` open times after the series' last candle, at its regular spacing."""
    return future_index(candle_timestamps(df), horizon)


def _last_features(df: pd.DataFrame) -> np.ndarray:
    """The last candle in FEATURES order (missing volume/amount as 0)."""
    return np.array([float(df[f].iloc[-1]) if f in df else 0.0 for f in FEATURES])


class FallbackForecaster:
    """Moving-average drift + geometric random walk with the recent realised volatility.

    Per series: sigma is the standard deviation of the last `vol_window` log returns of the close;
    the drift mu is the slope of the `ma_window`-candle moving average of the close over the last
    `drift_lag` candles, in log terms per candle. Each path's close follows
    `close(t+1) = close(t) * exp(mu - sigma^2 / 2 + sigma * z)`, z ~ N(0, 1); open is the previous
    close, high/low add the median recent wick, volume/amount repeat the recent mean.
    """

    name = "fallback"

    def __init__(self, ma_window: int = 24, drift_lag: int = 24, vol_window: int = 168) -> None:
        if min(ma_window, drift_lag, vol_window) < 1:
            raise ValueError("fallback windows must be >= 1")
        self.ma_window = ma_window
        self.drift_lag = drift_lag
        self.vol_window = vol_window

    @property
    def min_history(self) -> int:
        """Candles needed to use every window in full (fewer still work, with simpler estimates)."""
        return max(self.ma_window + self.drift_lag, self.vol_window + 1)

    def drift_and_volatility(self, close: np.ndarray) -> tuple[float, float]:
        """(mu, sigma) per candle in log-return terms from a close series."""
        log_returns = np.diff(np.log(close))[-self.vol_window :]
        sigma = float(log_returns.std(ddof=1)) if log_returns.size >= 2 else 0.0
        w, k = self.ma_window, self.drift_lag
        if close.size >= w + k:
            mu = float(np.log(close[-w:].mean() / close[-w - k : -k].mean())) / k
        else:
            mu = float(log_returns.mean()) if log_returns.size else 0.0
        return mu, sigma

    def forecast(
        self,
        series: pd.DataFrame | Sequence[pd.DataFrame],
        horizon: int,
        *,
        samples: int = 1,
        seed: int | Sequence[int | None] | None = None,
    ) -> list[Forecast]:
        """One forecast per series with `samples` paths of `horizon` steps."""
        frames = [series] if isinstance(series, pd.DataFrame) else list(series)
        seeds = list(seed) if isinstance(seed, Sequence) else [seed] * len(frames)
        if horizon < 1 or samples < 1:
            raise ValueError("horizon and samples must be >= 1")
        if len(seeds) != len(frames):
            raise ValueError("seed list must have one entry per series")
        return [
            self._one(df, horizon, samples, np.random.default_rng(s))
            for df, s in zip(frames, seeds, strict=True)
        ]

    def _one(
        self, df: pd.DataFrame, horizon: int, samples: int, rng: np.random.Generator
    ) -> Forecast:
        if len(df) < 2:
            raise ValueError("series needs at least 2 rows")
        close = df["close"].to_numpy(dtype=np.float64)
        if not np.isfinite(close).all() or (close <= 0).any():
            raise ValueError("close prices must be finite and positive")
        mu, sigma = self.drift_and_volatility(close)
        steps = mu - 0.5 * sigma**2 + sigma * rng.standard_normal((samples, horizon))
        closes = close[-1] * np.exp(np.cumsum(steps, axis=1))
        opens = np.concatenate([np.full((samples, 1), close[-1]), closes[:, :-1]], axis=1)

        recent = df.iloc[-self.vol_window :]
        body_top = np.maximum(recent["open"], recent["close"]).to_numpy(dtype=np.float64)
        body_bottom = np.minimum(recent["open"], recent["close"]).to_numpy(dtype=np.float64)
        upper = float(np.median(recent["high"].to_numpy(dtype=np.float64) / body_top - 1))
        lower = float(np.median(1 - recent["low"].to_numpy(dtype=np.float64) / body_bottom))

        paths = np.empty((samples, horizon, len(FEATURES)))
        paths[:, :, FEATURES.index("open")] = opens
        paths[:, :, FEATURES.index("close")] = closes
        paths[:, :, FEATURES.index("high")] = np.maximum(opens, closes) * (1 + max(upper, 0.0))
        paths[:, :, FEATURES.index("low")] = np.minimum(opens, closes) * (1 - max(lower, 0.0))
        for name in ("volume", "amount"):
            level = float(recent[name].mean()) if name in recent.columns else 0.0
            paths[:, :, FEATURES.index(name)] = level if np.isfinite(level) else 0.0

        return Forecast(timestamps=_horizon_index(df, horizon), paths=paths)


class NaiveLastPrice:
    """Tomorrow looks like today: the last candle repeated (one path, a zero-width band)."""

    def forecast(
        self, series: list[pd.DataFrame], horizon: int, *, samples: int = 1, seed: int | None = None
    ) -> list[Forecast]:
        """One constant path per series."""
        return [
            Forecast(
                timestamps=_horizon_index(df, horizon),
                paths=np.tile(_last_features(df), (1, horizon, 1)),
            )
            for df in series
        ]


class Drift:
    """Random walk with drift in log price: mean and volatility of the context's log returns,
    Gaussian innovations. Prices follow the simulated close; volume/amount stay at the last."""

    def forecast(
        self,
        series: list[pd.DataFrame],
        horizon: int,
        *,
        samples: int = 100,
        seed: int | None = None,
    ) -> list[Forecast]:
        """`samples` simulated paths per series."""
        rng = np.random.default_rng(seed)
        forecasts = []
        for df in series:
            returns = np.diff(np.log(df["close"].to_numpy(dtype=float)))
            steps = self.mu(returns) + returns.std() * rng.standard_normal((samples, horizon))
            close = float(df["close"].iloc[-1]) * np.exp(np.cumsum(steps, axis=1))
            paths = np.tile(_last_features(df), (samples, horizon, 1))
            paths[:, :, : CLOSE + 1] = close[:, :, None]
            forecasts.append(Forecast(timestamps=_horizon_index(df, horizon), paths=paths))
        return forecasts

    def mu(self, returns: np.ndarray) -> float:
        """The drift per step: the mean of the context's log returns."""
        return float(returns.mean())


class RandomWalk(Drift):
    """The drift baseline without its mu term: median at the last close, the volatility of the
    context's log returns (``forecasting.scoring.random_walk_distribution`` in closed form)."""

    def mu(self, returns: np.ndarray) -> float:
        """No drift."""
        return 0.0
