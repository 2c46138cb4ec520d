"""The HTTP routes as plain functions; their services arrive through FastAPI dependencies.

`Services` holds what the routes need; `provide(app, services)` binds it to an app (in its
state; tests bind their own).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, Query, Request, Response
from pydantic import AfterValidator, BeforeValidator
from starlette.applications import Starlette

from forecast_api.access.keys import Client, KeyRing
from forecast_api.access.quota import Quotas
from forecast_api.alerts.alerting import Alerts
from forecast_api.backtests.jobs import Backtests
from forecast_api.forecasts.distribution import DistributionRequest
from forecast_api.forecasts.market import MarketData, canonical
from forecast_api.forecasts.predictions import PredictionService
from forecast_api.http import fast_json
from forecast_api.http.errors import (
    BODY_ERROR_RESPONSES,
    ERROR_RESPONSES,
    InvalidRequestError,
    ServiceError,
)
from forecast_api.http.forecast_schemas import ForecastRequest, ForecastResponse
from forecast_api.http.health_schemas import HealthResponse
from forecast_api.http.http_rules import json_body
from forecast_api.http.market_schemas import AssetsResponse, HistoryResponse
from forecast_api.http.schemas import (
    MAX_SEED,
    SYMBOL_MAX_LENGTH,
    BatchEntry,
    BatchPredictRequest,
    BatchPredictResponse,
    PredictResponse,
    digits_only,
    not_blank,
    now_iso,
)
from forecast_api.ledger_side.ledger_upkeep import LedgerUpkeep
from forecast_api.ledger_side.track_record import TrackRecord
from forecast_api.ops.fair_queue import current_client
from forecast_api.ops.health import HealthReporter
from forecast_api.settings import ServiceSettings
from forecast_api.streams.hub import StreamHub
from forecasting.blend import blend_switch


@dataclass(frozen=True)
class Services:
    """Everything behind the routes, built once per API worker."""

    settings: ServiceSettings
    market: MarketData
    predictions: PredictionService
    health: HealthReporter
    track_record: TrackRecord
    keys: KeyRing
    quotas: Quotas
    ledger: LedgerUpkeep | None = None  # background ledger work (None: no ledger)
    alerts: Alerts | None = None  # alert rules (None: no ledger)
    backtests: Backtests | None = None  # backtests on demand (None: no ledger)
    stream: StreamHub | None = None  # /api/stream's subscribers (None: no ledger)


def bound_services(app: Starlette) -> Services:
    """The services `provide` bound to `app`."""
    bound = getattr(app.state, "services", None)
    if bound is None:
        raise RuntimeError("no services bound to this app: call forecast_api.http.routes.provide()")
    return bound


async def services(request: Request) -> Services:
    """The services `provide` bound to the app (async and no override: FastAPI neither
    re-inspects nor hops to a thread per request)."""
    return bound_services(request.app)


def blend_wanted(value: str | None) -> bool:
    """The `blend` parameter: on (default) or off; anything else is a 422 naming it."""
    try:
        return blend_switch(value)
    except ValueError:
        raise InvalidRequestError(f"blend: use 'on' or 'off', got {value!r}") from None


def client_of(request: Request) -> str:
    """Who is asking, for per-client limits: the peer's address."""
    return request.client.host if request.client else "unknown"


def provide(app: FastAPI, bound: Services) -> None:
    """Serve `bound` to every route of `app`."""
    app.state.services = bound


Deps = Annotated[Services, Depends(services)]


async def caller(request: Request, deps: Deps) -> Client:
    """The client asking (401 for a bad key); its fair-share lane is set for this request."""
    client = await deps.keys.client(request.headers)
    host = request.client.host if request.client else "-"
    current_client.set(client.bucket if client.name else f"anonymous:{host}")
    return client


Caller = Annotated[Client, Depends(caller)]
Symbol = Annotated[
    str,
    Query(min_length=1, max_length=SYMBOL_MAX_LENGTH, description="e.g. BTC (any case)"),
    AfterValidator(not_blank),
]
Digits = BeforeValidator(digits_only)
Seed = Annotated[
    int | None,
    Query(ge=0, le=MAX_SEED, description="fixes the sample paths (reproducible)"),
    Digits,
]
Horizon = Annotated[
    int | None, Query(ge=1, description="steps of `interval` ahead (default 24)"), Digits
]
Interval = Annotated[str | None, Query(max_length=8, description="15m, 1h (default), 4h, 1d")]
Quantiles = Annotated[str | None, Query(max_length=400, description="e.g. 0.05,0.25,0.5,0.75,0.95")]
Levels = Annotated[str | None, Query(max_length=400, description="central intervals in %: 50,80")]
Above = Annotated[str | None, Query(max_length=400, description="prices: 100000,120000")]
Samples = Annotated[int | None, Query(ge=1, description="sample paths"), Digits]
BlendParam = Annotated[
    str | None, Query(max_length=8, description="off: the model alone (default on: the blend)")
]
Days = Annotated[int, Query(ge=1, le=365), Digits]
JSON_BODY = [Depends(json_body)]

router = APIRouter()


@router.get("/api/predict", response_model=PredictResponse, responses=ERROR_RESPONSES)
async def predict(
    deps: Deps,
    client: Caller,
    symbol: Symbol,
    horizon: Horizon = None,
    samples: Samples = None,
    seed: Seed = None,
    interval: Interval = None,
    quantiles: Quantiles = None,
    levels: Levels = None,
    above: Above = None,
    blend: BlendParam = None,
) -> PredictResponse | Response:
    """Forecast the next `horizon` candles of `interval` for `symbol` (cached until the next
    candle closes), with the requested quantiles, intervals and threshold probabilities;
    blended as the ledger learned (`blend=off`: the model alone)."""
    wanted = DistributionRequest.parse(deps.settings, quantiles, levels, above)
    response = await deps.predictions.predict(
        symbol,
        horizon,
        samples,
        seed,
        interval=interval,
        distribution=wanted,
        charge=partial(deps.quotas.charge, client),
        blend=blend_wanted(blend),
    )
    return response if wanted else fast_json.predict_body(response)


@router.post(
    "/api/predict/batch",
    response_model=BatchPredictResponse,
    responses=BODY_ERROR_RESPONSES,
    dependencies=JSON_BODY,
)
async def predict_batch(
    deps: Deps, client: Caller, body: BatchPredictRequest
) -> BatchPredictResponse:
    """Forecast several symbols in as few model passes as possible; errors per entry."""
    limit = deps.settings.batch_max_symbols
    if len(body.symbols) > limit:
        raise InvalidRequestError(f"at most {limit} symbols per batch")
    wanted = DistributionRequest.parse(deps.settings, body.quantiles, body.levels, body.above)
    outcomes = await deps.predictions.predict_symbols(
        body.symbols,
        body.horizon,
        body.samples,
        body.seed,
        interval=body.interval,
        distribution=wanted,
        charge=partial(deps.quotas.charge, client),
        blend=blend_wanted(body.blend),
    )
    entries = [
        BatchEntry(symbol=canonical(symbol), ok=False, error=o.code, message=o.message)
        if isinstance(o, ServiceError)
        else BatchEntry(symbol=o.symbol, ok=True, data=o)
        for symbol, o in zip(body.symbols, outcomes, strict=True)
    ]
    return BatchPredictResponse(results=entries, count=len(entries), timestamp=now_iso())


@router.post(
    "/api/forecast",
    response_model=ForecastResponse,
    responses=BODY_ERROR_RESPONSES,
    dependencies=JSON_BODY,
)
async def forecast(deps: Deps, client: Caller, body: ForecastRequest) -> ForecastResponse:
    """Forecast the caller's own candles (any market, regular spacing, oldest first)."""
    charge = partial(deps.quotas.charge, client)
    return await deps.predictions.forecaster.forecast_candles(body, charge)


@router.get("/api/usage", responses=ERROR_RESPONSES)
async def usage(deps: Deps, client: Caller) -> dict:
    """The caller's compute this minute, its quota and its running total (send the key)."""
    return await deps.quotas.usage(client)


@router.get("/api/history", response_model=HistoryResponse, responses=ERROR_RESPONSES)
async def history(deps: Deps, symbol: Symbol, days: Days = 7) -> Response:
    """Price, volume and market-cap points for the last `days` days."""
    name, points = await deps.market.history(symbol, days)
    return fast_json.history_body(name, days, points)


@router.get("/api/assets", response_model=AssetsResponse)
async def assets(deps: Deps) -> AssetsResponse:
    """The supported assets."""
    return await deps.market.assets()


@router.get("/health", response_model=HealthResponse)
async def health(deps: Deps) -> HealthResponse:
    """Liveness plus model state (loaded, or fallback and why) and data source state."""
    return await deps.health.report()


@router.get("/api/accuracy", responses=ERROR_RESPONSES)
async def accuracy(
    deps: Deps,
    symbol: Annotated[str, Query(min_length=1, max_length=SYMBOL_MAX_LENGTH)] = "ALL",
    days: Days = 30,
    interval: Interval = None,
) -> dict:
    """Track record of the scheduled forecasts whose origin lies in the last `days` days: per
    step errors, CRPS against the naive and drift baselines, band coverage, confidence ECE."""
    return await deps.track_record.accuracy(symbol, interval or "1h", days)


@router.get("/api/leaderboard", responses=ERROR_RESPONSES)
async def leaderboard(
    deps: Deps,
    symbol: Annotated[str, Query(min_length=1, max_length=SYMBOL_MAX_LENGTH)] = "ALL",
    days: Days = 30,
    interval: Interval = None,
) -> dict:
    """Every forecaster (served, the model, challengers, baselines) over the scored forecasts
    whose origin lies in the last `days` days, ranked by CRPS; per symbol or ALL."""
    return await deps.track_record.leaderboard(symbol, interval or "1h", days)


@router.get("/api/forecasts", responses=ERROR_RESPONSES)
async def past_forecasts(
    deps: Deps,
    symbol: Symbol,
    interval: Interval = None,
    start: Annotated[datetime | None, Query(alias="from")] = None,
    end: Annotated[datetime | None, Query(alias="to")] = None,
    limit: Annotated[int, Query(ge=1, le=200), Digits] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> dict:
    """Past forecasts of `symbol` with what happened, newest first (`nextCursor` pages on)."""
    return await deps.track_record.forecasts(symbol, interval or "1h", start, end, limit, cursor)
