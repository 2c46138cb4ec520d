"""The forecast ledger as the API reads it: `/api/accuracy` and `/api/forecasts`.

The ledger (`ledger` package: SQLite by default, PostgreSQL for several replicas) is opened on
first use, in a worker thread, so a missing or unreachable database never delays start-up or
the forecast routes; its queries also run in a worker thread. "Now" is the market data's now:
the close of the newest candle the source serves (for the files source, its last candle).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import pandas as pd

from forecast_api.errors import DataUnavailableError, InvalidRequestError
from forecast_api.market import MarketData
from forecasting.candles import interval_seconds
from ledger import queries
from ledger.store import Ledger


class TrackRecord:
    """Reads the ledger at `url` for the track-record routes."""

    def __init__(self, url: str, market: MarketData, intervals: Sequence[str]) -> None:
        self.url = url
        self.market = market
        self.intervals = tuple(intervals)
        self._ledger: Ledger | None = None
        self._lock = threading.Lock()

    def _open(self) -> Ledger:
        """The ledger, opened (and migrated) on first use."""
        with self._lock:
            if self._ledger is None:
                self._ledger = Ledger.open(self.url)
            return self._ledger

    async def _query(self, function: Any, *args: Any, **kwargs: Any) -> Any:
        """Run a ledger query in a worker thread; a database failure is a 503."""

        def run() -> Any:
            return function(self._open(), *args, **kwargs)

        try:
            return await asyncio.to_thread(run)
        except ValueError as exc:
            raise InvalidRequestError(str(exc)) from exc
        except Exception as exc:  # database down, bad URL...
            raise DataUnavailableError(
                f"forecast ledger unavailable: {type(exc).__name__}"
            ) from exc

    async def now(self, interval: str) -> datetime:
        """The service's current time: the close of the newest candle of the first asset."""
        if interval not in self.intervals:
            known = ", ".join(self.intervals)
            raise InvalidRequestError(
                f"interval: unknown interval {interval!r}; use one of {known}"
            )
        first = self.market.source.assets.all()[0].symbol
        view = await self.market.view(first, interval)
        close = view.last_candle + pd.Timedelta(seconds=interval_seconds(interval))
        return close.to_pydatetime()

    async def accuracy(self, symbol: str, interval: str, days: int) -> dict[str, Any]:
        """The track record of scheduled (and replayed) forecasts of the last `days` days."""
        name = (
            "ALL"
            if symbol.strip().upper() == "ALL"
            else self.market.source.assets.get(symbol).symbol
        )
        now = await self.now(interval)
        return await self._query(queries.accuracy, name, interval, days, now)

    async def forecasts(
        self,
        symbol: str,
        interval: str,
        start: datetime | None,
        end: datetime | None,
        limit: int,
        cursor: str | None,
    ) -> dict[str, Any]:
        """Past forecasts of `symbol` with their realised values, newest first, paginated."""
        name = self.market.source.assets.get(symbol).symbol
        end = end or await self.now(interval)
        start = start or end - timedelta(days=30)
        return await self._query(
            queries.forecasts, name, interval, start, end, limit=limit, cursor=cursor
        )
