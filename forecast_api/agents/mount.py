"""`/mcp` for the API app, with the MCP SDK imported on the first request to it.

The SDK (`forecast_api.agents.mcp_server`) holds about 26 MiB that an API worker needs only once
an agent connects: the route imports it then, starts its session manager in a task of its own
(stopped with the app's lifespan) and hands every request on. Request checks (such as an API
key dependency taking a starlette `Request`) run on every `/mcp` request first.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from forecast_api.http.errors import ServiceError, error_json

if TYPE_CHECKING:
    from forecast_api.http.routes import Services

MCP_PATH = "/mcp"
RequestCheck = Callable[[Request], Awaitable[None]]


class Checked:
    """ASGI app: `checks` on the request (JSON errors as the routes send them), then `app`."""

    def __init__(self, app: ASGIApp, checks: Sequence[RequestCheck]) -> None:
        self.app, self.checks = app, list(checks)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer the first failed check, or pass on."""
        request = Request(scope, receive)
        try:
            for check in self.checks:
                await check(request)
        except ServiceError as exc:
            await error_json(exc.status, exc.code, exc.message, exc.headers)(scope, receive, send)
            return
        except HTTPException as exc:
            response = error_json(exc.status_code, "http_error", str(exc.detail), exc.headers)
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


class LazyMcp:
    """ASGI app: the MCP transport, built and started on the first request."""

    def __init__(self, services: Callable[[], Services]) -> None:
        self.services = services
        self.app: ASGIApp | None = None
        self.task: asyncio.Task | None = None
        self.stop: asyncio.Event | None = None
        self.lock: asyncio.Lock | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Hand the request to the transport (started first if it is not yet)."""
        app = self.app or await self.start()
        await app(scope, receive, send)

    async def start(self) -> ASGIApp:
        """Import the SDK, build the server and run its session manager until `close`."""
        self.lock = self.lock or asyncio.Lock()
        async with self.lock:
            if self.app is None:
                from forecast_api.agents.mcp_server import build_transport  # the SDK: now

                manager, app = build_transport(self.services, MCP_PATH)
                self.stop, started = asyncio.Event(), asyncio.Event()
                self.task = asyncio.create_task(self.serve(manager, started))
                waiter = asyncio.create_task(started.wait())
                await asyncio.wait({self.task, waiter}, return_when=asyncio.FIRST_COMPLETED)
                waiter.cancel()
                if self.task.done():  # the session manager failed to start: say why
                    self.task.result()
                self.app = app
        return self.app

    async def serve(self, manager: Any, started: asyncio.Event) -> None:
        """The session manager's run, open until `close`."""
        async with manager.run():
            started.set()
            await self.stop.wait()

    async def close(self) -> None:
        """Stop the session manager, if it was started."""
        if self.task is not None:
            self.stop.set()
            await self.task


@dataclass(frozen=True)
class McpMount:
    """The `/mcp` route and the lifespan that stops the MCP session manager with the app."""

    route: Route
    lifespan: Callable[[Any], Any]


def mcp_mount(services: Callable[[], Services], checks: Sequence[RequestCheck] = ()) -> McpMount:
    """The MCP server over `services` as a route for the API app, and its lifespan."""
    lazy = LazyMcp(services)

    @asynccontextmanager
    async def lifespan(_app: Any) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await lazy.close()

    route = Route(MCP_PATH, Checked(lazy, checks), methods=["GET", "POST", "DELETE"])
    return McpMount(route, lifespan)
