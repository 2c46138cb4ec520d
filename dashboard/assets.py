"""Where the served files come from: this package's static files and the ones that installed
packages ship (plotly.js from the `plotly` wheel, Swagger UI from `swagger-ui-bundle-v2`)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from fastapi import HTTPException
from starlette.responses import FileResponse

STATIC = Path(__file__).resolve().parent / "static"
CACHE_CONTROL = "public, max-age=3600"
MEDIA_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".png": "image/png",
}


def plotly_js() -> Path:
    """plotly.min.js as the `plotly` Python package ships it."""
    return Path(str(resources.files("plotly") / "package_data" / "plotly.min.js"))


def swagger_dir() -> Path:
    """The Swagger UI dist folder that `swagger-ui-bundle-v2` ships."""
    from swagger_ui_bundle import swagger_ui_path

    return Path(str(swagger_ui_path))


def serve_file(folder: Path, name: str, allowed: frozenset[str]) -> FileResponse:
    """One of the `allowed` files of `folder` (404 for any other name: no path traversal)."""
    path = folder / name
    if name not in allowed or not path.is_file():
        raise HTTPException(404, f"no asset {name}")
    media_type = MEDIA_TYPES.get(path.suffix, "application/octet-stream")
    return FileResponse(path, media_type=media_type, headers={"Cache-Control": CACHE_CONTROL})
