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
from typing import TYPE_CHECKING, Literal

import numpy as np

from forecast_service.schemas import Prediction, PredictionPoint, Trend, iso_utc
from kronos_runner import FEATURES, Forecast

if TYPE_CHECKING:
    from kronos_runner.calibration import BandCalibration

CLOSE = FEATURES.index("close")
BAND_LEVEL = 0.8  # central band: the 10% and 90% quantiles
BAND_LEVELS = (0.1, 0.9)


@dataclass(frozen=True)
class ForecastMeta:
    """Who produced a forecast and with which request parameters."""

    model: Literal["kronos", "fallback"]
    model_id: str
    tokenizer_id: str | None
    samples: int
    seed: int | None
    reason: str | None = None


def reference_step(horizon: int) -> int:
    """Zero-based index of the step `price_24h` refers to: hour min(24, horizon)."""
    return min(24, horizon) - 1


def classify_trend(
    final_closes: np.ndarray, last_close: float, threshold: float
) -> tuple[Trend, float]:
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
    meta: ForecastMeta,
    *,
    trend_threshold: float,
    calibration: BandCalibration | None = None,
) -> Prediction:
    """Summarise a forecast's close paths into the response's `prediction` object."""
    closes = np.asarray(forecast.paths, dtype=np.float64)[:, :, CLOSE]
    horizon = closes.shape[1]
    mean = closes.mean(axis=0)
    median = np.quantile(closes, 0.5, axis=0)
    calibrated = calibration is not None and meta.model == "kronos"
    if calibrated:
        low, high = calibration.band(forecast, level=BAND_LEVEL, feature="close")
        low = np.maximum(low, 0.0)  # a widened band must not promise negative prices
    else:
        low, high = np.quantile(closes, BAND_LEVELS, axis=0)
    step = reference_step(horizon)
    trend, confidence = classify_trend(closes[:, step], last_close, trend_threshold)
    points = [
        PredictionPoint(
            hour=h + 1,
            price=float(mean[h]),
            timestamp=iso_utc(forecast.timestamps[h]),
            median=float(median[h]),
            low=float(low[h]),
            high=float(high[h]),
        )
        for h in range(horizon)
    ]
    return Prediction(
        price_24h=float(mean[step]),
        confidence=round(confidence, 4),
        trend=trend,
        predictions=points,
        model=meta.model,
        modelId=meta.model_id,
        tokenizerId=meta.tokenizer_id,
        fallbackReason=meta.reason,
        upProbability=round(float((closes[:, step] > last_close).mean()), 4),
        bandLevels=BAND_LEVELS,
        calibrated=calibrated,
        horizon=horizon,
        samples=closes.shape[0],
        seed=meta.seed,
    )
