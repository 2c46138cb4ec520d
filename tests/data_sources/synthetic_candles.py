"""Many small synthetic hourly candle files (a stand-in for an exchange's few hundred pairs)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

END = pd.Timestamp("2025-10-01T00:00:00Z")  # open time of the last candle written


def universe_symbols(count: int) -> list[str]:
    """`count` symbols: BTC and ETH (CoinGecko ids known), then C000, C001, ..."""
    return ["BTC", "ETH", *(f"C{i:03d}" for i in range(count - 2))]


def candles(symbol_index: int, hours: int) -> pd.DataFrame:
    """`hours` hourly candles of a seeded random walk ending at END."""
    rng = np.random.default_rng(symbol_index)
    close = (10.0 + symbol_index) * np.exp(np.cumsum(0.01 * rng.standard_normal(hours)))
    open_ = np.append(close[0], close[:-1])
    spread = 1 + 0.004 * rng.random(hours)
    volume = 1000 + 100 * rng.random(hours)
    return pd.DataFrame(
        {
            "timestamp": pd.date_range(end=END, periods=hours, freq="1h"),
            "open": open_,
            "high": np.maximum(open_, close) * spread,
            "low": np.minimum(open_, close) / spread,
            "close": close,
            "volume": volume,
            "amount": volume * close,
        }
    )


def write_universe(directory: Path, count: int, hours: int) -> dict[str, pd.DataFrame]:
    """`<SYMBOL>_1h.csv` for `count` symbols in `directory`; the frames by symbol."""
    frames = {s: candles(i, hours) for i, s in enumerate(universe_symbols(count))}
    for symbol, frame in frames.items():
        frame.to_csv(directory / f"{symbol}_1h.csv", index=False, date_format="%Y-%m-%dT%H:%M:%SZ")
    return frames
