"""Backtest windows: rolling forecast origins over candle files, each with its context
(regularised by the gap rule) and its truth, and the origins skipped with why."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from forecasting.gaps import DEFAULT_MAX_FILL, infer_step, regularise


@dataclass
class Window:
    """One forecast origin: the context before it (regularised by the gap rule, ``filled``
    candles filled) and the true closes after it."""

    symbol: str
    origin: pd.Timestamp
    truth_end: pd.Timestamp
    context: pd.DataFrame
    truth: np.ndarray
    last: float
    filled: int = 0


@dataclass(frozen=True)
class SkippedWindow:
    """An origin that was not forecast, and why."""

    symbol: str
    origin: pd.Timestamp
    reason: str


class Windows(list):
    """The windows of a backtest (a list of :class:`Window`) and the origins ``skipped``."""

    def __init__(self, windows: Sequence[Window] = (), skipped: Sequence[SkippedWindow] = ()):
        super().__init__(windows)
        self.skipped = list(skipped)

    @property
    def filled(self) -> int:
        """How many windows had candles filled in their context."""
        return sum(1 for w in self if w.filled)


@dataclass(frozen=True)
class GapRule:
    """The gap rule's limits for one series (``forecasting.gaps``) and its candle spacing."""

    step: pd.Timedelta
    max_fill: int
    min_length: int


def _window(
    symbol: str, df: pd.DataFrame, origin: int, lookback: int, horizon: int, gap_rule: GapRule
) -> Window | SkippedWindow:
    """The window at row ``origin``, or why it is skipped: truth spanning a gap (never scored
    against shifted candles), or a context the gap rule cannot make regular."""
    ts = df["timestamp"]
    step = gap_rule.step
    expected = ts.iloc[origin - 1] + step * np.arange(1, horizon + 1)
    truth_ts = pd.DatetimeIndex(ts.iloc[origin : origin + horizon])
    if not truth_ts.equals(pd.DatetimeIndex(expected)):
        missing = int((truth_ts[-1] - expected[-1]) / step) if len(truth_ts) else horizon
        return SkippedWindow(
            symbol, ts.iloc[origin], f"truth spans a gap ({missing} candle(s) missing)"
        )
    context, result = regularise(
        df.iloc[origin - lookback : origin],
        max_fill=gap_rule.max_fill,
        min_length=gap_rule.min_length,
        step=step,
    )
    if not result.ok:
        return SkippedWindow(symbol, ts.iloc[origin], f"context: {result.reason}")
    close = df["close"].to_numpy(dtype=float)
    return Window(
        symbol=symbol,
        origin=ts.iloc[origin],
        truth_end=ts.iloc[origin + horizon - 1],
        context=context,
        truth=close[origin : origin + horizon],
        last=close[origin - 1],
        filled=result.filled,
    )


def rolling_windows(
    frames: dict[str, pd.DataFrame],
    start: pd.Timestamp,
    lookback: int,
    horizon: int,
    stride: int,
    end: pd.Timestamp | None = None,
    *,
    max_fill: int = DEFAULT_MAX_FILL,
    min_context: int | None = None,
) -> Windows:
    """Origins every ``stride`` candles from ``start`` (to ``end``), each with ``lookback``
    candles of context and ``horizon`` candles of truth inside the file.

    Contexts with gaps are regularised by the gap rule (at most ``max_fill`` filled candles,
    else the recent regular stretch if it has ``min_context`` candles, default ``lookback``
    // 2); origins whose truth spans a gap or whose context cannot be used are skipped.
    """
    min_length = max(1, lookback // 2) if min_context is None else min_context
    windows = Windows()
    for symbol, df in frames.items():
        ts = df["timestamp"]
        rule = GapRule(infer_step(ts), max_fill, min(min_length, lookback))
        first = max(int(np.searchsorted(ts, start)), lookback)
        last = len(df) - horizon if end is None else int(np.searchsorted(ts, end))
        for origin in range(first, min(last, len(df) - horizon) + 1, stride):
            window = _window(symbol, df, origin, lookback, horizon, rule)
            (windows if isinstance(window, Window) else windows.skipped).append(window)
    return windows
