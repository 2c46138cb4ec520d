"""Helpers shared by the in-process API tests and the end-to-end server tests."""

from __future__ import annotations

import asyncio

import httpx
from fastapi.testclient import TestClient

from forecast_api.app import build_services, create_app
from forecast_api.http.routes import provide
from forecast_api.settings import ServiceSettings
from kronos_runner.runner import RunnerCore
from kronos_runner.wire import RunnerItem, RunnerResult, RunnerStatus

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


class LocalRunnerClient:
    """The API's `RunnerClient` over an in-process `RunnerCore` (no BentoML, no batching)."""

    def __init__(self, core: RunnerCore) -> None:
        self.core = core

    async def forecast(
        self, items: list[RunnerItem], *, scheduled: bool = False
    ) -> list[RunnerResult]:
        """Run the batch in a worker thread."""
        return await asyncio.to_thread(self.core.forecast, items, scheduled)

    async def status(self) -> RunnerStatus:
        """The core's model state."""
        return self.core.status()


def client_for(settings: ServiceSettings, runner: object) -> TestClient:
    """An in-process client of the app with services on `settings` and `runner`."""
    app = create_app(settings)
    provide(app, build_services(settings, runner))
    return TestClient(app)
