"""The data source's recent outcomes, as `/health` reports them."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from data_sources import MarketDataError
from forecast_api.http.errors import market_hint
from forecast_api.http.health_schemas import DataSourceHealth
from forecast_api.http.schemas import iso_utc
from forecast_api.ops.runner_monitor import utc_now


class DataSourceTracker:
    """The outcome of recent data-source calls: degraded while the last call failed."""

    def __init__(self, name: str, clock: Callable[[], datetime] = utc_now) -> None:
        self.name = name
        self._clock = clock
        self._ok_at: datetime | None = None
        self._error: tuple[str, datetime] | None = None
        self._hint: str | None = None

    def succeeded(self) -> None:
        """Record a successful upstream call."""
        self._ok_at = self._clock()

    def failed(self, exc: Exception) -> None:
        """Record a failed upstream call."""
        self._error = (f"{type(exc).__name__}: {exc}", self._clock())
        self._hint = market_hint(exc) if isinstance(exc, MarketDataError) else None

    def health(self) -> DataSourceHealth:
        """`ok` after a success, `degraded` while the latest outcome is a failure."""
        error, error_at = self._error or (None, None)
        if error_at is not None and (self._ok_at is None or self._ok_at <= error_at):
            state = "degraded"
        else:
            state = "ok" if self._ok_at else "unknown"
        return DataSourceHealth(
            name=self.name,
            state=state,
            lastError=error,
            lastErrorAt=None if error_at is None else iso_utc(error_at),
            hint=self._hint if state == "degraded" else None,
        )
