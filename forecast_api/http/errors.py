"""JSON errors `{"error": "<code>", "message": "..."}` and the FastAPI handlers that send them.

404 unknown symbol, 422 invalid parameters or malformed body, 503 market data unavailable with
nothing usable cached. A 500 only ever means a fault of the service itself.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from data_sources import MarketDataError, UnknownSymbolError, UpstreamRateLimitedError
from forecast_api.http.schemas import ErrorResponse

logger = logging.getLogger(__name__)

TOO_LARGE = "body_too_large"
ERROR_RESPONSES = {
    404: {"description": "unknown symbol", "model": ErrorResponse},
    422: {"description": "invalid parameters or malformed body", "model": ErrorResponse},
    401: {
        "description": "API key missing where needed, unknown or revoked",
        "model": ErrorResponse,
    },
    429: {"description": "compute quota of this minute used up", "model": ErrorResponse},
    503: {
        "description": "market data unavailable and nothing usable cached",
        "model": ErrorResponse,
    },
}
BODY_ERROR_RESPONSES = {
    **ERROR_RESPONSES,
    415: {"description": "the body is not declared JSON", "model": ErrorResponse},
}


class ServiceError(Exception):
    """An error with an HTTP status and a stable error code."""

    status = 500
    code = "internal_error"

    def __init__(self, message: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.headers = headers


class InvalidRequestError(ServiceError):
    """A parameter or body the client sent is out of range or malformed."""

    status = 422
    code = "invalid_parameters"


class UnsupportedMediaTypeError(ServiceError):
    """A request body that is not declared JSON."""

    status = 415
    code = "unsupported_media_type"


class NotFoundError(ServiceError):
    """The resource the path names does not exist (an alert rule, a backtest job)."""

    status = 404
    code = "not_found"


class LimitReachedError(ServiceError):
    """A bounded resource is full (its message names the setting)."""

    status = 429
    code = "limit_reached"


class UnknownSymbol(ServiceError):
    """The symbol is not in the asset registry."""

    status = 404
    code = "unknown_symbol"


class DataUnavailableError(ServiceError):
    """Market data could not be fetched and no usable forecast is cached."""

    status = 503
    code = "market_data_unavailable"


class UnauthorizedError(ServiceError):
    """No API key where one is needed, or one that is unknown or revoked."""

    status = 401
    code = "unauthorized"

    def __init__(self, message: str) -> None:
        super().__init__(message, {"WWW-Authenticate": "Bearer"})


class RateLimitedError(ServiceError):
    """The client's compute quota for this minute is used up."""

    status = 429
    code = "rate_limited"

    def __init__(self, message: str, retry_after_s: float) -> None:
        super().__init__(message, {"Retry-After": str(max(1, math.ceil(retry_after_s)))})


FILES_HINT = (
    "no internet? serve candle files instead: MARKET_DATA_SOURCE=files "
    "MARKET_DATA_DIR=/path/to/csv-dir (files named <SYMBOL>_1h.csv; see docs/market-data.md)"
)


def market_hint(exc: MarketDataError) -> str | None:
    """How to get market data when a remote upstream failed (None for the files source and
    for unknown symbols, whose messages already say what to change)."""
    if isinstance(exc, UnknownSymbolError) or exc.upstream in (None, "files"):
        return None
    return FILES_HINT


def from_market_error(exc: MarketDataError) -> ServiceError:
    """Map a `data_sources` error to the service error a client sees (naming the upstream
    that failed and, for a remote one, how to serve files instead)."""
    if isinstance(exc, UnknownSymbolError):
        return UnknownSymbol(str(exc))
    if isinstance(exc, UpstreamRateLimitedError):
        wait = {"Retry-After": str(math.ceil(exc.retry_after))} if exc.retry_after else None
        error = DataUnavailableError(f"market data upstream rate-limited us: {exc}", wait)
        error.code = "upstream_rate_limited"
        return error
    source = f" from {exc.upstream}" if exc.upstream else ""
    hint = market_hint(exc)
    return DataUnavailableError(
        f"market data unavailable{source}: {exc}" + (f"; {hint}" if hint else "")
    )


def error_json(
    status: int, code: str, message: str, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    """The error body every route uses."""
    return JSONResponse(
        status_code=status, content={"error": code, "message": message}, headers=headers
    )


EMPTY_QUERY = "empty_query"  # request state: the query parameters sent without a value


def _error_message(err: Mapping, empty: frozenset[str]) -> str:
    """One validation error as the client reads it: a blank required parameter is called
    empty (not missing), a body that is not JSON says so with the character where it breaks."""
    loc = err.get("loc", ())
    if err.get("type") == "json_invalid":
        at = loc[1] if len(loc) > 1 else 0
        why = err.get("ctx", {}).get("error", "malformed")
        return f"the body is not valid JSON (character {at}): {why}"
    where = ".".join(str(p) for p in loc if p not in ("query", "body"))
    if err.get("type") == "missing" and loc[:1] == ("query",) and where in empty:
        return f"{where}: empty; give a value ({where}=...)"
    return f"{where}: {err.get('msg', 'invalid')}" if where else err.get("msg", "")


def _validation_message(exc: RequestValidationError, empty: frozenset[str]) -> str:
    parts = [_error_message(err, empty) for err in exc.errors()]
    return "; ".join(parts) or "invalid request"


def install_error_handlers(app: FastAPI) -> None:
    """Send every error from `app` in the `{"error", "message"}` shape."""

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        empty = frozenset(request.scope.get("state", {}).get(EMPTY_QUERY, ()))
        return error_json(422, InvalidRequestError.code, _validation_message(exc, empty))

    @app.exception_handler(ServiceError)
    async def _service(_: Request, exc: ServiceError) -> JSONResponse:
        return error_json(exc.status, exc.code, exc.message, exc.headers)

    @app.exception_handler(MarketDataError)
    async def _market(_: Request, exc: MarketDataError) -> JSONResponse:
        error = from_market_error(exc)
        return error_json(error.status, error.code, error.message, error.headers)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400:  # FastAPI could not parse the body (e.g. nested too deep)
            return error_json(422, InvalidRequestError.code, f"malformed body: {exc.detail}")
        code = {404: "not_found", 405: "method_not_allowed", 413: TOO_LARGE}.get(
            exc.status_code, "http_error"
        )
        return error_json(exc.status_code, code, str(exc.detail), exc.headers)

    @app.exception_handler(Exception)
    async def _internal(_: Request, exc: Exception) -> JSONResponse:
        logger.exception("unhandled error", exc_info=exc)
        return error_json(500, "internal_error", "internal server error")
