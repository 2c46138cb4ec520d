"""`GET /dashboard`: the page, its script and style, and plotly.js, all served locally."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import FileResponse

from dashboard.assets import STATIC, plotly_js, serve_file

PAGE_FILES = frozenset({"dashboard.js", "dashboard.css"})


def dashboard_router(prefix: str = "/dashboard") -> APIRouter:
    """The dashboard's routes under `prefix` (kept out of the OpenAPI schema)."""
    router = APIRouter(prefix=prefix, include_in_schema=False)

    @router.get("")
    async def page() -> FileResponse:
        """The dashboard page."""
        return serve_file(STATIC, "index.html", frozenset({"index.html"}))

    @router.get("/static/{name}")
    async def static(name: str) -> FileResponse:
        """The page's script and style."""
        return serve_file(STATIC, name, PAGE_FILES)

    @router.get("/vendor/plotly.min.js")
    async def plotly() -> FileResponse:
        """plotly.js from the installed `plotly` package."""
        return serve_file(plotly_js().parent, plotly_js().name, frozenset({plotly_js().name}))

    return router
