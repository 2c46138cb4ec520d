"""Whether a scheduled forecast fires a rule, and the numbers that fired it.

P(close > price at `hours`) is the served `above` distribution field (`with_distribution`: the
ledger's rolling calibration where it covers the step, the share of paths elsewhere), read at
step hours / interval of the forecast.
"""

from __future__ import annotations

from typing import Any

from forecast_api.forecasts.distribution import DistributionRequest, with_distribution
from forecast_api.http.responses import CachedForecast
from forecasting.candles import interval_seconds
from ledger.alerts import AlertRule


def step_of(hours: int, interval: str) -> int:
    """The forecast step `hours` after the origin; ValueError unless a whole number of steps."""
    seconds, step = hours * 3600, interval_seconds(interval)
    if seconds % step:
        raise ValueError(f"hours: {hours} is not a whole number of {interval} candles")
    return seconds // step


def fired(rule: AlertRule, forecast: CachedForecast) -> dict[str, Any] | None:
    """The numbers that fire `rule` on `forecast`, or None when it does not fire."""
    c, prediction = rule.condition, forecast.prediction
    if "trend" in c:
        if prediction.trend != c["trend"] or prediction.confidence < c["minConfidence"]:
            return None
        return {
            "trend": prediction.trend,
            "confidence": prediction.confidence,
            "minConfidence": c["minConfidence"],
        }
    step = step_of(c["hours"], rule.interval)
    if forecast.closes is None or step > len(prediction.predictions):
        return None
    wanted = DistributionRequest(above=(float(c["above"]),))
    served = with_distribution(
        prediction, forecast.closes, wanted, forecast.calibration, forecast.rolling
    )
    probability = served.predictions[step - 1].above[0].probability
    if probability < c["probability"]:
        return None
    return {
        "price": c["above"],
        "hours": c["hours"],
        "step": step,
        "probability": probability,
        "minProbability": c["probability"],
        "calibrated": served.distributionCalibrated.above,
    }
