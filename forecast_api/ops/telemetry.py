"""Bounded `/metrics`: BentoML's HTTP metrics labelled by route template, not by raw path.

BentoML 1.4's `RunnerTrafficMetricsMiddleware` (bentoml/_internal/server/http/instruments.py)
labels every request metric with `scope["path"]`, so each distinct URL a client sends becomes
new time series (about 4 KB of `/metrics` each, and files in BentoML's prometheus directory).
It is the outermost middleware and BentoML's config has no option for it, so `install` swaps in
a subclass that shows it the route template (`/api/predict`, `/api/history`, BentoML's own
routes) or `UNMATCHED`, and gives the inner app the real path back.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Receive, Scope, Send

UNMATCHED = "/{unmatched}"
BENTOML_ROUTES = ("/", "/livez", "/readyz", "/healthz", "/metrics", "/docs.json", "/schema.json")
STATIC_PREFIXES = ("/assets/", "/static_content/")
ORIGINAL_PATH = "forecast_api.original_path"
KNOWN_PATHS = 1024


def path_routes(routes: Iterable[Any], exclude: Iterable[str] = ()) -> list[BaseRoute]:
    """The routes with a path template, looking into included routers (FastAPI wraps those;
    they are included without a prefix here), less the `exclude`d templates."""
    excluded = set(exclude)
    found: list[BaseRoute] = []
    for route in routes:
        inner = getattr(route, "original_router", None)
        if inner is not None:
            found += path_routes(inner.routes, excluded)
        elif getattr(route, "path", None) is not None and route.path not in excluded:
            found.append(route)
    return found


class RouteLabels:
    """Maps a request scope to a bounded label: a fixed route, a route template or UNMATCHED.
    The label of an HTTP path is remembered (up to KNOWN_PATHS paths, then forgotten at once):
    matching every route again cost 3% of an API worker's CPU on the cached path."""

    def __init__(
        self, routes: Iterable[BaseRoute], fixed: Callable[[], Iterable[str]] = lambda: ()
    ) -> None:
        self._routes = list(routes)
        self._fixed = fixed
        self._known: dict[str, str] = {}

    def __call__(self, scope: Scope) -> str:
        """The label for this request."""
        if scope["type"] != "http":
            return self._label(scope)
        label = self._known.get(scope["path"])
        if label is None:
            label = self._label(scope)
            if len(self._known) >= KNOWN_PATHS:
                self._known.clear()
            self._known[scope["path"]] = label
        return label

    def _label(self, scope: Scope) -> str:
        path = scope["path"]
        if path in BENTOML_ROUTES or path in self._fixed():
            return path
        for prefix in STATIC_PREFIXES:
            if path.startswith(prefix):
                return prefix + "{path}"
        for route in self._routes:
            if route.matches(scope)[0] is not Match.NONE:
                return getattr(route, "path", UNMATCHED)
        return UNMATCHED


class _RestorePath:
    """Gives the wrapped app the request's real path back."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if ORIGINAL_PATH in scope:
            scope = {**scope, "path": scope[ORIGINAL_PATH]}
            del scope[ORIGINAL_PATH]
        await self.app(scope, receive, send)


def templated(base: type, labels: Callable[[Scope], str]) -> type:
    """A subclass of BentoML's metrics middleware `base` that records `labels(scope)` as the
    endpoint and passes the real path on."""

    class TemplatedTrafficMetrics(base):  # type: ignore[misc, valid-type]
        def __init__(self, app: ASGIApp, **options: Any) -> None:
            super().__init__(_RestorePath(app), **options)

        async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] in ("http", "websocket") and scope["path"] != "/metrics":
                scope = {**scope, "path": labels(scope), ORIGINAL_PATH: scope["path"]}
            await super().__call__(scope, receive, send)

    TemplatedTrafficMetrics.labels = staticmethod(labels)
    return TemplatedTrafficMetrics


def install(labels: Callable[[Scope], str]) -> None:
    """Make BentoML build its HTTP metrics middleware with bounded labels (call before the
    service's ASGI app is built, e.g. when service.py is imported)."""
    from bentoml._internal.server.http import instruments

    base = instruments.RunnerTrafficMetricsMiddleware
    base = getattr(base, "bentoml_base", base)
    patched = templated(base, labels)
    patched.bentoml_base = base
    instruments.RunnerTrafficMetricsMiddleware = patched


def service_routes() -> list[str]:
    """The API routes BentoML registered for this worker's service."""
    from bentoml._internal.context import server_context

    return server_context.service_routes


def tracing_exported() -> bool:
    """Whether BentoML's config names a tracing exporter (`tracing.exporter_type`)."""
    from bentoml._internal.configuration.containers import BentoMLContainer

    return BentoMLContainer.tracing.exporter_type.get() is not None


class SpansWhenExported:
    """BentoML's OpenTelemetry middleware only when traces can leave the process. BentoML's
    sampler records a span for every request even at sample rate 0, a tenth of an API
    worker's CPU on the cached path; without an exporter nobody can read them."""

    base: type  # OpenTelemetryMiddleware, set by `install_tracing`
    exported: Callable[[], bool] = staticmethod(tracing_exported)

    def __init__(self, app: ASGIApp, **options: Any) -> None:
        self.app = self.base(app, **options) if self.exported() else app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)


def install_tracing() -> None:
    """Make BentoML build its OpenTelemetry middleware as `SpansWhenExported` (call before the
    service's ASGI app is built)."""
    from opentelemetry.instrumentation import asgi

    base = asgi.OpenTelemetryMiddleware
    SpansWhenExported.base = getattr(base, "base", base)
    asgi.OpenTelemetryMiddleware = SpansWhenExported
