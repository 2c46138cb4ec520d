"""Candle files of a directory for the offline tools (replays, backtests): one frame per symbol."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from .files import load_candle_dir


def candle_frames(
    directory: str | Path, interval: str, symbols: str | list[str] | None
) -> dict[str, pd.DataFrame]:
    """The candles of `directory` per symbol (all, or the comma list / list `symbols`), indexed
    by open time, each frame's `attrs["symbol"]` set."""
    if isinstance(symbols, str):
        symbols = [s.strip() for s in symbols.split(",")]
    wanted = [s.upper() for s in symbols if s] if symbols else None
    out = {}
    for symbol, frame in load_candle_dir(directory, interval, wanted).items():
        indexed = frame.set_index("timestamp")
        indexed.attrs["symbol"] = symbol
        out[symbol] = indexed
    return out
