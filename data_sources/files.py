"""Offline source: candles from `<SYMBOL>_<interval>.csv|.parquet` files; quotes derived."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd
from cachetools import LRUCache

from forecasting.candles import interval_seconds

from .assets import AssetRegistry, exchange_universe
from .base import MarketDataSource, check_days, check_limit
from .candle_files import (
    BASE_INTERVAL,  # quotes and history are derived from the hourly file
    NAME,
    file_symbols,
    read_candle_file,
    resample_candles,
    resamples_hourly,
)
from .derived import HourlyPoints, history_from_points, quote_from_points
from .errors import (
    DataRegressionError,
    MarketDataError,
    UpstreamUnavailableError,
)
from .models import History, Quote, with_gap_attrs

DERIVED_PER_VERSION = 128  # derived figures kept per file version (history days, limits...)
T = TypeVar("T")
Stamp = tuple[int, int, int]  # (st_mtime_ns, st_size, st_ino): a file's version


@dataclass
class _Version:
    """One symbol/interval as of one version of its file: the visible candles (or why there
    are none) and the figures derived from them, each computed once."""

    stamp: Stamp
    frame: pd.DataFrame | None
    error: MarketDataError | None = None
    derived: LRUCache = field(default_factory=lambda: LRUCache(DERIVED_PER_VERSION))

    def candles(self) -> pd.DataFrame:
        """The visible candles, or the error this version of the file gives."""
        if self.error is not None:
            raise copy.copy(self.error)
        assert self.frame is not None
        return self.frame

    def derive(self, key: tuple[Any, ...], compute: Callable[[pd.DataFrame], T]) -> T:
        """`compute(candles)`, cached under `key` for this version."""
        frame = self.candles()
        if key not in self.derived:
            self.derived[key] = compute(frame)
        return self.derived[key]


class FilesSource(MarketDataSource):
    """Candles read from a directory; the "current" time is `now`, else the newest candle close
    over all the files. A symbol whose last candle closed more than one interval before it is
    served labelled stale (`attrs`), with its data age.

    With `now`, only candles closed at or before `now` are visible (for backtests). An interval
    without its own file is resampled from the 1h file when it is a whole number of hours up to
    1d (only complete periods are kept). A file without `amount` gets the candle convention's.

    With `every_file` (ASSETS=all) the assets are the symbols with an hourly file, refreshed by
    `refresh_assets` (a listing of the directory). A request costs one `stat()` of the file;
    candles, quotes and history points are derived once per version of the file (mtime, size,
    inode). A file whose newest candle is older than
    one this source read before (truncated or replaced by an older copy) raises
    :class:`DataRegressionError` until it is restored.
    """

    name = NAME
    remote = False  # one stat() per call; a read (in a thread) only when a file changed

    def __init__(
        self,
        directory: Path | str,
        assets: AssetRegistry,
        *,
        now: datetime | None = None,
        every_file: bool = False,
    ) -> None:
        self.directory = Path(directory)
        self.assets = assets
        self.every_file = every_file
        self._known = assets.all()
        if now is not None and now.tzinfo is None:
            now = now.replace(tzinfo=timezone.utc)
        self.now = now
        self._paths: dict[tuple[str, str], Path] = {}
        self._versions: dict[tuple[str, str], _Version] = {}
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}
        self._frames: dict[Path, tuple[Stamp, pd.DataFrame]] = {}
        self._newest: dict[Path, pd.Timestamp] = {}
        self._scanned: set[str] = set()  # intervals whose files `_now` has read

    async def aclose(self) -> None:
        """Drop the cached frames (there are no connections)."""
        caches = (self._paths, self._versions, self._locks, self._frames, self._newest)
        for cache in (*caches, self._scanned):
            cache.clear()

    async def refresh_assets(self) -> None:
        """With `every_file`: the registry becomes the symbols with an hourly file."""
        if self.every_file:
            symbols = await asyncio.to_thread(file_symbols, self.directory, BASE_INTERVAL)
            self.assets.replace(exchange_universe(((s, None) for s in symbols), self._known))

    async def candles(self, symbol: str, interval: str = "1h", limit: int = 500) -> pd.DataFrame:
        """The last `limit` closed candles up to the current time (attrs: see `models`)."""
        check_limit(limit)
        step = interval_seconds(interval)
        version = await self._version(symbol, interval)
        frame = version.derive(("candles", limit), lambda f: _tail(f, limit, step))
        out = frame.copy(deep=False)  # callers may set attrs or columns on their copy
        age = (await self._now(interval, step) - _close(frame, step)).total_seconds()
        if age > 0:  # behind the other files (or MARKET_DATA_FILES_NOW): its true data age
            out.attrs = {**frame.attrs, "age_seconds": age, "stale": age > step}
        return out

    async def _now(self, interval: str, step: int) -> pd.Timestamp:
        """The source's current time: MARKET_DATA_FILES_NOW, else the newest `interval` candle
        close over all the symbols' files (each file is read once for this, then as usual)."""
        if self.now is not None:
            return pd.Timestamp(self.now)
        if interval not in self._scanned:
            self._scanned.add(interval)
            for asset in self.assets.all():
                if (asset.symbol, interval) not in self._versions:
                    with contextlib.suppress(MarketDataError):
                        await self._version(asset.symbol, interval)
        closes = [
            _close(v.frame, step)
            for (_, i), v in list(self._versions.items())
            if i == interval and v.frame is not None and not v.frame.empty
        ]
        return max(closes)

    def serves(self, interval: str) -> bool:
        """Whether some file holds `interval` candles, or hourly files it resamples into them."""
        names = [interval] + [BASE_INTERVAL] * resamples_hourly(interval_seconds(interval))
        return any(
            any(self.directory.glob(f"*_{name}{suffix}"))
            for name in names
            for suffix in (".csv", ".parquet")
        )

    async def quote(self, symbol: str) -> Quote:
        """Price = last close; change vs the close 24h earlier; volume = sum of 24h `amount`.

        `last_updated` is the last candle's close time; market cap is unknown (None).
        """
        version = await self._version(symbol, BASE_INTERVAL)
        points = version.derive(("points",), HourlyPoints.of)
        asset = self.assets.get(symbol)
        return version.derive(("quote",), lambda _: quote_from_points(points, asset.symbol, NAME))

    async def history(self, symbol: str, days: int) -> History:
        """Close prices at each hourly candle close (daily at 00:00 UTC above 90 days) and the
        rolling 24h sum of `amount` at each point; market caps are unknown (empty list)."""
        check_days(days)
        version = await self._version(symbol, BASE_INTERVAL)
        points = version.derive(("points",), HourlyPoints.of)
        return version.derive(("history", days), lambda _: history_from_points(points, days, NAME))

    async def _version(self, symbol: str, interval: str) -> _Version:
        """The current version of `symbol`/`interval`: one stat(), a read only when it changed."""
        key = (self.assets.get(symbol).symbol, interval)
        step = interval_seconds(interval)
        path = self._paths.get(key) or await asyncio.to_thread(self._locate, *key, step)
        try:
            stamp = file_stamp(path)
        except OSError:
            self._paths.pop(key, None)  # moved or deleted: look again next time
            raise UpstreamUnavailableError(f"files: {path} disappeared", upstream=NAME) from None
        current = self._versions.get(key)
        if current is None or current.stamp != stamp:
            async with self._locks.setdefault(key, asyncio.Lock()):
                current = self._versions.get(key)
                if current is None or current.stamp != stamp:
                    current = await asyncio.to_thread(self._build, path, stamp, key, step)
                    self._versions[key] = current
        return current

    def _locate(self, symbol: str, interval: str, step: int) -> Path:
        """The file `symbol`/`interval` is read from (its own, else the hourly one)."""
        path = self._find(symbol, interval)
        if path is None and resamples_hourly(step):
            path = self._find(symbol, BASE_INTERVAL)
        if path is None:
            raise UpstreamUnavailableError(
                f"files: no {symbol}_{interval}.csv or .parquet in {self.directory}",
                upstream=NAME,
            )
        self._paths[(symbol, interval)] = path
        return path

    def _build(self, path: Path, stamp: Stamp, key: tuple[str, str], step: int) -> _Version:
        """The `key` (symbol, interval) candles in `path` (resampled to `step`, cut at `now`)."""
        symbol, interval = key
        try:
            frame = self._read(path, stamp)
            if path.stem != f"{symbol}_{interval}":
                frame = resample_candles(frame, step)
            if self.now is not None:
                frame = frame[frame["timestamp"] + timedelta(seconds=step) <= self.now]
                if frame.empty:
                    raise UpstreamUnavailableError(
                        f"files: no {symbol} {interval} candle closed by {self.now}",
                        upstream=NAME,
                    )
        except MarketDataError as exc:
            return _Version(stamp, None, exc)
        version = _Version(stamp, frame.reset_index(drop=True))
        if interval == BASE_INTERVAL:  # the rolling 24h sums, here rather than on the loop
            version.derive(("points",), HourlyPoints.of)
        return version

    def _find(self, symbol: str, interval: str) -> Path | None:
        for suffix in (".parquet", ".csv"):
            path = self.directory / f"{symbol}_{interval}{suffix}"
            if path.is_file():
                return path
        return None

    def _read(self, path: Path, stamp: Stamp) -> pd.DataFrame:
        """The validated frame of `path` at version `stamp`; DataRegressionError when its newest
        candle is older than one read from `path` before."""
        cached = self._frames.get(path)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        frame = read_candle_file(path)
        newest, seen = frame["timestamp"].iloc[-1], self._newest.get(path)
        if seen is not None and newest < seen:
            raise DataRegressionError(
                f"files: {path.name} now ends at {newest}, before the {seen} candle read from it "
                "earlier (truncated or replaced by an older copy?)",
                upstream=NAME,
            )
        self._newest[path] = newest
        self._frames[path] = (stamp, frame)
        return frame


def file_stamp(path: Path) -> Stamp:
    """The version of a file: one stat() (mtime, size and inode, so copies that keep the mtime
    and atomic replacements are both seen)."""
    st = os.stat(path)
    return (st.st_mtime_ns, st.st_size, st.st_ino)


def _close(frame: pd.DataFrame, step: int) -> pd.Timestamp:
    """When the last candle of `frame` closed."""
    return pd.Timestamp(frame["timestamp"].iat[-1]) + pd.Timedelta(seconds=step)


def _tail(frame: pd.DataFrame, limit: int, step: int) -> pd.DataFrame:
    """The last `limit` candles with the source's attrs (gaps included)."""
    out = frame.tail(limit).reset_index(drop=True)
    out.attrs.update(source=NAME, stale=False, age_seconds=0.0)
    return with_gap_attrs(out, step)
