"""BentoML wiring: the Kronos runner service and the HTTP API service.

`bentoml serve service:ApiService` starts both: the API service (FastAPI routes, cache, fallback)
and, as its dependency, the runner (model weights, adaptive batching). Scale them independently
with RUNNER_WORKERS / API_WORKERS or as separate deployments: `bentoml serve service:KronosRunner`
serves the runner alone, and RUNNER_URL points API services at it. All logic lives in `forecast_api`
and `kronos_runner`; this file only wires them. The API process never imports torch: the runner's
model code is imported inside the runner service only.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import Any

# isort: split
import forecasting.lean_pandas  # noqa: F401  before any pandas import: pandas without pyarrow

# isort: split
import bentoml

from forecast_api.app import CATCH_ALL, build_services, create_app
from forecast_api.backtests.task import TASK_ROUTE, submit_over_http
from forecast_api.http.routes import provide
from forecast_api.ops import telemetry
from forecast_api.ops.lifecycle import Drain, DrainGuard, stop_flag
from forecast_api.ops.runner_client import BentoRunnerClient
from forecast_api.settings import ServiceSettings, get_settings
from kronos_runner.access_log import ACCESS_LOGGER, StatusPollFilter
from kronos_runner.wire import RunnerItem, RunnerResult, RunnerStatus

settings = get_settings()

# BentoML 1.4's dependency client closes its aiohttp session every `max_requests` calls or
# `max_age` seconds, aborting the calls in flight on it (bentoml/BentoML#5540, #5544): never
# refresh it. A connection lost to a runner restart is retried by BentoRunnerClient.
NO_SESSION_REFRESH = {"max_requests": 2**31 - 1, "max_age": 10.0**9}


def visible_gpus() -> int:
    """NVIDIA GPUs on this host, counted through NVML as BentoML's allocator counts them (0 when
    NVML cannot tell)."""
    from bentoml._internal.resource import NvidiaGpuResource

    try:
        return len(NvidiaGpuResource.from_system())
    except Exception as exc:  # an NVML error BentoML does not catch: no GPU requested
        logging.getLogger(__name__).warning("no GPU count from NVML: %s", exc)
        return 0


def runner_resources(s: ServiceSettings, gpus: Callable[[], int] = visible_gpus) -> dict[str, Any]:
    """One GPU per runner worker when DEVICE names a CUDA device, or is `auto` on a host with a
    GPU. Decided where the service is served: serving a bento imports this file again, so the
    builder's DEVICE (or GPU) does not matter."""
    wants_gpu = s.device.startswith("cuda") or (s.device == "auto" and gpus() > 0)
    return {"gpu": 1} if wants_gpu else {}


def cors_config(s: ServiceSettings) -> dict[str, Any]:
    """BentoML's CORS middleware (covers every route) for the CORS_ORIGINS origins."""
    return {
        "enabled": bool(s.cors_origins),
        "access_control_allow_origins": s.cors_origins,
        "access_control_allow_methods": ["GET", "POST", "DELETE", "OPTIONS"],
        "access_control_allow_headers": ["*"],
    }


@bentoml.service(
    name="kronos_runner",
    workers=settings.runner_workers,
    resources=runner_resources(settings),
    traffic={"timeout": settings.kronos_timeout + 30},
    runner_connection=NO_SESSION_REFRESH,
    threads=2,  # an interactive batch beside a paused scheduled one (kronos_runner.priority)
)
class KronosRunner:
    """Loads tokenizer + model (and the KRONOS_CHALLENGERS) once per worker (in the background:
    the worker answers and stops meanwhile); forecasts adaptive batches of series."""

    def __init__(self) -> None:
        from kronos_runner.loading import BackgroundCore  # torch: runner process only
        from kronos_runner.runner import ModelSpec
        from kronos_runner.settings import RunnerSettings
        from kronos_runner.threads import set_process_threads

        set_process_threads(settings.kronos_threads or len(os.sched_getaffinity(0)))
        logging.getLogger(ACCESS_LOGGER).addFilter(StatusPollFilter())

        self.core = BackgroundCore(
            ModelSpec(
                model=settings.kronos_model,
                tokenizer=settings.kronos_tokenizer,
                model_revision=settings.kronos_model_revision,
                tokenizer_revision=settings.kronos_tokenizer_revision,
                device=settings.device,
                max_context=settings.kronos_max_context,
                dtype=settings.kronos_dtype,
                challengers=tuple(RunnerSettings().kronos_challengers),
                test_slowdown_s=settings.test_slowdown_s,
            )
        )

    @bentoml.api(
        batchable=settings.kronos_batching,
        max_batch_size=settings.kronos_max_batch_size,
        max_latency_ms=settings.batch_latency_ms,
    )
    def forecast(self, items: list[RunnerItem]) -> list[RunnerResult]:
        """One result (paths) or per-item error for each item."""
        return self.core.forecast(items)

    @bentoml.api(
        batchable=settings.kronos_batching,
        max_batch_size=settings.kronos_max_batch_size,
        max_latency_ms=settings.batch_latency_ms,
    )
    def forecast_scheduled(self, items: list[RunnerItem]) -> list[RunnerResult]:
        """`forecast` for the ledger's scheduled forecasts: a queue of its own, and each model
        pass waits while an interactive batch runs (users go first)."""
        return self.core.forecast(items, scheduled=True)

    @bentoml.api
    async def status(self) -> RunnerStatus:
        """Whether the model is loaded, on which device, and why not (async: answers while a
        forecast occupies the worker thread)."""
        return self.core.status()

    def __is_ready__(self) -> bool:
        """`/readyz`: 200 once loading finished (model loaded, or the fallback decided)."""
        return self.core.settled


app = create_app(settings)
drain = Drain(settings.drain_timeout)
telemetry.install_tracing()
telemetry.install(
    telemetry.RouteLabels(
        telemetry.path_routes(app.routes, exclude=[CATCH_ALL]),
        fixed=telemetry.service_routes,
    )
)


@bentoml.asgi_app(app, path="/")
@bentoml.service(
    name="kronos_api",
    workers=settings.api_workers,
    http={"port": settings.port, "cors": cors_config(settings)},
    logging={"access": {"enabled": settings.api_access_log}},
    traffic={"timeout": settings.kronos_timeout + 60},
    runner_probe={"enabled": False},  # /readyz asks __is_ready__, which never waits on the runner
)
class ApiService:
    """The specification's REST API: /api/predict, /api/history, /api/assets, /health and more."""

    runner = (
        bentoml.depends(url=settings.runner_url, on=KronosRunner)
        if settings.runner_url
        else bentoml.depends(KronosRunner)
    )

    def __init__(self) -> None:
        client = BentoRunnerClient(
            self.runner, timeout_s=settings.kronos_timeout, stop=stop_flag(drain)
        )
        self.services = build_services(
            settings, client, enqueue=submit_over_http(TASK_ROUTE), stopping=stop_flag(drain)
        )
        provide(app, self.services)

    @bentoml.task(route=TASK_ROUTE)
    async def backtest(self, job_id: str) -> dict:
        """Run one backtest job queued by `POST /api/backtests` (`forecast_api.backtests`)."""
        if self.services.backtests is None:
            return {"id": job_id, "status": "failed", "error": "no forecast ledger"}
        return await self.services.backtests.run(job_id)

    @bentoml.on_startup
    async def start(self) -> None:
        """Drain on SIGTERM; start watching the runner's state and the ledger's upkeep."""
        drain.install()
        self.services.health.monitor.start()
        if self.services.ledger is not None:
            self.services.ledger.start()

    def __is_ready__(self) -> bool:
        """`/readyz`: 200 once the runner settled (loaded, or fallback decided), until draining."""
        return self.services.health.monitor.ready and not drain.draining

    @bentoml.on_shutdown
    async def close(self) -> None:
        """Stop watching the runner and the ledger's upkeep (flushing its records); release the
        market-data connections."""
        await self.services.health.monitor.stop()
        if self.services.ledger is not None:
            await self.services.ledger.stop()
        if self.services.alerts is not None:
            await self.services.alerts.stop()
        await self.services.market.aclose()
        await self.services.quotas.shared.aclose()


ApiService.add_asgi_middleware(DrainGuard, drain=drain)
