"""Market data as the API uses it: candles plus quote per symbol, the figures shown beside a
forecast, history and assets, with every upstream outcome reported to the health tracker."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from functools import cached_property, partial
from typing import TypeVar

import pandas as pd

from data_sources import (
    Asset,
    History,
    MarketDataError,
    MarketDataSource,
    Quote,
    UnknownSymbolError,
)
from forecast_api.http.errors import DataUnavailableError
from forecast_api.http.market_schemas import AssetEntry, AssetsResponse
from forecast_api.http.responses import Snapshot
from forecast_api.ops.data_source import DataSourceTracker
from forecasting.candles import interval_seconds

INTERVAL = "1h"  # the default candle interval
MIN_CANDLES = 2  # the least any forecaster (and the 24h figures) can work from
DAY = pd.Timedelta(hours=24)
T = TypeVar("T")


def canonical(symbol: str) -> str:
    """A symbol as the asset registry spells it (`" btc"` -> `"BTC"`), known or not."""
    return symbol.strip().upper()


def day_figures(candles: pd.DataFrame) -> tuple[float | None, float]:
    """(% change of the last close against the last close at or before 24 hours earlier, None
    when the candles do not reach back a day; sum of `amount` over the last 24 hours)."""
    opened = candles["timestamp"]
    earlier = int(opened.searchsorted(opened.iloc[-1] - DAY, side="right")) - 1
    close = candles["close"]
    change = None if earlier < 0 else float((close.iloc[-1] / close.iloc[earlier] - 1) * 100)
    return change, float(candles["amount"].iloc[earlier + 1 :].sum())


def snapshot(candles: pd.DataFrame, quote: Quote | None) -> Snapshot:
    """Market figures from the quote; what it lacks is derived from the hourly candles (only
    then: a complete quote costs no pass over the candles)."""
    attrs = candles.attrs
    change = volume = None
    if quote is None or quote.change_24h is None or quote.volume_24h is None:
        change, volume = day_figures(candles)
    stale, age = bool(attrs.get("stale", False)), float(attrs.get("age_seconds", 0.0))
    if quote is not None:
        change = change if quote.change_24h is None else float(quote.change_24h)
        volume = volume if quote.volume_24h is None else float(quote.volume_24h)
        stale, age = stale or bool(quote.stale), max(age, float(quote.age_seconds))
    assert volume is not None
    return Snapshot(
        price=float(candles["close"].iat[-1] if quote is None else quote.price),
        change_24h=change,
        volume_24h=volume,
        source=str(attrs.get("source", "candles")),
        stale=stale,
        age_seconds=age,
    )


@dataclass(frozen=True)
class MarketView:
    """One symbol's market data at one moment: its candles and (if available) quote."""

    symbol: str
    candles: pd.DataFrame
    quote: Quote | None
    interval: str = INTERVAL

    @cached_property
    def last_candle(self) -> pd.Timestamp:
        """Open time of the last closed candle (`DataFrame.iat`: a column lookup on the
        caller's shallow copy of the frame costs four times as much)."""
        candles = self.candles
        return pd.Timestamp(candles.iat[-1, candles.columns.get_loc("timestamp")])

    @cached_property
    def snapshot(self) -> Snapshot:
        """The figures shown beside a forecast."""
        return snapshot(self.candles, self.quote)


Viewed = MarketView | BaseException


async def settle(
    calls: Sequence[Callable[[], Awaitable[T]]], *, overlap: bool
) -> list[T | BaseException]:
    """The result of each call, or the exception it raised: overlapped (`gather`), or awaited
    in turn, which spares a call that answers at once the event-loop passes of a task."""
    if overlap:
        return list(await asyncio.gather(*(call() for call in calls), return_exceptions=True))
    results: list[T | BaseException] = []
    for call in calls:
        try:
            results.append(await call())
        except Exception as exc:  # as gather(return_exceptions=True) hands it back
            results.append(exc)
    return results


class MarketData:
    """Reads a `MarketDataSource` for the API and tells the tracker how each call went."""

    def __init__(
        self,
        source: MarketDataSource,
        tracker: DataSourceTracker,
        limit: int,
        intervals: Sequence[str] = (INTERVAL,),
    ) -> None:
        self.source = source
        self.tracker = tracker
        self.limit = limit
        self.intervals = list(intervals)  # the candle intervals forecast (`served_intervals`)

    async def _call(self, call: Awaitable[T]) -> T:
        """Await a data-source call, recording upstream failures (not unknown symbols)."""
        try:
            result = await call
        except UnknownSymbolError:
            raise
        except MarketDataError as exc:
            self.tracker.failed(exc)
            raise
        self.tracker.succeeded()
        return result

    async def refresh_assets(self) -> None:
        """Bring the asset universe up to date (ASSETS=all); on an upstream failure the last
        universe stays (the failure is reported to the tracker)."""
        with contextlib.suppress(MarketDataError):
            await self._call(self.source.refresh_assets())

    async def asset(self, symbol: str) -> Asset:
        """The asset of `symbol`; a symbol not (yet) known refreshes the universe first, so a
        pair the exchange lists is served before the next scheduled refresh."""
        assets = self.source.assets
        if symbol not in assets:
            await self.refresh_assets()
        return assets.get(symbol)

    async def view(self, symbol: str, interval: str = INTERVAL) -> MarketView:
        """`interval` candles (required: at least MIN_CANDLES) and the quote (optional) of a
        known symbol."""
        asset = await self.asset(symbol)
        source = self.source
        calls = [  # coroutines made when awaited: none is left unawaited if one is cancelled
            lambda: self._call(source.candles(asset.symbol, interval=interval, limit=self.limit)),
            lambda: self._call(source.quote(asset.symbol)),
        ]
        candles, quote = await settle(calls, overlap=source.remote)
        if isinstance(candles, BaseException):
            raise candles
        if len(candles) < MIN_CANDLES:
            raise DataUnavailableError(
                f"{len(candles)} {interval} candle(s) for {asset.symbol}: too few to forecast"
            )
        return MarketView(
            asset.symbol, candles, None if isinstance(quote, BaseException) else quote, interval
        )

    async def candles(self, symbol: str, interval: str = INTERVAL) -> pd.DataFrame:
        """A known symbol's `interval` candles only (no quote: background work asks for no
        more upstream calls than it needs)."""
        asset = await self.asset(symbol)
        return await self._call(
            self.source.candles(asset.symbol, interval=interval, limit=self.limit)
        )

    async def now(self, interval: str = INTERVAL) -> pd.Timestamp:
        """The market's current time: when the newest `interval` candle of the first asset
        closed (for a live source about the wall clock, for the files source its last candle)."""
        candles = await self.candles(self.source.assets.all()[0].symbol, interval)
        opened = pd.Timestamp(candles["timestamp"].iat[-1])
        return opened + pd.Timedelta(seconds=interval_seconds(interval))

    async def views(self, symbols: Sequence[str], interval: str = INTERVAL) -> list[Viewed]:
        """`view` of each symbol, or the exception it raised (one symbol: awaited in place)."""
        calls = [partial(self.view, symbol, interval) for symbol in symbols]
        return await settle(calls, overlap=len(calls) > 1)

    async def history(self, symbol: str, days: int) -> tuple[str, History]:
        """(canonical symbol, its history of the last `days` days)."""
        asset = await self.asset(symbol)
        return asset.symbol, await self._call(self.source.history(asset.symbol, days))

    async def assets(self) -> AssetsResponse:
        """`GET /api/assets` in the specification's shape (the universe refreshed first), with
        the intervals this source serves."""
        await self.refresh_assets()
        entries = [
            AssetEntry(
                symbol=a.symbol, name=a.name, coingeckoId=a.coingecko_id, pair=a.binance_pair
            )
            for a in self.source.assets.all()
        ]
        return AssetsResponse(assets=entries, count=len(entries), intervals=self.intervals)

    async def aclose(self) -> None:
        """Release the source's connections."""
        await self.source.aclose()
