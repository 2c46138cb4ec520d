"""The forecast ledger as the API reads it: `/api/accuracy`, `/api/leaderboard` and
`/api/forecasts`.

The ledger (`ledger` package: SQLite by default, PostgreSQL for several replicas) is the
worker's `LedgerLink`, opened on first use in a worker thread, so a missing or unreachable
database never delays start-up or the forecast routes; its queries also run in a worker thread.
"Now" is the market data's now: the close of the newest candle the source serves (for the files
source, its last candle).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from forecast_api.forecasts.intervals import checked_interval
from forecast_api.forecasts.market import MarketData
from forecast_api.http.errors import DataUnavailableError, InvalidRequestError
from ledger import leaderboard as board
from ledger.accuracy import accuracy
from ledger.past_forecasts import forecasts
from ledger.records import to_epoch
from ledger.store import Ledger

DEFAULT_DAYS = 30  # /api/forecasts without `from`: this many days before `to`


class TrackRecord:
    """Reads the ledger `open_ledger` opens for the track-record routes (None: no ledger)."""

    def __init__(
        self,
        open_ledger: Callable[[], Ledger] | None,
        market: MarketData,
        offered: Sequence[str],
    ) -> None:
        self.open_ledger = open_ledger
        self.market = market
        self.offered = tuple(offered)  # FORECAST_INTERVALS (those served: `market.intervals`)

    async def _query(self, function: Any, *args: Any, **kwargs: Any) -> Any:
        """Run a ledger query in a worker thread; a database failure is a 503."""

        if self.open_ledger is None:
            raise DataUnavailableError("no forecast ledger: LEDGER_URL is empty")
        open_ledger = self.open_ledger

        def run() -> Any:
            return function(open_ledger(), *args, **kwargs)

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
        checked_interval(self.market.intervals, interval, self.offered)
        return (await self.market.now(interval)).to_pydatetime()

    def _symbol(self, symbol: str) -> str:
        """ALL, or the asset's canonical symbol (unknown: 404)."""
        if symbol.strip().upper() == "ALL":
            return "ALL"
        return self.market.source.assets.get(symbol).symbol

    async def accuracy(self, symbol: str, interval: str, days: int) -> dict[str, Any]:
        """The track record of scheduled (and replayed) forecasts of the last `days` days."""
        name = self._symbol(symbol)
        now = await self.now(interval)
        return await self._query(accuracy, name, interval, days, now)

    async def leaderboard(self, symbol: str, interval: str, days: int) -> dict[str, Any]:
        """Every forecaster of the last `days` days ranked by CRPS (`ledger.leaderboard`)."""
        name = self._symbol(symbol)
        now = await self.now(interval)
        return await self._query(board.leaderboard, interval, days, now, symbol=name)

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
        last = to_epoch(end or await self.now(interval))
        first = last - DEFAULT_DAYS * 86400 if start is None else to_epoch(start)
        return await self._query(forecasts, name, interval, first, last, limit=limit, cursor=cursor)
