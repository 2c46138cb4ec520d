"""What `/health` reports: the data source's recent outcomes and the runner's model state."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timezone

from forecast_api.runner_client import RunnerClient
from forecast_api.schemas import (
    DataSourceHealth,
    HealthResponse,
    ModelHealth,
    iso_utc,
    now_iso,
)
from kronos_runner.wire import RunnerStatus

STATUS_TIMEOUT = 3.0


def utc_now() -> datetime:
    """The current time, timezone-aware UTC (microseconds)."""
    return datetime.now(timezone.utc)


class DataSourceTracker:
    """The outcome of recent data-source calls: degraded while the last call failed."""

    def __init__(self, name: str, clock: Callable[[], datetime] = utc_now) -> None:
        self.name = name
        self._clock = clock
        self._ok_at: datetime | None = None
        self._error: tuple[str, datetime] | None = None

    def succeeded(self) -> None:
        """Record a successful upstream call."""
        self._ok_at = self._clock()

    def failed(self, exc: Exception) -> None:
        """Record a failed upstream call."""
        self._error = (f"{type(exc).__name__}: {exc}", self._clock())

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
        )


class HealthReporter:
    """Builds `/health`; answers even when the runner or every upstream is down."""

    def __init__(
        self,
        runner: RunnerClient,
        tracker: DataSourceTracker,
        *,
        model_id: str,
        tokenizer_id: str,
        calibrated: bool,
        calibration_error: str | None,
    ) -> None:
        self.runner = runner
        self.tracker = tracker
        self.model_id, self.tokenizer_id = model_id, tokenizer_id
        self.calibrated, self.calibration_error = calibrated, calibration_error

    async def model(self) -> ModelHealth:
        """The runner's model state, or `fallback` with why the runner did not answer."""
        common = {
            "modelId": self.model_id,
            "tokenizerId": self.tokenizer_id,
            "calibrated": self.calibrated,
            "calibrationError": self.calibration_error,
        }
        try:
            status = await asyncio.wait_for(self.runner.status(), timeout=STATUS_TIMEOUT)
        except Exception as exc:  # runner unreachable: say so, keep answering
            reason = f"runner unavailable: {type(exc).__name__}: {exc}"
            return ModelHealth(state="fallback", reason=reason, **common)
        if not isinstance(status, RunnerStatus):
            status = RunnerStatus.model_validate(status)
        return ModelHealth(
            state="loaded" if status.loaded else "fallback",
            reason=None if status.loaded else status.error,
            device=status.device,
            **common,
        )

    async def report(self) -> HealthResponse:
        """`GET /health`."""
        model = await self.model()
        return HealthResponse(timestamp=now_iso(), model=model, dataSource=self.tracker.health())
