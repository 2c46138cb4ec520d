"""Candle intervals of the forecasts: which the API serves, and how long a forecast stays valid.

A forecast made from the last closed candle (open time T, interval s) is superseded when the
next candle closes, at T + 2 s: that is the forecast's `validUntil`, and its cache lifetime is
the time from now until then (a 1d forecast stays cached until the daily candle closes). When
the market data lags (that moment has already passed) the lifetime is the configured floor.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from data_sources import MarketDataSource
from forecast_api.http.errors import InvalidRequestError
from forecast_api.settings import ServiceSettings
from forecasting.calibration import BandCalibration
from forecasting.candles import interval_seconds

DEFAULT_INTERVAL = "1h"


def served_intervals(settings: ServiceSettings, source: MarketDataSource) -> list[str]:
    """The FORECAST_INTERVALS the market data can give candles of (1h always: the default)."""
    offered = settings.forecast_intervals
    return [i for i in offered if i == DEFAULT_INTERVAL or source.serves(i)]


def checked_interval(
    served: Sequence[str], interval: str | None, offered: Sequence[str] = ()
) -> str:
    """`interval` (default 1h) if the API serves it; a 422 naming `interval` otherwise (saying
    the market data lacks its candles where it is one of `offered`, FORECAST_INTERVALS)."""
    interval = DEFAULT_INTERVAL if interval is None else interval
    if interval not in served:
        use = f"use one of {', '.join(served)}"
        if interval in offered:
            raise InvalidRequestError(
                f"interval: {interval} is not served: the market data has no {interval} candles "
                f"(the files source needs <SYMBOL>_{interval}.csv in MARKET_DATA_DIR); {use}"
            )
        raise InvalidRequestError(f"interval: unknown interval {interval!r}; {use}")
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
