"""The `/health` response models: model, data source, ledger and shared state."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from forecast_api.http.schemas import CalibrationInfo


class ModelHealth(BaseModel):
    """Model state for `/health`: `loaded`, or `fallback` with the reason."""

    state: Literal["loaded", "fallback"]
    reason: str | None = None
    modelId: str
    tokenizerId: str
    device: str | None = None
    calibrated: bool = False
    calibrationError: str | None = None
    runnerState: Literal["unknown", "unreachable", "loading", "loaded", "failed"] = "unknown"
    hint: str | None = Field(None, description="how to fix a failed model load")
    trainedWeights: bool | None = Field(
        None,
        description="false: the loaded checkpoint is marked untrained (random weights), its "
        "forecasts are noise; null: not known (nothing loaded yet)",
    )
    checkedAt: str | None = None  # when the API last checked the runner (in the background)
    ageSeconds: float | None = None  # how old that check is


class DataSourceHealth(BaseModel):
    """Data source state for `/health`, from the outcomes of recent calls (no upstream call)."""

    name: str
    state: Literal["ok", "degraded", "unknown"]
    lastError: str | None = None
    lastErrorAt: str | None = None
    hint: str | None = Field(None, description="how to fix the last error, where known")


class LedgerHealth(BaseModel):
    """The forecast ledger's state in `/health`: writes, background rounds, calibration."""

    state: Literal["ok", "degraded", "down"] = Field(
        description="ok; degraded: a write or background round failed (records kept); down: "
        "writes failed several times in a row"
    )
    buffered: int = Field(description="records waiting to be written")
    capacity: int = Field(description="buffer size; beyond it the oldest record is dropped")
    written: int
    dropped: int = Field(description="records lost to a full buffer since start")
    writeFailures: int
    lastError: str | None = None
    lastFlushAt: str | None = None
    rounds: int = Field(description="background rounds (schedule, score, recalibrate) so far")
    lastRoundAt: str | None = None
    roundError: str | None = Field(None, description="what failed in the last round")
    scheduled: int = Field(description="scheduled forecasts this worker made")
    scored: int = Field(description="steps this worker scored")
    unscorable: int = Field(description="steps marked unscorable (their candle is missing)")
    gridsPruned: int = Field(
        0, description="quantile grids of scored steps deleted (LEDGER_GRID_RETENTION_DAYS)"
    )
    scorerLagSeconds: float | None = Field(
        None, description="age of the oldest closed 1h step still unscored (0: none)"
    )
    calibration: dict[str, CalibrationInfo] = Field(description="per interval, as served")


class SharedStateHealth(BaseModel):
    """Where the prediction cache and usage counters are shared (`REDIS_URL`), in `/health`."""

    backend: Literal["in-process", "redis"]
    state: Literal["local", "ok", "degraded"] = Field(
        description="local: nothing shared (no REDIS_URL); ok: shared through Redis; degraded: "
        "Redis unreachable, this worker serves from its own cache and counters"
    )
    reason: str | None = Field(None, description="why degraded: the last Redis error")
    since: str | None = Field(None, description="when it became degraded")
    nextAttemptInSeconds: float | None = Field(
        None, description="when this worker tries Redis again (degraded only)"
    )


class HealthResponse(BaseModel):
    """`GET /health`: the specification's `status` and `timestamp`, plus model and data state."""

    status: Literal["ok"] = "ok"
    timestamp: str
    model: ModelHealth
    dataSource: DataSourceHealth
    ledger: LedgerHealth | None = Field(None, description="null: no ledger (LEDGER_URL empty)")
    sharedState: SharedStateHealth | None = Field(
        None, description="the shared cache and counters (REDIS_URL); null: not reported"
    )
