"""BentoML wiring: the Kronos runner service and the HTTP API service.

`bentoml serve service:ApiService` starts both: the API service (FastAPI routes, cache, fallback)
and, as its dependency, the runner (model weights, adaptive batching). Scale them independently
with RUNNER_WORKERS / API_WORKERS or as separate deployments. All logic lives in `forecast_api`
and `kronos_runner`; this file only wires them. The API process never imports torch: the runner's
model code is imported inside the runner service only.
"""

from __future__ import annotations

import os
from typing import Any

import bentoml

from forecast_api.app import build_services, create_app
from forecast_api.routes import provide
from forecast_api.runner_client import BentoRunnerClient
from forecast_api.settings import ServiceSettings, get_settings
from kronos_runner.wire import RunnerItem, RunnerResult, RunnerStatus

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
        from kronos_runner.runner import ModelSpec, RunnerCore  # torch: runner process only
        from kronos_runner.threads import set_process_threads

        set_process_threads(settings.kronos_threads or len(os.sched_getaffinity(0)))
        self.core = RunnerCore.load(
            ModelSpec(
                model=settings.kronos_model,
                tokenizer=settings.kronos_tokenizer,
                model_revision=settings.kronos_model_revision,
                tokenizer_revision=settings.kronos_tokenizer_revision,
                device=settings.device,
                max_context=settings.kronos_max_context,
                dtype=settings.kronos_dtype,
            )
        )

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
        self.services = build_services(settings, BentoRunnerClient(self.runner))
        provide(app, self.services)

    @bentoml.on_shutdown
    async def close(self) -> None:
        """Release the market-data connections."""
        await self.services.market.aclose()
