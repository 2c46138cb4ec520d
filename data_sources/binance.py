"""Binance spot klines client: real OHLCV with quote volume as `amount`, closed candles only."""

from __future__ import annotations

from typing import Any

import httpx
import pandas as pd

from forecasting.candles import interval_seconds

from .assets import Asset
from .errors import MalformedDataError, MarketDataError, UnknownSymbolError
from .http import UpstreamClient
from .models import utcnow, validate_candles
from .settings import MarketDataSettings

NAME = "binance"
MAX_LIMIT = 1000  # klines per request
KLINES_WEIGHT = 2
EXCHANGE_INFO_WEIGHT = 20
QUOTE_ASSET = "USDT"  # the universe of ASSETS=all: pairs quoted in USDT
_COLUMNS = ("timestamp", "open", "high", "low", "close", "volume", "close_ms", "amount")


def _classify(response: httpx.Response) -> MarketDataError | None:
    try:
        code = response.json().get("code")
    except (ValueError, AttributeError):
        return None
    if response.status_code == 400 and code == -1121:
        return UnknownSymbolError(f"binance: invalid symbol ({response.text[:100]})", upstream=NAME)
    return None


class BinanceClient:
    """`GET /api/v3/klines`, paging backwards when more than 999 candles are asked for."""

    def __init__(self, settings: MarketDataSettings) -> None:
        self._http = UpstreamClient(
            NAME,
            settings.binance_base_url,
            settings,
            calls_per_minute=settings.binance_weight_per_minute,
            classify=_classify,
        )

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    async def usdt_pairs(self) -> list[tuple[str, str]]:
        """(base asset, pair) of every USDT pair `GET /api/v3/exchangeInfo` lists as TRADING."""
        payload = await self._http.get_json(
            "/api/v3/exchangeInfo", {"symbolStatus": "TRADING"}, weight=EXCHANGE_INFO_WEIGHT
        )
        return parse_usdt_pairs(payload)

    async def candles(self, asset: Asset, interval: str, limit: int) -> pd.DataFrame:
        """The last `limit` closed candles of `asset`'s pair (the still-open one is dropped)."""
        interval_seconds(interval)  # validates
        if asset.binance_pair is None:
            raise UnknownSymbolError(f"{asset.symbol} has no Binance pair", upstream=NAME)
        pages: list[list[tuple]] = []
        wanted = limit + 1  # the newest kline is usually still open
        end_ms: int | None = None
        while wanted > 0:
            size = min(wanted, MAX_LIMIT)
            params: dict[str, Any] = {
                "symbol": asset.binance_pair,
                "interval": interval,
                "limit": size,
            }
            if end_ms is not None:
                params["endTime"] = end_ms
            rows = _parse_klines(
                await self._http.get_json("/api/v3/klines", params, weight=KLINES_WEIGHT)
            )
            if not rows:
                break
            pages.insert(0, rows)
            wanted -= len(rows)
            end_ms = rows[0][0] - 1
            if len(rows) < size:
                break
        frame = pd.DataFrame([row for page in pages for row in page], columns=list(_COLUMNS))
        if frame.empty:
            raise MalformedDataError(f"binance: no klines for {asset.binance_pair}", upstream=NAME)
        now_ms = utcnow().timestamp() * 1000
        frame = frame[frame["close_ms"] < now_ms]
        frame = frame.assign(timestamp=pd.to_datetime(frame["timestamp"], unit="ms", utc=True))
        frame = validate_candles(frame, source=NAME).tail(limit).reset_index(drop=True)
        frame.attrs["source"] = NAME
        return frame


def _parse_klines(payload: Any) -> list[tuple]:
    """Kline rows -> (open_ms, open, high, low, close, volume, close_ms, quote_volume)."""
    if not isinstance(payload, list):
        raise MalformedDataError("binance: klines payload is not a list", upstream=NAME)
    try:
        return [(int(r[0]), *map(float, r[1:6]), int(r[6]), float(r[7])) for r in payload]
    except (TypeError, ValueError, IndexError, KeyError) as exc:
        raise MalformedDataError(f"binance: malformed kline row: {exc}", upstream=NAME) from exc


def parse_usdt_pairs(payload: Any) -> list[tuple[str, str]]:
    """(baseAsset, symbol) of the TRADING USDT entries of an exchangeInfo payload, in its order
    (other quotes and statuses left out)."""
    symbols = payload.get("symbols") if isinstance(payload, dict) else None
    if not isinstance(symbols, list):
        raise MalformedDataError("binance: exchangeInfo has no symbols list", upstream=NAME)
    pairs = []
    for entry in symbols:
        if not isinstance(entry, dict):
            raise MalformedDataError("binance: exchangeInfo entry is not an object", upstream=NAME)
        base, pair = entry.get("baseAsset"), entry.get("symbol")
        if not isinstance(base, str) or not isinstance(pair, str) or not base.strip():
            continue  # an entry without names cannot be served
        if entry.get("quoteAsset") == QUOTE_ASSET and entry.get("status") == "TRADING":
            pairs.append((base, pair))
    return pairs
