"""The gap rule: flat zero-volume fills up to a limit, else the longest recent regular stretch."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecasting.gaps import find_gaps, infer_step, regularise

HOUR = pd.Timedelta(hours=1)


def _candles(n: int, drop: list[int] = ()) -> pd.DataFrame:
    """``n`` hourly candles (close = 100 + row, distinct OHLC) with the rows in ``drop`` removed."""
    close = 100.0 + np.arange(n)
    frame = pd.DataFrame(
        {
            "timestamp": pd.date_range("2023-03-24", periods=n, freq="h", tz="UTC"),
            "open": close - 0.5,
            "high": close + 1,
            "low": close - 1,
            "close": close,
            "volume": np.full(n, 3.0),
            "amount": close * 3,
        }
    )
    return frame.drop(index=list(drop)).reset_index(drop=True)


def test_a_regular_series_is_returned_as_it_is() -> None:
    frame = _candles(10)
    out, result = regularise(frame, max_fill=2, min_length=5)
    assert out is frame
    assert result.ok and result.filled == 0 and result.gaps == () and result.dropped == 0


def test_one_missing_candle_is_flat_at_the_previous_close_with_zero_volume() -> None:
    full = _candles(10)
    out, result = regularise(_candles(10, drop=[6]), max_fill=2, min_length=5)
    assert result.ok and result.filled == 1 and result.dropped == 0
    assert [(g.after, g.missing) for g in result.gaps] == [(full["timestamp"][5], 1)]
    pd.testing.assert_series_equal(out["timestamp"], full["timestamp"], check_dtype=False)
    filled = out.iloc[6]
    assert [filled[c] for c in ("open", "high", "low", "close")] == [105.0] * 4
    assert filled["volume"] == 0 and filled["amount"] == 0
    others = out.drop(index=6).reset_index(drop=True)
    expected = full.drop(index=6).reset_index(drop=True)
    pd.testing.assert_frame_equal(others, expected, check_dtype=False)


def test_gaps_are_filled_up_to_max_fill_in_total() -> None:
    out, result = regularise(_candles(20, drop=[4, 5, 12]), max_fill=3, min_length=5)
    assert result.ok and result.filled == 3 and len(out) == 20
    assert [g.missing for g in result.gaps] == [2, 1]


def test_beyond_max_fill_the_series_starts_after_the_gap_that_exceeds_it() -> None:
    # Gaps of 2 (rows 4-5) and 1 (row 12): the newest fits max_fill=2, both together do not.
    frame = _candles(20, drop=[4, 5, 12])
    out, result = regularise(frame, max_fill=2, min_length=5)
    assert result.ok and result.filled == 1 and result.dropped == 4
    assert out["timestamp"].iloc[0] == _candles(20)["timestamp"][6]
    assert len(out) == 14 and (np.diff(out["timestamp"].to_numpy()) == HOUR.to_numpy()).all()
    assert result.cut is not None and result.cut.missing == 2


def test_too_short_a_stretch_is_reported_with_the_gap_that_cut_it() -> None:
    frame = _candles(30, drop=list(range(10, 22)))  # a 12-hour halt, as Binance had
    out, result = regularise(frame, max_fill=3, min_length=10)
    assert not result.ok and len(out) == 8
    assert "gap of 12 missing candles after 2023-03-24 09:00:00+00:00" in result.reason
    assert "8 regular candles, fewer than the 10 needed" in result.reason


def test_max_fill_zero_keeps_only_the_regular_tail() -> None:
    out, result = regularise(_candles(20, drop=[5]), max_fill=0, min_length=3)
    assert result.ok and result.filled == 0 and len(out) == 14


def test_an_irregular_step_cannot_be_filled() -> None:
    frame = _candles(12)
    frame.loc[6:, "timestamp"] += pd.Timedelta(minutes=30)
    out, result = regularise(frame, max_fill=5, min_length=8, step=HOUR)
    assert not result.ok and len(out) == 6 and "irregular step" in result.reason
    assert result.cut is not None and result.cut.missing == -1


def test_other_columns_carry_their_last_value() -> None:
    frame = _candles(6, drop=[3]).assign(trades=[1, 2, 3, 5, 6])
    out, _ = regularise(frame, max_fill=1, min_length=2)
    assert out["trades"].tolist() == [1, 2, 3, 3, 5, 6]


def test_step_and_gaps_are_found() -> None:
    stamps = _candles(10, drop=[3, 7, 8])["timestamp"]
    assert infer_step(stamps) == HOUR
    where, missing = find_gaps(stamps, HOUR)
    assert where.tolist() == [2, 5] and missing.tolist() == [1, 2]


@pytest.mark.parametrize(
    "kwargs", [{"max_fill": -1, "min_length": 2}, {"max_fill": 1, "min_length": 0}]
)
def test_bad_limits_are_rejected(kwargs: dict[str, int]) -> None:
    with pytest.raises(ValueError):
        regularise(_candles(5), **kwargs)


def test_a_single_candle_is_too_short_for_two() -> None:
    _, result = regularise(_candles(1), max_fill=1, min_length=2)
    assert not result.ok
