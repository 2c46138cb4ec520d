"""Market data models: `GET /api/history` and `GET /api/assets`."""

from __future__ import annotations

from pydantic import BaseModel, Field


class HistoryData(BaseModel):
    """The specification's `data` object: `[[ms, value], ...]` series."""

    prices: list[tuple[int, float]]
    volumes: list[tuple[int, float]]
    marketCaps: list[tuple[int, float]]


class HistoryResponse(BaseModel):
    """`GET /api/history`."""

    symbol: str
    days: int
    data: HistoryData
    timestamp: str
    dataSource: str
    stale: bool = False


class AssetEntry(BaseModel):
    """One supported asset (`name` is the CoinGecko id, as in the specification; for a pair of
    the exchange's universe with no known CoinGecko id, its lower-case symbol)."""

    symbol: str
    name: str
    supported: bool = True
    coingeckoId: str | None = None  # None: quote and history derived from the pair's candles
    pair: str | None = None  # the Binance spot pair its candles come from


class AssetsResponse(BaseModel):
    """`GET /api/assets`."""

    assets: list[AssetEntry]
    count: int
    intervals: list[str] = Field(
        default_factory=list,
        description="the candle intervals forecast with this market data (`interval=`)",
    )
