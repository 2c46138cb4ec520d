"""What `/health` reports: the data source's recent outcomes and the runner's model state.

The runner's state comes from `RunnerMonitor`, refreshed in the background: `/health` and
`/readyz` never wait on the runner (a runner that is loading, hung or restarting cannot stall
them), and `/health` says how old the state it reports is."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from forecast_api.runner_client import RunnerClient
from forecast_api.runner_monitor import RunnerMonitor, RunnerView, utc_now
from forecast_api.schemas import (
    DataSourceHealth,
    HealthResponse,
    ModelHealth,
    iso_utc,
    now_iso,
)

if TYPE_CHECKING:  # the upkeep imports the market data, which imports this module
    from forecast_api.ledger_upkeep import LedgerUpkeep


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
    """Builds `/health`; answers at once even when the runner or every upstream is down."""

    def __init__(
        self,
        runner: RunnerClient,
        tracker: DataSourceTracker,
        *,
        model_id: str,
        tokenizer_id: str,
        calibrated: bool,
        calibration_error: str | None,
        refresh_s: float = 1.0,
    ) -> None:
        self.monitor = RunnerMonitor(runner, interval_s=refresh_s)
        self.tracker = tracker
        self.model_id, self.tokenizer_id = model_id, tokenizer_id
        self.calibrated, self.calibration_error = calibrated, calibration_error
        self.ledger: LedgerUpkeep | None = None  # set when the worker has a ledger

    def model_from(self, view: RunnerView) -> ModelHealth:
        """`/health`'s model part from the monitor's latest view of the runner."""
        status = view.status
        loaded = status is not None and status.loaded
        if status is None:
            reason = f"runner unavailable: {view.error}"
        else:
            reason = None if loaded else status.error or "runner is loading the model"
        return ModelHealth(
            state="loaded" if loaded else "fallback",
            reason=reason,
            device=None if status is None else status.device,
            modelId=self.model_id,
            tokenizerId=self.tokenizer_id,
            calibrated=self.calibrated,
            calibrationError=self.calibration_error,
            runnerState=view.state,
            checkedAt=None if view.checked_at is None else iso_utc(view.checked_at),
            ageSeconds=view.age_s(),
        )

    async def model(self) -> ModelHealth:
        """The runner's model state as last seen (the first call waits for one short check)."""
        return self.model_from(await self.monitor.view())

    async def report(self) -> HealthResponse:
        """`GET /health`."""
        model = await self.model()
        return HealthResponse(
            timestamp=now_iso(),
            model=model,
            dataSource=self.tracker.health(),
            ledger=None if self.ledger is None else self.ledger.health(),
        )
