"""What `/health` reports: the data source's recent outcomes and the runner's model state.

The runner's state comes from `RunnerMonitor`, refreshed in the background: `/health` and
`/readyz` never wait on the runner (a runner that is loading, hung or restarting cannot stall
them), and `/health` says how old the state it reports is."""

from __future__ import annotations

from typing import Protocol

from forecast_api.http.health_schemas import HealthResponse, LedgerHealth, ModelHealth
from forecast_api.http.schemas import iso_utc, now_iso
from forecast_api.ops.data_source import DataSourceTracker
from forecast_api.ops.runner_client import RunnerClient
from forecast_api.ops.runner_monitor import RunnerMonitor, RunnerView
from forecast_api.shared.state import SharedState


def model_hint(model_id: str, tokenizer_id: str) -> str:
    """How to serve a model when `model_id` (or its tokenizer) could not be loaded."""
    return (
        f"the runner could not load KRONOS_MODEL={model_id} / KRONOS_TOKENIZER={tokenizer_id} "
        "(no internet to the Hugging Face hub, or a wrong path?); point both at local "
        "checkpoint directories, e.g. KRONOS_MODEL=/path/to/model KRONOS_TOKENIZER=/path/to/"
        "tokenizer, or write untrained ones with `kronos-forecast init-checkpoint`; until "
        "then forecasts come from the statistical fallback"
    )


class LedgerStatus(Protocol):
    """The ledger's part of `/health` (the worker's `LedgerUpkeep`), injected by the app."""

    def health(self) -> LedgerHealth:
        """The ledger's state now."""


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
        shared: SharedState | None = None,
    ) -> None:
        self.monitor = RunnerMonitor(runner, interval_s=refresh_s)
        self.tracker = tracker
        self.model_id, self.tokenizer_id = model_id, tokenizer_id
        self.calibrated, self.calibration_error = calibrated, calibration_error
        self.ledger: LedgerStatus | None = None  # set when the worker has a ledger
        self.shared = shared

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
            trainedWeights=status.trainedWeights if loaded else None,
            hint=model_hint(self.model_id, self.tokenizer_id) if view.state == "failed" else None,
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
            sharedState=None if self.shared is None else await self.shared.health(),
        )
