"""Turn sample paths into the response's prediction: per-step prices, bands, trend, confidence.

Definitions (the README repeats them):
- `price` at step h: mean close over the sample paths; `median`, `low`, `high`: the 50%, 10% and
  90% quantiles of the close over the paths (or the calibrated 80% band when a calibration is set).
- reference step H = min(24, horizon); `price_24h` = `price` at step H.
- r_i = close_i(H) / last_close - 1 for each path i; r = price_24h / last_close - 1.
- `trend`: "bullish" if r > tau, "bearish" if r < -tau, otherwise "neutral" (tau: TREND_THRESHOLD).
- `confidence`: the share of paths that agree with `trend`: r_i > tau for bullish, r_i < -tau for
  bearish, |r_i| <= tau for neutral. A number in [0, 1].
- `upProbability`: the share of paths with close_i(H) > last_close.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from forecasting.calibration import BandCalibration
from forecasting.forecast import Forecast

BAND_LEVEL = 0.8  # central band: the 10% and 90% quantiles
BAND_LEVELS = (0.1, 0.9)


@dataclass(frozen=True)
class Summary:
    """What a forecast's close paths say, per step and at the reference step."""

    timestamps: pd.DatetimeIndex  # (horizon,) open times of the forecast candles
    mean: np.ndarray  # (horizon,) mean close
    median: np.ndarray  # (horizon,)
    low: np.ndarray  # (horizon,) band edges: BAND_LEVELS quantiles, or calibrated
    high: np.ndarray  # (horizon,)
    price_24h: float
    trend: str
    confidence: float
    up_probability: float
    calibrated: bool
    samples: int

    @property
    def horizon(self) -> int:
        """Number of forecast steps."""
        return len(self.mean)


def reference_step(horizon: int) -> int:
    """Zero-based index of the step `price_24h` refers to: hour min(24, horizon)."""
    return min(24, horizon) - 1


def classify_trend(
    final_closes: np.ndarray, last_close: float, threshold: float
) -> tuple[str, float]:
    """Trend from the mean return at the reference step, and the share of paths agreeing."""
    returns = final_closes / last_close - 1.0
    mean_return = float(final_closes.mean()) / last_close - 1.0
    if mean_return > threshold:
        return "bullish", float((returns > threshold).mean())
    if mean_return < -threshold:
        return "bearish", float((returns < -threshold).mean())
    return "neutral", float((np.abs(returns) <= threshold).mean())


def summarize(
    forecast: Forecast,
    last_close: float,
    *,
    trend_threshold: float,
    calibration: BandCalibration | None = None,
) -> Summary:
    """Summarise a forecast's close paths; `calibration` (if given) sets the band edges."""
    closes = forecast.closes
    if calibration is not None:
        low, high = calibration.band(forecast, level=BAND_LEVEL, feature="close")
        low = np.maximum(low, 0.0)  # a widened band must not promise negative prices
    else:
        low, high = np.quantile(closes, BAND_LEVELS, axis=0)
    mean = closes.mean(axis=0)
    step = reference_step(closes.shape[1])
    trend, confidence = classify_trend(closes[:, step], last_close, trend_threshold)
    return Summary(
        timestamps=forecast.timestamps,
        mean=mean,
        median=np.quantile(closes, 0.5, axis=0),
        low=low,
        high=high,
        price_24h=float(mean[step]),
        trend=trend,
        confidence=round(confidence, 4),
        up_probability=round(float((closes[:, step] > last_close).mean()), 4),
        calibrated=calibration is not None,
        samples=closes.shape[0],
    )
