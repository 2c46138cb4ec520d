"""Candle validation, intervals, Retry-After parsing and candle TTLs."""

from __future__ import annotations

import math
from email.utils import format_datetime

import pandas as pd
import pytest

from data_sources.errors import MalformedDataError
from data_sources.http import parse_retry_after
from data_sources.live import seconds_until_next_close
from data_sources.models import utcnow, validate_candles
from forecasting.candles import interval_seconds


def _frame(**changes: list) -> pd.DataFrame:
    data = {
        "timestamp": ["2024-01-01T02:00:00Z", "2024-01-01T00:00:00Z", "2024-01-01T01:00:00Z"],
        "open": [3.0, 1.0, 2.0],
        "high": [3.5, 1.5, 2.5],
        "low": [2.5, 0.5, 1.5],
        "close": [3.2, 1.2, 2.2],
        "volume": [10.0, 20.0, 30.0],
        "amount": [32.0, 24.0, 66.0],
    }
    return pd.DataFrame(data | changes)


def test_validate_sorts_and_types() -> None:
    frame = validate_candles(_frame(), source="t")
    assert list(frame["open"]) == [1.0, 2.0, 3.0]
    assert str(frame["timestamp"].dt.tz) == "UTC"
    assert all(frame[c].dtype == "float64" for c in frame.columns[1:])


def test_validate_drops_duplicate_timestamps_keeping_the_last() -> None:
    raw = pd.concat([_frame(), _frame(close=[3.3, 1.3, 2.3])])
    frame = validate_candles(raw, source="t")
    assert len(frame) == 3 and list(frame["close"]) == [1.3, 2.3, 3.3]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"close": [3.2, math.nan, 2.2]}, "non-finite"),
        ({"open": [3.0, -1.0, 2.0], "low": [2.5, -1.5, 1.5]}, "prices <= 0"),
        ({"volume": [10.0, -1.0, 30.0]}, "negative volume"),
        ({"high": [3.1, 1.5, 2.5]}, "high below"),
        ({"low": [2.5, 1.25, 1.5]}, "low above"),
        ({"close": ["3.2", "x", "2.2"]}, "unparsable"),
        ({"timestamp": ["2024-01-01", "garbage", "2024-01-02"]}, "unparsable"),
    ],
)
def test_validate_rejects_bad_candles(changes: dict, message: str) -> None:
    with pytest.raises(MalformedDataError, match=message):
        validate_candles(_frame(**changes), source="t")


def test_validate_rejects_missing_columns_and_empty_frames() -> None:
    with pytest.raises(MalformedDataError, match="lack columns"):
        validate_candles(_frame().drop(columns="amount"), source="t")
    with pytest.raises(MalformedDataError, match="no candles"):
        validate_candles(_frame().iloc[:0], source="t")


def test_intervals() -> None:
    assert interval_seconds("1h") == 3600
    assert interval_seconds("15m") == 900
    assert interval_seconds("1d") == 86400
    with pytest.raises(ValueError, match="unsupported interval"):
        interval_seconds("1M")


def test_parse_retry_after() -> None:
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    in_a_minute = format_datetime(utcnow() + pd.Timedelta(seconds=60), usegmt=True)
    assert 55 <= parse_retry_after(in_a_minute) <= 61


def test_candles_stay_fresh_until_the_next_candle_closes() -> None:
    frame = pd.DataFrame({"timestamp": pd.to_datetime(["2024-01-01T10:00:00Z"])})
    opened = frame["timestamp"].iloc[0].timestamp()
    # the 10:00 candle closed at 11:00; the next one closes at 12:00
    assert seconds_until_next_close(frame, 3600, now=opened + 3600 + 5) == 3600 - 5
    # data lagging behind the clock: refetch after a minute, not in a tight loop
    assert seconds_until_next_close(frame, 3600, now=opened + 5 * 3600) == 60
