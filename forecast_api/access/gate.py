"""`REQUIRE_KEYS=true`: every route of the app needs a valid API key (401 JSON otherwise).

BentoML answers `/livez`, `/readyz` and `/metrics` itself, outside this app: probes and
scrapers need no key.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from forecast_api.http.errors import ServiceError, error_json


class KeyGate:
    """ASGI middleware: 401 for requests without a valid key (keys resolved by the app's
    `Services.keys`)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass keyed requests on; answer the others 401."""
        services = getattr(scope.get("app") and scope["app"].state, "services", None)
        if scope["type"] != "http" or services is None:
            await self.app(scope, receive, send)
            return
        try:
            client = await services.keys.client(Headers(scope=scope))
        except ServiceError as exc:
            await error_json(exc.status, exc.code, exc.message, exc.headers)(scope, receive, send)
            return
        if client.name is None:
            answer = error_json(
                401,
                "unauthorized",
                "this service needs an API key (Authorization: Bearer <key> or X-API-Key: <key>)",
                {"WWW-Authenticate": "Bearer"},
            )
            await answer(scope, receive, send)
            return
        await self.app(scope, receive, send)
