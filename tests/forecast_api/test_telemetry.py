"""Metrics labels: route templates and one bucket for unmatched paths."""

from __future__ import annotations

import pytest
from bentoml._internal.server.http import instruments

from forecast_api import telemetry
from forecast_api.app import CATCH_ALL, create_app
from forecast_api.settings import ServiceSettings


def scope(path: str, method: str = "GET") -> dict:
    return {"type": "http", "path": path, "method": method, "root_path": "", "query_string": b""}


@pytest.fixture(scope="module")
def labels() -> telemetry.RouteLabels:
    app = create_app(ServiceSettings(_env_file=None))
    routes = telemetry.path_routes(app.routes, exclude=[CATCH_ALL])
    return telemetry.RouteLabels(routes, fixed=lambda: ["/forecast"])


@pytest.mark.parametrize(
    ("path", "label"),
    [
        ("/api/predict", "/api/predict"),
        ("/api/history", "/api/history"),
        ("/health", "/health"),
        ("/readyz", "/readyz"),
        ("/forecast", "/forecast"),
        ("/assets/app.js", "/assets/{path}"),
        ("/api/nope-123", telemetry.UNMATCHED),
        ("/wp-admin/x?y", telemetry.UNMATCHED),
    ],
)
def test_labels(labels: telemetry.RouteLabels, path: str, label: str) -> None:
    assert labels(scope(path)) == label


def test_wrong_method_keeps_the_template(labels: telemetry.RouteLabels) -> None:
    assert labels(scope("/api/predict", "DELETE")) == "/api/predict"


async def test_patched_middleware_labels_by_template_and_passes_the_real_path() -> None:
    seen: list[str] = []

    async def inner(scope, receive, send) -> None:
        seen.append(scope["path"])

    patched = telemetry.templated(instruments.RunnerTrafficMetricsMiddleware, lambda s: "/x")
    recorded: list[str] = []

    async def base_call(self, scope, receive, send) -> None:  # stands in for BentoML's
        recorded.append(scope["path"])
        await self.app(scope, receive, send)

    patched.__bases__[0].__call__, original = base_call, patched.__bases__[0].__call__
    try:
        await patched(inner, namespace="t")(scope("/api/random-1"), None, None)
    finally:
        patched.__bases__[0].__call__ = original
    assert recorded == ["/x"] and seen == ["/api/random-1"]
