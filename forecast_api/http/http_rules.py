"""HTTP rules for clients we have not met: HEAD as GET, empty query parameters as absent,
JSON bodies only (415 otherwise)."""

from __future__ import annotations

from urllib.parse import unquote_plus

from fastapi import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from forecast_api.http.errors import EMPTY_QUERY, UnsupportedMediaTypeError


class HeadAsGet:
    """ASGI middleware: a HEAD request is answered as the GET would be, without the body
    (uptime monitors use HEAD)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on; for HEAD, as a GET whose body is dropped."""
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def headers_only(message: Message) -> None:
            if message["type"] == "http.response.body":
                if message.get("more_body", False):
                    return
                message = {"type": "http.response.body", "body": b"", "more_body": False}
            await send(message)

        await self.app({**scope, "method": "GET"}, receive, headers_only)


class EmptyQueryIsAbsent:
    """ASGI middleware: a query parameter without a value (`days=`, `days`) is left out, so
    it takes its default (a required one is then reported missing)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on without the empty parameters."""
        query = scope.get("query_string", b"") if scope["type"] == "http" else b""
        if query:
            parts = query.split(b"&")
            kept = b"&".join(part for part in parts if part.partition(b"=")[2])
            if kept != query:
                empty = [unquote_plus(p.partition(b"=")[0].decode("latin-1")) for p in parts]
                state = {**scope.get("state", {}), EMPTY_QUERY: empty}  # named in a 422
                scope = {**scope, "query_string": kept, "state": state}
        await self.app(scope, receive, send)


async def json_body(request: Request) -> None:
    """415 unless the body is declared JSON (`application/json` or `application/*+json`), as
    FastAPI reads only those as JSON."""
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    kind, _, subtype = media.partition("/")
    if kind == "application" and (subtype == "json" or subtype.endswith("+json")):
        return
    raise UnsupportedMediaTypeError(
        f"the body must be JSON (Content-Type: application/json), not {media or 'undeclared'!r}"
    )
