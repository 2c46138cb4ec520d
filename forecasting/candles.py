"""Candle conventions, written once: timestamps, the feature matrix and future timestamps.

A candle series is a DataFrame with a `timestamp` column (or a DatetimeIndex) of candle open
times, the prices `open`, `high`, `low`, `close`, and optionally `volume` and `amount` (quote
volume). The missing-volume rule is the Kronos reference's: no volume means volume and amount 0;
volume without amount means amount = volume x mean(open, high, low, close).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from forecasting.forecast import FEATURES, PRICES

_INTERVAL_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
#: Binance's fixed-length kline intervals (`1M` has no fixed length and is not supported).
INTERVALS = (
    *("1s", "1m", "3m", "5m", "15m", "30m"),
    *("1h", "2h", "4h", "6h", "8h", "12h", "1d", "3d", "1w"),
)


def interval_seconds(interval: str) -> int:
    """Length of a kline interval such as `1h` in seconds; ValueError for unsupported ones."""
    if interval not in INTERVALS:
        raise ValueError(f"unsupported interval {interval!r}; use one of {', '.join(INTERVALS)}")
    return int(interval[:-1]) * _INTERVAL_UNITS[interval[-1]]


def candle_timestamps(df: pd.DataFrame, name: str = "series") -> pd.DatetimeIndex:
    """The series' timestamps in UTC; ValueError naming `name` unless present, unique, sorted."""
    if "timestamp" in df.columns:
        ts = pd.DatetimeIndex(pd.to_datetime(df["timestamp"], utc=True))
    elif isinstance(df.index, pd.DatetimeIndex):
        ts = df.index
        ts = ts.tz_localize("UTC") if ts.tz is None else ts.tz_convert("UTC")
    else:
        raise ValueError(f"{name} has neither a 'timestamp' column nor a DatetimeIndex")
    if ts.hasnans:
        raise ValueError(f"{name} has missing timestamps")
    if ts.has_duplicates:
        raise ValueError(f"{name} has duplicate timestamps")
    if not ts.is_monotonic_increasing:
        raise ValueError(f"{name} timestamps are not sorted ascending")
    return ts


def derived_amount(volume: np.ndarray, open_, high, low, close) -> np.ndarray:
    """Quote volume when a series has none: volume x the mean of the four prices."""
    return np.asarray(volume, dtype=np.float64) * np.mean([open_, high, low, close], axis=0)


def feature_matrix(df: pd.DataFrame, name: str = "series") -> np.ndarray:
    """(n, 6) float64 in FEATURES order with the missing volume/amount rule applied; ValueError
    naming `name` for missing columns, non-numeric or non-finite values."""
    missing = [c for c in PRICES if c not in df.columns]
    if missing:
        raise ValueError(f"{name} is missing column(s) {missing}")
    present = [c for c in FEATURES if c in df.columns]
    try:
        values = df[present].to_numpy(dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} has non-numeric values in {present}") from exc
    bad = [c for c, ok in zip(present, np.isfinite(values).all(axis=0), strict=True) if not ok]
    if bad:
        raise ValueError(f"{name} column(s) {bad} contain NaN or infinite values")
    cols = dict(zip(present, values.T, strict=True))
    if "volume" not in cols:
        cols["volume"] = np.zeros(len(df))
        cols["amount"] = np.zeros(len(df))
    elif "amount" not in cols:
        cols["amount"] = derived_amount(cols["volume"], *(cols[c] for c in PRICES))
    return np.stack([cols[c] for c in FEATURES], axis=1)


def regular_step(ts: pd.DatetimeIndex, name: str = "series") -> pd.Timedelta:
    """The one spacing of a regularly spaced series; ValueError naming `name` otherwise."""
    steps = np.diff(ts.as_unit("ns").asi8)
    if steps.size == 0:
        raise ValueError(f"{name} needs at least 2 candles to know its spacing")
    if (steps != steps[0]).any():
        raise ValueError(f"{name} has an irregular frequency; pass future_timestamps for it")
    return pd.Timedelta(int(steps[0]), unit="ns")


def future_index(
    ts: pd.DatetimeIndex, horizon: int, given: object | None = None, name: str = "series"
) -> pd.DatetimeIndex:
    """The horizon's open times: `given` checked, or continued at the regular spacing of `ts`."""
    if given is None:
        step = regular_step(ts, name)
        offsets = pd.to_timedelta(np.arange(1, horizon + 1) * step.value, unit="ns")
        return pd.DatetimeIndex(ts[-1] + offsets)
    future = pd.DatetimeIndex(pd.to_datetime(given, utc=True))
    if len(future) != horizon:
        raise ValueError(f"future_timestamps for {name} has {len(future)} entries, not {horizon}")
    if future.hasnans or not future.is_monotonic_increasing or future.has_duplicates:
        raise ValueError(f"future_timestamps for {name} must be strictly increasing")
    if future[0] <= ts[-1]:
        raise ValueError(f"future_timestamps for {name} must come after its last candle")
    return future
