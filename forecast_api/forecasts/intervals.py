"""Candle intervals of the forecasts: which the API serves, and how long a forecast stays valid.

A forecast made from the last closed candle (open time T, interval s) is superseded when the
next candle closes, at T + 2 s: that is the forecast's `validUntil`, and its cache lifetime is
the time from now until then (a 1d forecast stays cached until the daily candle closes). When
the market data lags (that moment has already passed) the lifetime is the configured floor.
"""

from __future__ import annotations

import pandas as pd

from forecast_api.http.errors import InvalidRequestError
from forecast_api.settings import ServiceSettings
from forecasting.calibration import BandCalibration
from forecasting.candles import interval_seconds

DEFAULT_INTERVAL = "1h"


def checked_interval(settings: ServiceSettings, interval: str | None) -> str:
    """`interval` (default 1h) if the API serves it; a 422 naming `interval` otherwise."""
    interval = DEFAULT_INTERVAL if interval is None else interval
    if interval not in settings.forecast_intervals:
        served = ", ".join(settings.forecast_intervals)
        raise InvalidRequestError(f"interval: unknown interval {interval!r}; use one of {served}")
    return interval


def next_close(last_open: pd.Timestamp, interval: str) -> pd.Timestamp:
    """When the candle after the last closed one (opened at `last_open`) closes."""
    return last_open + pd.Timedelta(seconds=2 * interval_seconds(interval))


def time_to_live(last_open: pd.Timestamp, interval: str, now_s: float, floor: float) -> float:
    """Seconds from `now_s` (Unix) until `next_close`, at least `floor`."""
    return max(next_close(last_open, interval).timestamp() - now_s, floor)


def calibration_for(
    calibration: BandCalibration | None, step: pd.Timedelta
) -> BandCalibration | None:
    """`calibration` if it was fitted on candles of `step` (its metadata's `interval`, 1h when
    unstated), else None: a 1h calibration says nothing about 1d bands."""
    if calibration is None:
        return None
    try:
        fitted = interval_seconds(str(calibration.metadata.get("interval", DEFAULT_INTERVAL)))
    except ValueError:
        return None
    return calibration if fitted == step.total_seconds() else None
