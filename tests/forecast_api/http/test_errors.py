"""Error mapping: market-data errors reach clients as JSON with the right status and headers."""

from __future__ import annotations

from fastapi import FastAPI
from starlette.testclient import TestClient

from data_sources import UpstreamRateLimitedError, UpstreamUnavailableError
from forecast_api.http.errors import from_market_error, install_error_handlers


def client_raising(exc: Exception) -> TestClient:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/boom")
    async def boom() -> None:
        raise exc

    return TestClient(app)


def test_rate_limited_upstream_is_a_503_with_retry_after() -> None:
    response = client_raising(
        UpstreamRateLimitedError("binance answered 429", retry_after=12.3)
    ).get("/boom")
    assert response.status_code == 503
    assert response.headers["retry-after"] == "13"
    assert response.json()["error"] == "upstream_rate_limited"
    # the same through the service error the engine raises
    mapped = from_market_error(UpstreamRateLimitedError("429", retry_after=2))
    assert client_raising(mapped).get("/boom").headers["retry-after"] == "2"


def test_no_retry_after_when_the_upstream_gave_no_wait() -> None:
    for exc in (UpstreamRateLimitedError("429"), UpstreamUnavailableError("down")):
        response = client_raising(exc).get("/boom")
        assert response.status_code == 503 and "retry-after" not in response.headers
        assert response.json()["message"]
