"""The gap rule: regularise a candle series before a forecaster sees it.

Exchanges leave holes in their klines when trading halts. A series with holes is made regular:

1. Each missing candle is filled as a flat, zero-volume candle at the previous close
   (open = high = low = close = previous close, volume = amount = 0), the convention exchanges
   use for halted trading, as long as at most ``max_fill`` candles are filled in the series.
2. Gaps are taken from the newest backwards; the series starts after the newest gap that would
   take the total past ``max_fill`` (or whose spacing is not a whole number of steps): the
   longest recent stretch that is regular under rule 1.
3. When that stretch has fewer than ``min_length`` candles, the series is not usable and the
   result says why (the service then answers from its fallback with that reason).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

#: Filled candles allowed in one series unless a caller says otherwise: a few hours of halted
#: trading (issue 10: Binance spot lost 12 hours in 5 gaps between 2021 and 2023).
DEFAULT_MAX_FILL = 6
FLAT_PRICES = ("open", "high", "low", "close")
ZERO_VOLUMES = ("volume", "amount")


@dataclass(frozen=True)
class Gap:
    """``missing`` candles absent after the candle that opened at ``after``."""

    after: pd.Timestamp
    missing: int


@dataclass(frozen=True)
class GapResult:
    """What :func:`regularise` did: candles filled (and where), candles dropped from the start,
    the gap that cut the series there (``missing == -1``: an irregular step), and why the series
    is unusable (None when it is usable)."""

    filled: int = 0
    gaps: tuple[Gap, ...] = ()
    dropped: int = 0
    cut: Gap | None = None
    reason: str | None = None

    @property
    def ok(self) -> bool:
        """True when the regularised series may be given to a forecaster."""
        return self.reason is None


def infer_step(timestamps: pd.Series | pd.DatetimeIndex) -> pd.Timedelta:
    """The series' candle spacing: its smallest positive step (gaps only make steps longer)."""
    diffs = np.diff(pd.DatetimeIndex(timestamps).as_unit("ns").asi8)
    positive = diffs[diffs > 0]
    if positive.size == 0:
        raise ValueError("need at least two distinct timestamps to infer the candle spacing")
    return pd.Timedelta(int(positive.min()), unit="ns")


def find_gaps(
    timestamps: pd.Series | pd.DatetimeIndex, step: pd.Timedelta
) -> tuple[np.ndarray, np.ndarray]:
    """(row index after which a break is, missing candles there) for every step != ``step``;
    a break that is not a whole number of steps (or not forward) counts as unfillable (-1)."""
    stamps = pd.DatetimeIndex(timestamps).as_unit("ns").asi8
    step_ns = int(pd.Timedelta(step).value)
    diffs = np.diff(stamps)
    where = np.flatnonzero(diffs != step_ns)
    spans = diffs[where]
    whole = (spans > 0) & (spans % step_ns == 0)
    missing = np.where(whole, spans // step_ns - 1, -1)
    return where, missing


def _start_row(where: np.ndarray, missing: np.ndarray, max_fill: int) -> int:
    """First row of the longest recent stretch whose gaps total at most ``max_fill``."""
    filled = 0
    for row, count in zip(where[::-1], missing[::-1], strict=True):
        if count < 0 or filled + count > max_fill:
            return int(row) + 1
        filled += int(count)
    return 0


def _fill(frame: pd.DataFrame, step: pd.Timedelta) -> pd.DataFrame:
    """``frame`` on its full regular grid, missing candles flat at the previous close."""
    stamps = pd.DatetimeIndex(frame["timestamp"])
    grid = pd.date_range(stamps[0], stamps[-1], freq=step)
    out = frame.set_index(stamps).reindex(grid)
    absent = out["close"].isna().to_numpy()
    previous_close = out["close"].ffill()
    for column in FLAT_PRICES:
        if column in out.columns:
            out.loc[absent, column] = previous_close[absent]
    for column in ZERO_VOLUMES:
        if column in out.columns:
            out.loc[absent, column] = 0.0
    out = out.ffill()  # any other column carries its last value
    out["timestamp"] = grid
    return out.reset_index(drop=True)


def regularise(
    frame: pd.DataFrame,
    *,
    max_fill: int,
    min_length: int,
    step: pd.Timedelta | None = None,
) -> tuple[pd.DataFrame, GapResult]:
    """``frame`` (ascending ``timestamp`` column) made regular by the gap rule, and what was done.

    ``step`` is the candle spacing (inferred as the smallest step when None). The returned frame
    is the regular stretch even when it is too short (then ``result.ok`` is False).
    """
    if max_fill < 0 or min_length < 1:
        raise ValueError("max_fill must be >= 0 and min_length >= 1")
    if len(frame) < 2:
        return frame, GapResult(reason=_reason(len(frame), min_length, None, max_fill))
    step = infer_step(frame["timestamp"]) if step is None else pd.Timedelta(step)
    where, missing = find_gaps(frame["timestamp"], step)
    start = _start_row(where, missing, max_fill)
    opened = frame["timestamp"]
    kept = where >= start
    gaps = tuple(
        Gap(opened.iloc[row], int(count))
        for row, count in zip(where[kept], missing[kept], strict=True)
    )
    cut = Gap(opened.iloc[start - 1], int(missing[~kept][-1])) if start else None
    stretch = frame.iloc[start:].reset_index(drop=True) if start else frame
    out = _fill(stretch, step) if gaps else stretch
    result = GapResult(
        filled=sum(g.missing for g in gaps),
        gaps=gaps,
        dropped=start,
        cut=cut,
        reason=_reason(len(out), min_length, cut, max_fill),
    )
    return out, result


def _reason(length: int, min_length: int, cut: Gap | None, max_fill: int) -> str | None:
    """Why a regular stretch of ``length`` candles cannot be used (None when it can)."""
    if length >= min_length:
        return None
    if cut is None:
        why = "the series"
    elif cut.missing < 0:
        why = f"an irregular step after {cut.after}"
    else:
        why = (
            f"a gap of {cut.missing} missing candles after {cut.after} (at most {max_fill} filled)"
        )
    return f"{why} leaves {length} regular candles, fewer than the {min_length} needed"
