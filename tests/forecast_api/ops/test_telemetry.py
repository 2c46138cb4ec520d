"""Metrics labels: route templates and one bucket for unmatched paths."""

from __future__ import annotations

from typing import ClassVar

import pytest
from bentoml._internal.server.http import instruments

from forecast_api.app import CATCH_ALL, create_app
from forecast_api.ops import telemetry
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
    seen: ClassVar[list[str]] = []

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


class Recording:
    """Stands in for OpenTelemetryMiddleware: records the requests it wraps."""

    seen: ClassVar[list[str]] = []

    def __init__(self, app, **options) -> None:
        self.app, self.options = app, options

    async def __call__(self, scope, receive, send) -> None:
        self.seen.append(scope["path"])
        await self.app(scope, receive, send)


@pytest.mark.parametrize("exported", [False, True])
async def test_spans_only_when_a_tracing_exporter_is_configured(exported: bool) -> None:
    served: list[str] = []

    async def inner(scope, receive, send) -> None:
        served.append(scope["path"])

    class Switch(telemetry.SpansWhenExported):
        base = Recording

    Switch.exported = staticmethod(lambda: exported)
    Recording.seen = []
    middleware = Switch(inner, excluded_urls=None)
    await middleware(scope("/api/predict"), None, None)
    assert served == ["/api/predict"]
    assert Recording.seen == (["/api/predict"] if exported else [])
    assert (middleware.app is inner) is not exported


def test_install_tracing_replaces_bentomls_middleware_once() -> None:
    from opentelemetry.instrumentation import asgi

    original = getattr(asgi.OpenTelemetryMiddleware, "base", asgi.OpenTelemetryMiddleware)
    try:
        telemetry.install_tracing()
        telemetry.install_tracing()
        assert asgi.OpenTelemetryMiddleware is telemetry.SpansWhenExported
        assert telemetry.SpansWhenExported.base is original
        assert telemetry.tracing_exported() is False  # BentoML's default config: no exporter
    finally:
        asgi.OpenTelemetryMiddleware = original


def test_labels_are_remembered_per_path_and_the_memory_is_bounded(monkeypatch) -> None:
    app = create_app(ServiceSettings(_env_file=None))
    labels = telemetry.RouteLabels(telemetry.path_routes(app.routes, exclude=[CATCH_ALL]))
    monkeypatch.setattr(telemetry, "KNOWN_PATHS", 3)
    assert labels(scope("/api/predict")) == "/api/predict"
    labels._routes = []  # a remembered path no longer needs the routes
    assert labels(scope("/api/predict", "DELETE")) == "/api/predict"
    for number in range(3):
        assert labels(scope(f"/x{number}")) == telemetry.UNMATCHED
    assert len(labels._known) <= 3
    assert labels(scope("/api/predict")) == telemetry.UNMATCHED  # forgotten, matched again
