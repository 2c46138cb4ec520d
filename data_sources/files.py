"""Offline source: candles from `<SYMBOL>_<interval>.csv|.parquet` files; quotes derived."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pandas as pd

from forecasting.candles import derived_amount
from forecasting.forecast import PRICES

from .assets import AssetRegistry
from .base import MarketDataSource, check_days, check_limit
from .errors import MalformedDataError, UpstreamUnavailableError
from .models import History, Quote, interval_seconds, timestamps_ms, validate_candles

NAME = "files"
BASE_INTERVAL = "1h"  # quotes and history are derived from the hourly file
DAILY_AFTER_DAYS = 90  # history granularity switches from hourly to daily, like CoinGecko


class FilesSource(MarketDataSource):
    """Candles read from a directory; the "current" time is the last candle's close or `now`.

    With `now`, only candles closed at or before `now` are visible (for backtests). An interval
    without its own file is resampled from the 1h file when it is a whole number of hours up to
    1d (only complete periods are kept). A file without `amount` gets the candle convention's.
    """

    name = NAME

    def __init__(
        self, directory: Path | str, assets: AssetRegistry, *, now: datetime | None = None
    ) -> None:
        self.directory = Path(directory)
        self.assets = assets
        if now is not None and now.tzinfo is None:
            now = now.replace(tzinfo=timezone.utc)
        self.now = now
        self._frames: dict[Path, tuple[int, pd.DataFrame]] = {}

    async def aclose(self) -> None:
        """Drop the cached frames (there are no connections)."""
        self._frames.clear()

    async def candles(self, symbol: str, interval: str = "1h", limit: int = 500) -> pd.DataFrame:
        """The last `limit` closed candles up to the current time."""
        check_limit(limit)
        frame = (await self._visible(symbol, interval)).tail(limit).reset_index(drop=True)
        frame.attrs.update(source=NAME, stale=False, age_seconds=0.0)
        return frame

    async def quote(self, symbol: str) -> Quote:
        """Price = last close; change vs the close 24h earlier; volume = sum of 24h `amount`.

        `last_updated` is the last candle's close time; market cap is unknown (None).
        """
        frame = await self._visible(symbol, BASE_INTERVAL)
        closes = frame["timestamp"] + pd.Timedelta(BASE_INTERVAL)
        last_close = closes.iloc[-1]
        price = float(frame["close"].iloc[-1])
        earlier = frame.loc[closes <= last_close - pd.Timedelta(hours=24), "close"]
        change = (price / float(earlier.iloc[-1]) - 1) * 100 if len(earlier) else None
        day = frame.loc[closes > last_close - pd.Timedelta(hours=24), "amount"]
        return Quote(
            symbol=self.assets.get(symbol).symbol,
            price=price,
            change_24h=change,
            volume_24h=float(day.sum()),
            market_cap=None,
            last_updated=last_close.to_pydatetime(),
            source=NAME,
        )

    async def history(self, symbol: str, days: int) -> History:
        """Close prices at each hourly candle close (daily at 00:00 UTC above 90 days) and the
        rolling 24h sum of `amount` at each point; market caps are unknown (empty list)."""
        check_days(days)
        frame = await self._visible(symbol, BASE_INTERVAL)
        points = frame.set_index(frame["timestamp"] + pd.Timedelta(BASE_INTERVAL))
        volume_24h = points["amount"].rolling("24h").sum()
        end = points.index[-1]
        keep = points.index > end - pd.Timedelta(days=days)
        if days > DAILY_AFTER_DAYS:
            keep &= points.index == points.index.normalize()
        times = timestamps_ms(points.index[keep])
        return History(
            prices=[[int(t), float(v)] for t, v in zip(times, points["close"][keep], strict=True)],
            volumes=[[int(t), float(v)] for t, v in zip(times, volume_24h[keep], strict=True)],
            market_caps=[],
            source=NAME,
        )

    async def _visible(self, symbol: str, interval: str) -> pd.DataFrame:
        """All candles of `symbol`/`interval` closed by the current time."""
        asset = self.assets.get(symbol)
        step = interval_seconds(interval)
        frame = await asyncio.to_thread(self._load, asset.symbol, interval, step)
        if self.now is not None:
            frame = frame[frame["timestamp"] + timedelta(seconds=step) <= self.now]
            if frame.empty:
                raise UpstreamUnavailableError(
                    f"files: no {asset.symbol} {interval} candle closed by {self.now}",
                    upstream=NAME,
                )
        return frame

    def _load(self, symbol: str, interval: str, step: int) -> pd.DataFrame:
        path = self._find(symbol, interval)
        if path is not None:
            return self._read(path)
        hourly = self._find(symbol, BASE_INTERVAL)
        if hourly is not None and step % 3600 == 0 and 3600 < step <= 86400:
            return resample_candles(self._read(hourly), step)
        raise UpstreamUnavailableError(
            f"files: no {symbol}_{interval}.csv or .parquet in {self.directory}", upstream=NAME
        )

    def _find(self, symbol: str, interval: str) -> Path | None:
        for suffix in (".parquet", ".csv"):
            path = self.directory / f"{symbol}_{interval}{suffix}"
            if path.is_file():
                return path
        return None

    def _read(self, path: Path) -> pd.DataFrame:
        """The validated frame of `path`, cached until the file changes."""
        mtime = path.stat().st_mtime_ns
        cached = self._frames.get(path)
        if cached is not None and cached[0] == mtime:
            return cached[1]
        frame = read_candle_file(path)
        self._frames[path] = (mtime, frame)
        return frame


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
    training and backtest tools)."""
    directory = Path(directory)
    wanted = {s.upper() for s in symbols} if symbols else None
    frames = {}
    for path in sorted(directory.glob(f"*_{interval}.*")):
        if path.suffix not in (".csv", ".parquet"):
            continue
        symbol = path.name[: -len(f"_{interval}{path.suffix}")].upper()
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
