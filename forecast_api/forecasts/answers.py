"""Per-symbol answers from cached forecasts: the response with the distribution fields asked
for, and, when market data cannot be fetched, the latest cached forecast labelled stale (up to
`STALE_MAX_AGE` old) or the error."""

from __future__ import annotations

import logging
from collections.abc import Callable

from data_sources import MarketDataError
from forecast_api.forecasts.distribution import DistributionRequest, with_distribution
from forecast_api.forecasts.market import canonical
from forecast_api.http.errors import DataUnavailableError, ServiceError, from_market_error
from forecast_api.http.responses import CachedForecast, Snapshot, predict_response
from forecast_api.http.schemas import PredictResponse

logger = logging.getLogger(__name__)

# The latest cached forecast of a (canonical) symbol and its age in seconds, if any.
Latest = Callable[[str], tuple[CachedForecast, float] | None]


def respond(
    value: CachedForecast, origin: str, snap: Snapshot, wanted: DistributionRequest
) -> PredictResponse:
    """The response for a cached forecast, with the distribution fields `wanted` added."""
    response = predict_response(value.symbol, value, origin, snap)
    if wanted and value.closes is not None:
        response.prediction = with_distribution(
            value.prediction, value.closes, wanted, value.calibration, value.rolling, value.record
        )
    return response


def market_failure(exc: BaseException, symbol: str) -> ServiceError:
    """The `ServiceError` for a failure fetching `symbol`'s market data."""
    if isinstance(exc, MarketDataError):
        return from_market_error(exc)
    if isinstance(exc, ServiceError):
        return exc
    logger.exception("unexpected error fetching %s", symbol, exc_info=exc)
    return DataUnavailableError(f"market data unavailable: {type(exc).__name__}")


def stale_or_error(
    exc: BaseException, symbol: str, latest: Latest, wanted: DistributionRequest
) -> ServiceError | PredictResponse:
    """A market-data failure: the latest cached forecast, labelled stale, or the error."""
    error = market_failure(exc, symbol)
    if error.status != 503:
        return error
    found = latest(canonical(symbol))
    if found is None:
        return error
    value, age = found
    return respond(value, "hit", value.snapshot.aged(age), wanted)
