"""The API process's FastAPI app and its services; `service.py` mounts and binds them."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from fastapi import FastAPI, HTTPException, Request
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import RedirectResponse
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dashboard import dashboard_router, install_offline_docs
from data_sources import MarketDataSource, build_source
from forecast_api.access.gate import KeyGate
from forecast_api.access.keys import KeyRing
from forecast_api.access.quota import Quotas
from forecast_api.agents.mount import mcp_mount
from forecast_api.alerts.alerting import Alerts
from forecast_api.alerts.routes import router as alerts_router
from forecast_api.backtests.jobs import Backtests, Enqueue
from forecast_api.backtests.routes import router as backtests_router
from forecast_api.forecasts.intervals import served_intervals
from forecast_api.forecasts.market import MarketData
from forecast_api.forecasts.predictions import PredictionService
from forecast_api.http.errors import TOO_LARGE, error_json, install_error_handlers
from forecast_api.http.http_rules import EmptyQueryIsAbsent, HeadAsGet
from forecast_api.http.routes import Services, bound_services, router
from forecast_api.ledger_side.ledger_link import LedgerLink
from forecast_api.ledger_side.ledger_upkeep import LedgerUpkeep
from forecast_api.ledger_side.track_record import TrackRecord
from forecast_api.ops.data_source import DataSourceTracker
from forecast_api.ops.fair_queue import FairRunnerClient
from forecast_api.ops.health import HealthReporter
from forecast_api.ops.runner_client import RunnerClient
from forecast_api.settings import ServiceSettings
from forecast_api.shared.state import InProcessState, SharedState
from forecast_api.streams.hub import StreamHub
from forecast_api.streams.stream_route import router as stream_router
from forecasting.baselines import FallbackForecaster
from forecasting.calibration import BandCalibration
from forecasting.summary import BAND_LEVEL

logger = logging.getLogger(__name__)

BODY_BYTES_PER_CANDLE = 1024
CATCH_ALL = "/api/{path:path}"
ANY_METHOD = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
API_ROUTERS = (router, alerts_router, backtests_router, stream_router)


def load_calibration(path: Path | None) -> tuple[BandCalibration | None, str | None]:
    """(calibration, None) from KRONOS_CALIBRATION, (None, why) when it cannot be used."""
    if path is None:
        return None, None
    try:
        calibration = BandCalibration.load(path)
        if BAND_LEVEL not in calibration.levels or calibration.feature != "close":
            raise ValueError(f"needs a close-price calibration for level {BAND_LEVEL}")
    except Exception as exc:  # missing file, bad JSON...
        logger.warning("band calibration %s not used: %s", path, exc)
        return None, f"{type(exc).__name__}: {exc}"
    return calibration, None


def shared_state(settings: ServiceSettings) -> SharedState:
    """Redis at REDIS_URL, else this worker alone (the redis client, ~20 MiB of imports, is
    loaded only when REDIS_URL is set)."""
    if not settings.redis_url:
        return InProcessState()
    from forecast_api.shared.redis_state import RedisState

    return RedisState(settings.redis_url)


def build_services(
    settings: ServiceSettings,
    runner: RunnerClient,
    source: MarketDataSource | None = None,
    enqueue: Enqueue | None = None,
    stopping: Callable[[], bool] = lambda: False,
) -> Services:
    """The services of one API worker: market data, predictions and health on `runner` (shared
    fairly between clients), keys and quotas, the shared state; backtests (with a ledger and
    `enqueue`, which queues a job id), alert rules and the stream's hub; `stopping` says when
    the worker drains (open streams end)."""
    source = source or build_source(settings.market)
    shared = shared_state(settings)
    runner = FairRunnerClient(runner, settings.runner_max_in_flight)
    fallback = FallbackForecaster()
    tracker = DataSourceTracker(source.name)
    lookback = max(settings.kronos_lookback, fallback.min_history)
    market = MarketData(source, tracker, lookback, served_intervals(settings, source))
    calibration, calibration_error = load_calibration(settings.kronos_calibration)
    link = None
    if settings.ledger_url:
        recalibration, blend = settings.ledger_fits()
        link = LedgerLink(
            settings.ledger_url,
            settings.kronos_model,
            recalibration=recalibration,
            blend=blend,
        )
    health = HealthReporter(
        runner,
        tracker,
        model_id=settings.kronos_model,
        tokenizer_id=settings.kronos_tokenizer,
        calibrated=calibration is not None,
        calibration_error=calibration_error,
        refresh_s=settings.health_refresh,
        shared=shared,
    )
    predictions = PredictionService(
        settings,
        market,
        runner,
        fallback=fallback,
        calibration=calibration,
        recorder=link,
        checkpoint=health.monitor.checkpoint_digest,
        shared=shared,
        challengers=health.monitor.loaded_challengers,
    )
    upkeep = alerts = backtests = hub = None
    if link is not None:
        alerts = Alerts(settings, link.open, market)
        hub = StreamHub(
            link.open,
            settings.forecast_intervals,
            max_per_client=settings.stream_max_per_client,
            stopping=stopping,
        )
        upkeep = LedgerUpkeep(
            link,
            market,
            predictions,
            health.monitor,
            settings,
            observe=alerts.observe,
            after_round=hub.tail,
        )
        health.ledger = upkeep
        if enqueue is not None:
            backtests = Backtests(settings, link.open, market, runner, enqueue)
    track_record = TrackRecord(link and link.open, market, settings.forecast_intervals)
    keys = KeyRing(
        None if link is None else link.api_key,
        key_quota=settings.key_compute_per_minute,
        anonymous_quota=settings.anonymous_compute_per_minute,
    )
    quotas = Quotas(shared, max_labels=settings.key_metrics_labels)
    return Services(
        settings,
        market,
        predictions,
        health,
        track_record,
        keys,
        quotas,
        ledger=upkeep,
        alerts=alerts,
        backtests=backtests,
        stream=hub,
    )


def max_body_size(settings: ServiceSettings) -> int:
    """Largest request body accepted (413 above): room for FORECAST_MAX_CANDLES generously
    formatted candles, so a huge body is refused before it is parsed."""
    return BODY_BYTES_PER_CANDLE * settings.forecast_max_candles + 64 * 1024


class BodyLimit:
    """ASGI middleware: a JSON 413 for request bodies over `max_bytes`, refused by their
    Content-Length up front or counted while a chunked body streams in (never read whole)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on, or answer 413."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        message = f"request body over {self.max_bytes} bytes"
        length = next((v for k, v in scope["headers"] if k == b"content-length"), b"")
        if length.isdigit() and int(length) > self.max_bytes:
            await error_json(413, TOO_LARGE, message)(scope, receive, send)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            received = await receive()
            seen += len(received.get("body", b""))
            if seen > self.max_bytes:  # FastAPI's HTTPException: the body parser re-raises it
                raise HTTPException(413, message)
            return received

        await self.app(scope, counted, send)


async def unknown_route(request: Request, path: str) -> RedirectResponse:
    """Unknown `/api/` paths (404) and wrong methods on known ones (405) as JSON errors;
    without this route BentoML answers them in plain text. A known path with a trailing
    slash is redirected (307)."""
    known = [r for rt in API_ROUTERS for r in rt.routes if isinstance(r, APIRoute)]
    if path.endswith("/"):
        bare = {**request.scope, "path": request.url.path.rstrip("/")}
        if any(route.matches(bare)[0] is Match.FULL for route in known):
            return RedirectResponse(request.url.replace(path=bare["path"]), status_code=307)
    allowed = {
        method
        for route in known
        if route.matches(request.scope)[0] is Match.PARTIAL
        for method in route.methods
    }
    if allowed:
        raise StarletteHTTPException(405, headers={"Allow": ", ".join(sorted(allowed))})
    raise StarletteHTTPException(404, f"no route /api/{path}")


def create_app(settings: ServiceSettings) -> FastAPI:
    """The app with every route, the MCP server at `/mcp` (its session manager runs in the app's
    lifespan), JSON errors, the body limit and the HTTP rules for clients
    (`forecast_api.http.http_rules`); bind services with `forecast_api.http.routes.provide`."""
    mcp = mcp_mount(lambda: bound_services(app))  # `app` is bound below, before any request
    app = FastAPI(
        lifespan=mcp.lifespan,
        title="Kronos forecast service",
        version="0.1.0",
        description="Crypto price forecasts from the Kronos candlestick foundation model.",
        docs_url=None,  # served offline by install_offline_docs (no CDN)
        redoc_url=None,
    )
    install_offline_docs(app)
    app.include_router(dashboard_router())
    app.add_middleware(BodyLimit, max_bytes=max_body_size(settings))
    app.add_middleware(EmptyQueryIsAbsent)
    app.add_middleware(HeadAsGet)
    if settings.require_keys:
        app.add_middleware(KeyGate)
    install_error_handlers(app)
    for api_router in API_ROUTERS:
        app.include_router(api_router)
    app.router.routes.append(mcp.route)
    app.add_api_route(
        CATCH_ALL,
        unknown_route,
        methods=ANY_METHOD,
        include_in_schema=False,
        response_model=None,
    )
    return app
