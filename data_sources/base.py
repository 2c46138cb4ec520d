"""The interface every market data source implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from types import TracebackType

import pandas as pd

from .assets import AssetRegistry
from .models import History, Quote

MAX_HISTORY_DAYS = 365  # CoinGecko's public/demo limit


class MarketDataSource(ABC):
    """Async market data: closed candles, quotes and CoinGecko-style history."""

    name: str
    assets: AssetRegistry

    @abstractmethod
    async def candles(self, symbol: str, interval: str = "1h", limit: int = 500) -> pd.DataFrame:
        """The last `limit` closed candles, ascending; `df.attrs` has source, stale, age_seconds."""

    @abstractmethod
    async def quote(self, symbol: str) -> Quote:
        """The latest price, 24h change (%), 24h volume, market cap and update time."""

    @abstractmethod
    async def history(self, symbol: str, days: int) -> History:
        """`days` of price/volume/market-cap points (hourly up to 90 days, daily beyond)."""

    @abstractmethod
    async def aclose(self) -> None:
        """Release connections."""

    async def __aenter__(self) -> MarketDataSource:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


def check_limit(limit: int) -> int:
    """`limit` if it is a positive int, else ValueError."""
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ValueError(f"limit must be a positive integer, not {limit!r}")
    return limit


def check_days(days: int) -> int:
    """`days` if it is an int in 1..365, else ValueError."""
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_HISTORY_DAYS:
        raise ValueError(f"days must be an integer from 1 to {MAX_HISTORY_DAYS}, not {days!r}")
    return days
