"""The interface every market data source implements."""

from __future__ import annotations

import operator
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
    #: Whether calls may wait on the network (then callers overlap them); False for a source
    #: whose calls answer from memory, which callers then await one after the other.
    remote: bool = True

    @abstractmethod
    async def candles(self, symbol: str, interval: str = "1h", limit: int = 500) -> pd.DataFrame:
        """The last `limit` closed candles, ascending; `df.attrs` has source, stale, age_seconds."""

    @abstractmethod
    async def quote(self, symbol: str) -> Quote:
        """The latest price, 24h change (%), 24h volume, market cap and update time."""

    @abstractmethod
    async def history(self, symbol: str, days: int) -> History:
        """`days` of price/volume/market-cap points (hourly up to 90 days, daily beyond)."""

    async def refresh_assets(self) -> None:  # noqa: B027 (a no-op unless overridden)
        """Bring `assets` up to date with the universe (ASSETS=all); a no-op otherwise."""

    def serves(self, interval: str) -> bool:
        """Whether this source can give `interval` candles at all (for some symbol)."""
        return True

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


def _integer(value: object, what: str, low: int, high: int | None = None) -> int:
    """`value` as an int in [low, high] (numpy integers accepted, bools not), else ValueError."""
    try:
        if isinstance(value, bool):
            raise TypeError
        number = operator.index(value)
    except TypeError:
        number = None
    if number is None or number < low or (high is not None and number > high):
        bounds = f"from {low} to {high}" if high is not None else f">= {low}"
        raise ValueError(f"{what} must be an integer {bounds}, not {value!r}")
    return number


def check_limit(limit: int) -> int:
    """`limit` if it is a positive integer, else ValueError."""
    return _integer(limit, "limit", 1)


def check_days(days: int) -> int:
    """`days` if it is an integer in 1..365, else ValueError."""
    return _integer(days, "days", 1, MAX_HISTORY_DAYS)
