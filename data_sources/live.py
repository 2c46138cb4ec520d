"""Live source: CoinGecko quotes/history, Binance candles with a CoinGecko fallback, cached."""

from __future__ import annotations

import copy
import logging
import time
from dataclasses import replace

import pandas as pd

from forecasting.candles import interval_seconds

from .assets import Asset, AssetRegistry, exchange_universe
from .base import MarketDataSource, check_days, check_limit
from .binance import BinanceClient
from .cache import SingleFlightCache
from .coingecko import CoinGeckoClient
from .derived import HourlyPoints, history_from_points, quote_from_points
from .errors import TRANSIENT_ERRORS, DataRegressionError, MarketDataError, UnknownSymbolError
from .models import History, Quote, with_gap_attrs
from .settings import MarketDataSettings

logger = logging.getLogger(__name__)

#: Closed candles fetched at least (one Binance page of 1000 less the open one, same weight as
#: a small page), so requests with different limits share one upstream call and cache entry.
CANDLE_BATCH = 999
DAY_HOURS = 24


class LiveSource(MarketDataSource):
    """Market data from the live upstreams behind a single-flight, stale-if-error TTL cache.

    Quotes of all registered assets are fetched in one `/simple/price` call. Candles come from
    Binance; when Binance fails or lacks the pair they are derived from CoinGecko charts
    (`df.attrs["source"] == "coingecko"`). An asset without a CoinGecko id (a pair of the
    exchange's universe, ASSETS=all) has its quote and history derived from its Binance hourly
    candles (source `binance`), and no CoinGecko fallback. At least `CANDLE_BATCH` candles are
    fetched and cached until the next candle closes; callers get the last `limit` of them, with
    their gaps in `attrs`. Candles whose newest is older than one returned before raise
    :class:`DataRegressionError` (so the cache serves the last good ones, labelled stale).
    """

    name = "live"

    def __init__(
        self,
        settings: MarketDataSettings,
        assets: AssetRegistry,
        *,
        coingecko: CoinGeckoClient | None = None,
        binance: BinanceClient | None = None,
    ) -> None:
        self.assets = assets
        self._settings = settings
        self._coingecko = coingecko or CoinGeckoClient(settings)
        self._binance = binance or BinanceClient(settings)
        self._cache = SingleFlightCache(
            maxsize=settings.market_data_cache_size,
            max_stale_s=settings.market_data_max_stale_s,
            error_ttl_s=settings.market_data_error_ttl_s,
        )
        self._newest: dict[tuple[str, str], pd.Timestamp] = {}
        self._known = assets.all()  # the defaults and listed ASSETS: their CoinGecko ids
        self._universe: object = None  # the exchange pair list the registry was built from

    async def refresh_assets(self) -> None:
        """With ASSETS=all: the registry becomes the exchange's TRADING USDT pairs, fetched at
        most every ASSETS_REFRESH_S (the last list is kept while the exchange fails)."""
        if not self._settings.exchange_assets:
            return
        cached = await self._cache.get(
            ("exchange_pairs",),
            self._binance.usdt_pairs,
            ttl=lambda _: self._settings.assets_refresh_s,
        )
        if cached.value is not self._universe:
            kept = self._settings.listed_assets
            self.assets.replace(exchange_universe(cached.value, self._known, kept))
            self._universe = cached.value

    async def aclose(self) -> None:
        """Close both connection pools."""
        await self._coingecko.aclose()
        await self._binance.aclose()

    async def quote(self, symbol: str) -> Quote:
        """The CoinGecko quote of `symbol`.

        One `/simple/price` call fetches every registered asset (cached for the quote TTL,
        without stale fallback); each symbol then has its own entry, so a symbol whose part of
        the answer is bad is served stale on its own.
        """
        asset = self.assets.get(symbol)
        if asset.coingecko_id is None:
            frame = await self.candles(asset.symbol, "1h", 2 * DAY_HOURS)
            quote = quote_from_points(HourlyPoints.of(frame), asset.symbol, _source(frame))
            return replace(
                quote, stale=frame.attrs["stale"], age_seconds=frame.attrs["age_seconds"]
            )
        ttl = self._settings.market_data_quote_ttl_s
        cached = await self._cache.get(
            ("quote", asset.symbol),
            lambda: self._quote_from_batch(asset),
            ttl=lambda item: ttl - item[1],
        )
        quote, batch_age = cached.value
        return replace(quote, stale=cached.stale, age_seconds=cached.age_seconds + batch_age)

    async def _quote_from_batch(self, asset: Asset) -> tuple[Quote, float]:
        """`asset`'s quote from the shared batch, with the batch's age."""
        batch = await self._cache.get(
            ("quotes",),
            lambda: self._coingecko.quotes([a for a in self.assets if a.coingecko_id]),
            ttl=lambda _: self._settings.market_data_quote_ttl_s,
            stale_if_error=False,
        )
        result = batch.value.get(asset.symbol)
        if result is None:
            raise UnknownSymbolError(f"no quote for {asset.symbol}")
        if isinstance(result, MarketDataError):
            raise copy.copy(result)
        return result, batch.age_seconds

    async def history(self, symbol: str, days: int) -> History:
        """CoinGecko market chart of `symbol` over `days` (cached for the history TTL)."""
        asset = self.assets.get(symbol)
        check_days(days)
        if asset.coingecko_id is None:
            frame = await self.candles(asset.symbol, "1h", (days + 1) * DAY_HOURS)
            found = history_from_points(HourlyPoints.of(frame), days, _source(frame))
            return replace(
                found, stale=frame.attrs["stale"], age_seconds=frame.attrs["age_seconds"]
            )
        cached = await self._cache.get(
            ("history", asset.symbol, days),
            lambda: self._coingecko.history(asset, days),
            ttl=lambda _: self._settings.market_data_history_ttl_s,
        )
        return replace(cached.value, stale=cached.stale, age_seconds=cached.age_seconds)

    async def candles(self, symbol: str, interval: str = "1h", limit: int = 500) -> pd.DataFrame:
        """The last `limit` closed candles (Binance, else derived from CoinGecko)."""
        asset = self.assets.get(symbol)
        step = interval_seconds(interval)
        fetched = max(check_limit(limit), CANDLE_BATCH)
        cached = await self._cache.get(
            ("candles", asset.symbol, interval, fetched),
            lambda: self._fetch_candles(asset, interval, fetched),
            ttl=lambda frame: seconds_until_next_close(frame, step),
        )
        frame = cached.value.tail(limit).reset_index(drop=True)
        frame.attrs.update(stale=cached.stale, age_seconds=cached.age_seconds)
        return with_gap_attrs(frame, step)

    async def _fetch_candles(self, asset: Asset, interval: str, limit: int) -> pd.DataFrame:
        """Fresh candles; DataRegressionError when they end before ones returned earlier."""
        frame = await self._fetch_any(asset, interval, limit)
        key = (asset.symbol, interval)
        newest, seen = frame["timestamp"].iloc[-1], self._newest.get(key)
        if seen is not None and newest < seen:
            source = frame.attrs.get("source", "live")
            raise DataRegressionError(
                f"{source}: {asset.symbol} {interval} candles now end at {newest}, before the "
                f"{seen} candle returned earlier",
                upstream=source,
            )
        self._newest[key] = newest
        return frame

    async def _fetch_any(self, asset: Asset, interval: str, limit: int) -> pd.DataFrame:
        """Binance candles, else CoinGecko's (the transient error of the two if both fail)."""
        try:
            return await self._binance.candles(asset, interval, limit)
        except (*TRANSIENT_ERRORS, UnknownSymbolError) as binance_error:
            if asset.coingecko_id is None:
                raise  # no CoinGecko id: nothing to derive candles from
            logger.warning(
                "binance candles for %s failed (%s); trying coingecko", asset.symbol, binance_error
            )
            try:
                return await self._coingecko.candles(asset, interval, limit)
            except MarketDataError as coingecko_error:
                errors = (binance_error, coingecko_error)
                transient = [e for e in errors if isinstance(e, TRANSIENT_ERRORS)]
                raise (transient[0] if transient else coingecko_error) from coingecko_error


def _source(frame: pd.DataFrame) -> str:
    """The upstream a candle frame came from."""
    return str(frame.attrs.get("source", "binance"))


def seconds_until_next_close(frame: pd.DataFrame, step_s: int, now: float | None = None) -> float:
    """Seconds until the candle after the last one in `frame` closes (at least a minute or a
    candle, whichever is shorter, so lagging data is not refetched in a tight loop)."""
    now = time.time() if now is None else now
    next_close = frame["timestamp"].iloc[-1].timestamp() + 2 * step_s
    return max(next_close - now, min(60.0, step_s))
