"""Reading a directory of candle files (``<SYMBOL>_<interval>.csv`` or ``.parquet``)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pandas as pd

PRICE_COLUMNS = ("open", "high", "low", "close")


def read_candles(path: str | Path) -> pd.DataFrame:
    """One candle file as a DataFrame: ``timestamp`` (UTC), prices, volume[, amount], ascending."""
    path = Path(path)
    df = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
    missing = [c for c in ("timestamp", *PRICE_COLUMNS) if c not in df.columns]
    if missing:
        raise ValueError(f"{path.name}: missing columns {missing}")
    df["timestamp"] = pd.to_datetime(df["timestamp"], utc=True)
    return df.sort_values("timestamp").reset_index(drop=True)


def load_candle_dir(
    directory: str | Path, interval: str = "1h", symbols: Iterable[str] | None = None
) -> dict[str, pd.DataFrame]:
    """All ``<SYMBOL>_<interval>`` files of a directory, keyed by upper-case symbol."""
    directory = Path(directory)
    wanted = {s.upper() for s in symbols} if symbols else None
    frames = {}
    for path in sorted(directory.glob(f"*_{interval}.*")):
        if path.suffix not in (".csv", ".parquet"):
            continue
        symbol = path.name[: -len(f"_{interval}{path.suffix}")].upper()
        if wanted is None or symbol in wanted:
            frames[symbol] = read_candles(path)
    if not frames:
        raise ValueError(f"no {interval} candle files for {symbols or 'any symbol'} in {directory}")
    if wanted and (absent := wanted - frames.keys()):
        raise ValueError(f"no {interval} candle files for {sorted(absent)} in {directory}")
    return frames
