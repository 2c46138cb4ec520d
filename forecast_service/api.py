"""The FastAPI app with the seed's routes; `service.py` mounts it into the BentoML API service.

Routes reach the engine through `app.state.engine`, which the service sets when it starts.
"""

from typing import Annotated

from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.routing import APIRoute
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import RedirectResponse
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dashboard import dashboard_router, install_offline_docs
from forecast_service.errors import (
    ERROR_RESPONSES,
    TOO_LARGE,
    InvalidRequestError,
    ServiceError,
    error_json,
    install_error_handlers,
)
from forecast_service.forecasting import ForecastEngine, canonical, now_iso
from forecast_service.schemas import (
    MAX_SEED,
    SYMBOL_MAX_LENGTH,
    AssetsResponse,
    BatchEntry,
    BatchPredictRequest,
    BatchPredictResponse,
    ForecastRequest,
    ForecastResponse,
    HealthResponse,
    HistoryResponse,
    PredictResponse,
)
from forecast_service.settings import ServiceSettings

Symbol = Annotated[
    str, Query(min_length=1, max_length=SYMBOL_MAX_LENGTH, description="e.g. BTC (any case)")
]
BODY_BYTES_PER_CANDLE = 1024
CATCH_ALL = "/api/{path:path}"
ANY_METHOD = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
Seed = Annotated[
    int | None, Query(ge=0, le=MAX_SEED, description="fixes the sample paths (reproducible)")
]


def engine_of(request: Request) -> ForecastEngine:
    """The engine the service attached to the app."""
    return request.app.state.engine


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
        length = Headers(scope=scope).get("content-length", "")
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


def create_app(settings: ServiceSettings) -> FastAPI:
    """Build the app; limits in the OpenAPI schema come from `settings`."""
    app = FastAPI(
        title="Kronos forecast service",
        version="0.1.0",
        description="Crypto price forecasts from the Kronos candlestick foundation model.",
        docs_url=None,  # served offline by install_offline_docs (no CDN)
        redoc_url=None,
    )
    install_offline_docs(app)
    app.include_router(dashboard_router())
    app.add_middleware(BodyLimit, max_bytes=max_body_size(settings))
    install_error_handlers(app)
    Horizon = Annotated[
        int | None,
        Query(ge=1, le=settings.kronos_max_horizon, description="hours ahead (default 24)"),
    ]
    Samples = Annotated[
        int | None,
        Query(ge=1, le=settings.kronos_max_samples, description="sample paths"),
    ]

    @app.get("/api/predict", response_model=PredictResponse, responses=ERROR_RESPONSES)
    async def predict(
        request: Request,
        symbol: Symbol,
        horizon: Horizon = None,
        samples: Samples = None,
        seed: Seed = None,
    ) -> PredictResponse:
        """Forecast the next `horizon` hours of `symbol` (cached until the next candle closes)."""
        return await engine_of(request).predict(symbol, horizon, samples, seed)

    @app.post("/api/predict/batch", response_model=BatchPredictResponse, responses=ERROR_RESPONSES)
    async def predict_batch(request: Request, body: BatchPredictRequest) -> BatchPredictResponse:
        """Forecast several symbols in as few model passes as possible; errors per entry."""
        if len(body.symbols) > settings.batch_max_symbols:
            raise InvalidRequestError(f"at most {settings.batch_max_symbols} symbols per batch")
        outcomes = await engine_of(request).predict_many(
            body.symbols, body.horizon, body.samples, body.seed
        )
        entries = [
            BatchEntry(symbol=canonical(symbol), ok=False, error=o.code, message=o.message)
            if isinstance(o, ServiceError)
            else BatchEntry(symbol=o.symbol, ok=True, data=o)
            for symbol, o in zip(body.symbols, outcomes, strict=True)
        ]
        return BatchPredictResponse(results=entries, count=len(entries), timestamp=now_iso())

    @app.post("/api/forecast", response_model=ForecastResponse, responses=ERROR_RESPONSES)
    async def forecast(request: Request, body: ForecastRequest) -> ForecastResponse:
        """Forecast the caller's own candles (any market, regular spacing, oldest first)."""
        return await engine_of(request).forecast_candles(body)

    @app.get("/api/history", response_model=HistoryResponse, responses=ERROR_RESPONSES)
    async def history(
        request: Request, symbol: Symbol, days: Annotated[int, Query(ge=1, le=365)] = 7
    ) -> HistoryResponse:
        """Price, volume and market-cap points for the last `days` days."""
        return await engine_of(request).history(symbol, days)

    @app.get("/api/assets", response_model=AssetsResponse)
    async def assets(request: Request) -> AssetsResponse:
        """The supported assets."""
        return engine_of(request).assets()

    @app.get("/health", response_model=HealthResponse)
    async def health(request: Request) -> HealthResponse:
        """Liveness plus model state (loaded, or fallback and why) and data source state."""
        return await engine_of(request).health()

    @app.api_route(CATCH_ALL, methods=ANY_METHOD, include_in_schema=False, response_model=None)
    async def unknown_route(request: Request, path: str) -> RedirectResponse:
        """Unknown `/api/` paths (404) and wrong methods on known ones (405) as JSON errors;
        without this route BentoML answers them in plain text. A known path with a trailing
        slash is redirected (307) as before."""
        known = [r for r in app.router.routes if isinstance(r, APIRoute) and r.path != CATCH_ALL]
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

    return app
