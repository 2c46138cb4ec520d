"""Candle files of a directory (`<SYMBOL>_<interval>.csv|.parquet`): reading and validating one,
loading a directory for the offline tools (training, backtests, replays), resampling 1h files."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

import pandas as pd

from forecasting.candles import derived_amount, interval_seconds
from forecasting.forecast import PRICES

from .errors import MalformedDataError
from .models import validate_candles

NAME = "files"
BASE_INTERVAL = "1h"  # the interval other ones are resampled from


def read_candle_file(path: Path) -> pd.DataFrame:
    """One validated candle file (csv or parquet; timestamps as text or Unix ms); a missing
    `amount` follows the candle convention (`forecasting.candles.derived_amount`)."""
    try:
        raw = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
    except (OSError, ValueError) as exc:
        raise MalformedDataError(f"files: cannot read {path}: {exc}", upstream=NAME) from exc
    if "amount" not in raw.columns and {"volume", *PRICES} <= set(raw.columns):
        prices = [pd.to_numeric(raw[c], errors="coerce") for c in PRICES]
        raw["amount"] = derived_amount(pd.to_numeric(raw["volume"], errors="coerce"), *prices)
    if "timestamp" in raw.columns and pd.api.types.is_numeric_dtype(raw["timestamp"]):
        raw["timestamp"] = pd.to_datetime(raw["timestamp"], unit="ms", utc=True)
    return validate_candles(raw, source=f"files:{path.name}")


def load_candle_dir(
    directory: str | Path, interval: str = "1h", symbols: Iterable[str] | None = None
) -> dict[str, pd.DataFrame]:
    """All `<SYMBOL>_<interval>` files of a directory, keyed by upper-case symbol (for the
    training and backtest tools); without any such file, an interval the files source resamples
    (whole hours up to 1d) is resampled from the `1h` files, complete periods only."""
    directory = Path(directory)
    step = interval_seconds(interval)
    if not any(directory.glob(f"*_{interval}.*")) and resamples_hourly(step):
        hourly = _load_exact(directory, BASE_INTERVAL, symbols)
        return {symbol: resample_candles(frame, step) for symbol, frame in hourly.items()}
    return _load_exact(directory, interval, symbols)


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


def resamples_hourly(step_s: int) -> bool:
    """Whether an interval of `step_s` seconds without its own file is made from the 1h file."""
    return step_s % 3600 == 0 and 3600 < step_s <= 86400


def _candle_files(directory: Path, interval: str) -> Iterator[tuple[str, Path]]:
    """(upper-case symbol, path) of each `<SYMBOL>_<interval>` csv or parquet file, by name."""
    for path in sorted(directory.glob(f"*_{interval}.*")):
        if path.suffix in (".csv", ".parquet"):
            yield path.name[: -len(f"_{interval}{path.suffix}")].upper(), path


def file_symbols(directory: Path, interval: str) -> list[str]:
    """The symbols with an `interval` candle file in `directory` (each once, by name)."""
    return list(dict.fromkeys(symbol for symbol, _ in _candle_files(directory, interval)))


def _load_exact(
    directory: Path, interval: str, symbols: Iterable[str] | None
) -> dict[str, pd.DataFrame]:
    wanted = {s.upper() for s in symbols} if symbols else None
    frames = {}
    for symbol, path in _candle_files(directory, interval):
        if wanted is None or symbol in wanted:
            frames[symbol] = read_candle_file(path)
    if not frames:
        raise ValueError(f"no {interval} candle files for {symbols or 'any symbol'} in {directory}")
    if wanted and (absent := wanted - frames.keys()):
        raise ValueError(f"no {interval} candle files for {sorted(absent)} in {directory}")
    return frames


def resample_candles(frame: pd.DataFrame, step_s: int, base_s: int = 3600) -> pd.DataFrame:
    """Aggregate `base_s` candles into `step_s` periods (aligned to the epoch); complete ones
    only."""
    period = frame["timestamp"].dt.floor(f"{step_s}s")
    grouped = frame.groupby(period)
    out = grouped.agg(
        open=("open", "first"),
        high=("high", "max"),
        low=("low", "min"),
        close=("close", "last"),
        volume=("volume", "sum"),
        amount=("amount", "sum"),
        rows=("open", "size"),
    )
    out = out[out["rows"] == step_s // base_s].drop(columns="rows")
    return out.rename_axis("timestamp").reset_index()
