"""CoinGecko v3 client: quotes, market charts, and hourly candles derived from snapshots."""

from __future__ import annotations

import math
from typing import Any

import httpx
import numpy as np
import pandas as pd

from forecasting.candles import interval_seconds

from .assets import Asset
from .errors import (
    MalformedDataError,
    MarketDataError,
    UnknownSymbolError,
    UpstreamUnavailableError,
)
from .http import UpstreamClient
from .models import (
    History,
    Points,
    Quote,
    finite_number,
    ms_to_datetime,
    utcnow,
    validate_candles,
)
from .settings import MarketDataSettings

NAME = "coingecko"
MIN_DERIVED_INTERVAL_S = 300  # days=1 charts have ~5-minute points


def _classify(response: httpx.Response) -> MarketDataError | None:
    if response.status_code == 404:
        return UnknownSymbolError(f"coingecko: not found: {response.url.path}", upstream=NAME)
    return None


class CoinGeckoClient:
    """Quotes from `/simple/price`, history from `/coins/{id}/market_chart` (USD)."""

    def __init__(self, settings: MarketDataSettings) -> None:
        self._http = UpstreamClient(
            NAME,
            settings.coingecko_url,
            settings,
            calls_per_minute=settings.coingecko_calls_per_minute,
            headers=settings.coingecko_headers,
            classify=_classify,
        )

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    async def quotes(self, assets: list[Asset]) -> dict[str, Quote | MarketDataError]:
        """Quotes of `assets` in one call, by symbol; a per-asset error where its entry is bad."""
        payload = await self._http.get_json(
            "/simple/price",
            {
                "ids": ",".join(sorted({a.coingecko_id for a in assets})),
                "vs_currencies": "usd",
                "include_market_cap": "true",
                "include_24hr_vol": "true",
                "include_24hr_change": "true",
                "include_last_updated_at": "true",
            },
        )
        if not isinstance(payload, dict):
            raise MalformedDataError("coingecko: /simple/price is not an object", upstream=NAME)
        result: dict[str, Quote | MarketDataError] = {}
        for asset in assets:
            entry = payload.get(asset.coingecko_id)
            try:
                if entry is None:
                    raise UnknownSymbolError(
                        f"coingecko has no price for id {asset.coingecko_id!r}", upstream=NAME
                    )
                result[asset.symbol] = _parse_quote(asset, entry)
            except MarketDataError as exc:
                result[asset.symbol] = exc
        return result

    async def history(self, asset: Asset, days: int) -> History:
        """`days` of prices, rolling 24h volumes and market caps (granularity as CoinGecko's)."""
        payload = await self._http.get_json(
            f"/coins/{asset.coingecko_id}/market_chart", {"vs_currency": "usd", "days": days}
        )
        if not isinstance(payload, dict):
            raise MalformedDataError("coingecko: market_chart is not an object", upstream=NAME)
        prices = _series(payload, "prices", positive=True)
        if not prices:
            raise MalformedDataError(f"coingecko: no prices for {asset.symbol}", upstream=NAME)
        return History(
            prices=prices,
            volumes=_series(payload, "total_volumes"),
            market_caps=_series(payload, "market_caps"),
            source=NAME,
        )

    async def candles(self, asset: Asset, interval: str, limit: int) -> pd.DataFrame:
        """Approximate closed candles derived from market-chart snapshots (see README)."""
        step = interval_seconds(interval)
        if step < MIN_DERIVED_INTERVAL_S:
            raise UpstreamUnavailableError(
                f"coingecko cannot derive {interval} candles (points are >= 5 minutes apart)",
                upstream=NAME,
            )
        history = await self.history(asset, chart_days(step, limit))
        frame = candles_from_snapshots(history.prices, history.volumes, step).tail(limit)
        frame = frame.reset_index(drop=True)
        frame.attrs.update(source=NAME, approximate=True)
        return frame


def chart_days(step_s: int, limit: int) -> int:
    """The market_chart `days` whose point spacing fits `step_s` and covers `limit` candles."""
    days = math.ceil((limit + 2) * step_s / 86400)
    if step_s < 3600:
        return 1  # 5-minute points exist only for days=1
    return max(1, min(days, 365 if step_s >= 86400 else 90))


def candles_from_snapshots(prices: Points, volumes: Points, step_s: int) -> pd.DataFrame:
    """Group price snapshots into candles of `step_s` seconds (closed ones only).

    A candle opens at the first snapshot in its period and closes at the first snapshot of the
    next period; high/low are the extremes of those snapshots (so at least the open/close
    envelope). `amount` is the rolling 24h volume at the close snapshot spread evenly over the
    day (`* step_s / 86400`); `volume` is `amount / close`. The last, still-open period is
    dropped.
    """
    step_ms = step_s * 1000
    points = pd.DataFrame(prices, columns=["ms", "price"]).astype({"ms": "int64"})
    points["bucket"] = points["ms"] // step_ms * step_ms
    vols = pd.DataFrame(volumes, columns=["ms", "vol24"]).astype({"ms": "int64"})
    if vols.empty:
        raise MalformedDataError("coingecko: no volumes to derive candles from", upstream=NAME)
    points = pd.merge_asof(points, vols.sort_values("ms"), on="ms", direction="nearest")
    grouped = points.groupby("bucket", sort=True)
    candles = grouped.agg(
        open=("price", "first"), high=("price", "max"), low=("price", "min")
    ).reset_index()
    firsts = grouped.agg(next_price=("price", "first"), next_vol=("vol24", "first"))
    nxt = firsts.reindex(candles["bucket"] + step_ms).to_numpy()
    candles["close"] = nxt[:, 0]
    candles["vol24"] = nxt[:, 1]
    candles = candles.dropna(subset=["close"])
    candles["high"] = np.maximum(candles["high"], candles["close"])
    candles["low"] = np.minimum(candles["low"], candles["close"])
    candles["amount"] = candles["vol24"] * step_s / 86400
    candles["volume"] = candles["amount"] / candles["close"]
    candles["timestamp"] = pd.to_datetime(candles["bucket"], unit="ms", utc=True)
    return validate_candles(candles, source=NAME)


def _parse_quote(asset: Asset, entry: Any) -> Quote:
    if not isinstance(entry, dict):
        raise MalformedDataError(f"coingecko: bad quote for {asset.symbol}", upstream=NAME)
    what = f"{asset.symbol} "
    updated = _optional(entry.get("last_updated_at"), what + "last_updated_at")
    return Quote(
        symbol=asset.symbol,
        price=finite_number(entry.get("usd"), what + "price", source=NAME, positive=True),
        change_24h=_optional(entry.get("usd_24h_change"), what + "24h change", signed=True),
        volume_24h=_optional(entry.get("usd_24h_vol"), what + "24h volume"),
        market_cap=_optional(entry.get("usd_market_cap"), what + "market cap"),
        last_updated=utcnow() if updated is None else ms_to_datetime(updated * 1000),
        source=NAME,
    )


def _optional(value: Any, what: str, *, signed: bool = False) -> float | None:
    """None stays None (unknown); anything else must be a finite number."""
    return None if value is None else finite_number(value, what, source=NAME, signed=signed)


def _series(payload: dict, key: str, *, positive: bool = False) -> Points:
    """`payload[key]` as validated `[[ms, value], ...]`, sorted by time, duplicates dropped."""
    raw = payload.get(key)
    if not isinstance(raw, list):
        raise MalformedDataError(f"coingecko: market_chart lacks {key!r}", upstream=NAME)
    points: dict[int, float] = {}
    for item in raw:
        if not isinstance(item, (list, tuple)) or len(item) != 2:
            raise MalformedDataError(f"coingecko: bad {key} point {item!r}", upstream=NAME)
        ms = int(finite_number(item[0], f"{key} time", source=NAME))
        points[ms] = finite_number(item[1], key, source=NAME, positive=positive)
    return [[ms, points[ms]] for ms in sorted(points)]
