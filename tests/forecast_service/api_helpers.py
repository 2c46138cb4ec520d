"""Helpers shared by the in-process API tests and the end-to-end server tests."""

from __future__ import annotations

import httpx
from fastapi.testclient import TestClient

from data_sources import build_source
from forecast_service.api import create_app
from forecast_service.forecasting import ForecastEngine
from forecast_service.settings import ServiceSettings

API_ROUTES = (
    "/api/predict",
    "/api/predict/batch",
    "/api/forecast",
    "/api/history",
    "/api/assets",
    "/health",
)


def assert_error(response: httpx.Response, status: int, code: str) -> None:
    """`response` is the `{"error": code, "message": ...}` body with HTTP `status`."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error", "message"} and body["error"] == code and body["message"]


def client_for(settings: ServiceSettings, runner: object) -> TestClient:
    """An in-process client of the app with an engine on `settings` and `runner`."""
    app = create_app(settings)
    app.state.engine = ForecastEngine(settings, build_source(settings.market), runner)
    return TestClient(app)
