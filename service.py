"""BentoML wiring: the Kronos runner service and the HTTP API service.

`bentoml serve service:ApiService` starts both: the API service (FastAPI routes, cache, fallback)
and, as its dependency, the runner (model weights, adaptive batching). Scale them independently
with RUNNER_WORKERS / API_WORKERS or as separate deployments. All logic lives in
`forecast_service`; this file only wires it.
"""

from __future__ import annotations

from typing import Any

import bentoml

from data_sources import build_source
from forecast_service.api import create_app
from forecast_service.forecasting import ForecastEngine, load_calibration
from forecast_service.runner_core import BentoRunnerClient, RunnerCore
from forecast_service.schemas import RunnerItem, RunnerResult, RunnerStatus
from forecast_service.settings import ServiceSettings, get_settings

settings = get_settings()


def runner_resources(s: ServiceSettings) -> dict[str, Any]:
    """Ask BentoML for one GPU per runner worker when DEVICE names a CUDA device."""
    return {"gpu": 1} if s.device.startswith("cuda") else {}


def cors_config(s: ServiceSettings) -> dict[str, Any]:
    """BentoML's CORS middleware (covers every route) for the CORS_ORIGINS origins."""
    return {
        "enabled": bool(s.cors_origins),
        "access_control_allow_origins": s.cors_origins,
        "access_control_allow_methods": ["GET", "POST", "OPTIONS"],
        "access_control_allow_headers": ["*"],
    }


@bentoml.service(
    name="kronos_runner",
    workers=settings.runner_workers,
    resources=runner_resources(settings),
    traffic={"timeout": settings.kronos_timeout + 30},
)
class KronosRunner:
    """Loads tokenizer + model once per worker; forecasts adaptive batches of series."""

    def __init__(self) -> None:
        self.core = RunnerCore.load(settings)

    @bentoml.api(
        batchable=settings.kronos_batching,
        max_batch_size=settings.kronos_max_batch_size,
        max_latency_ms=settings.kronos_max_latency_ms,
    )
    def forecast(self, items: list[RunnerItem]) -> list[RunnerResult]:
        """One result (paths) or per-item error for each item."""
        return self.core.forecast(items)

    @bentoml.api
    async def status(self) -> RunnerStatus:
        """Whether the model is loaded, on which device, and why not (async: answers while a
        forecast occupies the worker thread)."""
        return self.core.status()


app = create_app(settings)


@bentoml.asgi_app(app, path="/")
@bentoml.service(
    name="kronos_api",
    workers=settings.api_workers,
    http={"port": settings.port, "cors": cors_config(settings)},
    traffic={"timeout": settings.kronos_timeout + 60},
)
class ApiService:
    """The seed's REST API: /api/predict, /api/history, /api/assets, /health and more."""

    runner = bentoml.depends(KronosRunner)

    def __init__(self) -> None:
        calibration, calibration_error = load_calibration(settings.kronos_calibration)
        self.engine = ForecastEngine(
            settings,
            build_source(settings.market),
            BentoRunnerClient(self.runner),
            calibration=calibration,
            calibration_error=calibration_error,
        )
        app.state.engine = self.engine

    @bentoml.on_shutdown
    async def close(self) -> None:
        """Release the market-data connections."""
        await self.engine.source.aclose()
