"""Known failures: one line saying what failed and how to fix it, exit status 2, no traceback."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import ValidationError

from data_sources import MarketDataError

EXIT_KNOWN = 2
MODEL_FIX = (
    "set KRONOS_MODEL and KRONOS_TOKENIZER to local checkpoint directories (config.json + "
    "model.safetensors), or write random weights to try things with `kronos-forecast "
    "init-checkpoint --size small --out checkpoints` and use KRONOS_MODEL=checkpoints/model "
    "KRONOS_TOKENIZER=checkpoints/tokenizer"
)
DATA_FIX = (
    "set MARKET_DATA_SOURCE=files and MARKET_DATA_DIR to a directory of <SYMBOL>_1h.csv candle "
    "files, or pass --csv FILE"
)


class KnownFailure(Exception):
    """A failure the user can fix; its message says what failed and how."""


def one_line(text: object) -> str:
    """Whitespace (newlines included) collapsed to single spaces."""
    return re.sub(r"\s+", " ", str(text)).strip()


def model_failure(model: str, exc: Exception) -> KnownFailure:
    """The checkpoint `model` could not be loaded."""
    return KnownFailure(f"model {model!r} not loaded ({one_line(exc)}): {MODEL_FIX}")


def explain(exc: BaseException) -> str | None:
    """The one-line message for a known failure (None: an unexpected error)."""
    if isinstance(exc, KnownFailure):
        return one_line(exc)
    if isinstance(exc, MarketDataError):
        return f"market data unavailable ({one_line(exc)}): {DATA_FIX}"
    if isinstance(exc, ValidationError):
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in exc.errors()
        )
        return f"bad setting ({problems}): fix the environment variable or .env entry"
    return None


def require_candle_dir(directory: str | Path) -> Path:
    """`directory` if it holds candle files (<SYMBOL>_<interval>.csv/.parquet)."""
    path = Path(directory)
    if not any(path.glob("*_*.csv")) and not any(path.glob("*_*.parquet")):
        raise KnownFailure(
            f"no candle files in {path}: set MARKET_DATA_DIR or --data to a directory of "
            "<SYMBOL>_1h.csv files (columns timestamp,open,high,low,close[,volume,amount])"
        )
    return path
