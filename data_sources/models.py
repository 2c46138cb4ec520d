"""Result types (Quote, History), interval helpers and candle-frame validation.

Every source's ``candles()`` returns a frame of ``CANDLE_COLUMNS`` whose ``attrs`` say how it
was obtained:

* ``source`` (str): where the candles came from (``files``, ``binance``, ``coingecko``);
* ``stale`` (bool) and ``age_seconds`` (float): served from cache after a failed refresh, and
  how old that value is;
* ``gaps`` (list of ``(after_open_time, missing_count)``): each hole in the returned candles,
  as the open time (tz-aware UTC ``pd.Timestamp``) of the candle before it and the number of
  candle slots missing there (see :func:`candle_gaps`);
* ``missing_candles`` (int): the total of those counts (0 for a regular series).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timezone

import numpy as np
import pandas as pd

from .errors import MalformedDataError

CANDLE_COLUMNS = ("timestamp", "open", "high", "low", "close", "volume", "amount")
PRICE_COLUMNS = ("open", "high", "low", "close")


def utcnow() -> datetime:
    """The current time, tz-aware UTC."""
    return datetime.now(timezone.utc)


def ms_to_datetime(ms: float) -> datetime:
    """Unix milliseconds -> tz-aware UTC datetime."""
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc)


def timestamps_ms(timestamps: pd.Series | pd.DatetimeIndex) -> np.ndarray:
    """tz-aware timestamps -> int64 Unix milliseconds."""
    index = pd.DatetimeIndex(timestamps)
    return np.asarray(index.as_unit("ms").asi8, dtype=np.int64)


Gaps = list[tuple[pd.Timestamp, int]]


def candle_gaps(timestamps: pd.Series, step_s: int) -> Gaps:
    """``(open time before the hole, candle slots missing)`` for every step longer than
    ``step_s`` in ascending ``timestamps`` (a step of 2.5 candles counts 2 missing)."""
    stamps = timestamps_ms(timestamps)
    step_ms = step_s * 1000
    diffs = np.diff(stamps)
    where = np.flatnonzero(diffs > step_ms)
    missing = -(-diffs[where] // step_ms) - 1  # ceil(diff / step) - 1
    opened = pd.DatetimeIndex(timestamps)
    return [(opened[i], int(m)) for i, m in zip(where, missing, strict=True)]


def with_gap_attrs(frame: pd.DataFrame, step_s: int) -> pd.DataFrame:
    """``frame`` with ``attrs["gaps"]`` and ``attrs["missing_candles"]`` set (in place)."""
    gaps = candle_gaps(frame["timestamp"], step_s)
    frame.attrs.update(gaps=gaps, missing_candles=sum(m for _, m in gaps))
    return frame


@dataclass(frozen=True)
class Quote:
    """Latest price of one asset. `change_24h` is in percent; None fields are unknown."""

    symbol: str
    price: float
    change_24h: float | None
    volume_24h: float | None
    market_cap: float | None
    last_updated: datetime
    source: str
    stale: bool = False
    age_seconds: float = 0.0


#: `[[unix_ms, value], ...]`, as in CoinGecko market charts.
Points = list[list[float]]


@dataclass(frozen=True)
class History:
    """Price, volume and market-cap series as `[[unix_ms, value], ...]` (CoinGecko style)."""

    prices: Points
    volumes: Points
    market_caps: Points
    source: str
    stale: bool = False
    age_seconds: float = 0.0

    def to_seed_dict(self) -> dict[str, Points]:
        """The seed API's `{"prices", "volumes", "marketCaps"}` shape."""
        return {"prices": self.prices, "volumes": self.volumes, "marketCaps": self.market_caps}


def validate_candles(frame: pd.DataFrame, *, source: str) -> pd.DataFrame:
    """Normalise a candle frame or raise MalformedDataError.

    Returns columns `CANDLE_COLUMNS` (timestamp tz-aware UTC, the rest float64), sorted
    ascending, duplicate timestamps removed (the last one wins). Rejects empty frames, missing
    columns, non-finite values, prices <= 0, negative volumes, and high/low that do not
    bracket open/close.
    """
    missing = [c for c in CANDLE_COLUMNS if c not in frame.columns]
    if missing:
        raise MalformedDataError(f"{source}: candles lack columns {missing}", upstream=source)
    if frame.empty:
        raise MalformedDataError(f"{source}: no candles", upstream=source)
    try:
        out = pd.DataFrame({"timestamp": pd.to_datetime(frame["timestamp"], utc=True)})
        for column in CANDLE_COLUMNS[1:]:
            out[column] = pd.to_numeric(frame[column]).astype("float64")
    except (ValueError, TypeError, OverflowError) as exc:
        raise MalformedDataError(f"{source}: unparsable candles: {exc}", upstream=source) from exc
    out["timestamp"] = out["timestamp"].dt.as_unit("ns")
    out = out.drop_duplicates("timestamp", keep="last").sort_values("timestamp")
    out = out.reset_index(drop=True)
    values = out[list(CANDLE_COLUMNS[1:])].to_numpy()
    problems = {
        "missing timestamps": out["timestamp"].isna().to_numpy(),
        "non-finite values": ~np.isfinite(values).all(axis=1),
        "prices <= 0": (out[list(PRICE_COLUMNS)] <= 0).any(axis=1).to_numpy(),
        "negative volume/amount": ((out["volume"] < 0) | (out["amount"] < 0)).to_numpy(),
        "high below open/close/low": (
            out["high"] < out[["open", "close", "low"]].max(axis=1)
        ).to_numpy(),
        "low above open/close": (out["low"] > out[["open", "close"]].min(axis=1)).to_numpy(),
    }
    for what, bad in problems.items():
        if bad.any():
            first = int(np.flatnonzero(bad)[0])
            raise MalformedDataError(
                f"{source}: {int(bad.sum())} candle(s) with {what} (first at row {first})",
                upstream=source,
            )
    return out


def finite_number(
    value: object, what: str, *, source: str, positive: bool = False, signed: bool = False
) -> float:
    """`value` as a finite float, else MalformedDataError.

    Must be > 0 if `positive`, any sign if `signed`, else >= 0. Numeric strings are accepted.
    """
    try:
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise ValueError
        number = float(value)
    except ValueError:
        raise MalformedDataError(
            f"{source}: {what} is not a number: {value!r}", upstream=source
        ) from None
    if not math.isfinite(number) or (not signed and number < 0) or (positive and number <= 0):
        raise MalformedDataError(f"{source}: implausible {what}: {value!r}", upstream=source)
    return number
