"""The dashboard's routes in-process: every file served locally, nothing else reachable."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from dashboard import dashboard_router, install_offline_docs
from dashboard.assets import plotly_js, swagger_dir

ABSOLUTE_URL = re.compile(r"""(?:src|href)\s*=\s*["'](?:[a-z]+:)?//""", re.IGNORECASE)


@pytest.fixture(scope="module")
def client() -> TestClient:
    """A bare app with only the dashboard and the offline docs (no project code)."""
    app = FastAPI(title="dash test", docs_url=None, redoc_url=None)
    install_offline_docs(app)
    app.include_router(dashboard_router())
    return TestClient(app)


def test_page_and_its_files_are_served_locally(client: TestClient) -> None:
    page = client.get("/dashboard")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert not ABSOLUTE_URL.search(page.text)
    for src in re.findall(r'(?:src|href)="([^"]+)"', page.text):
        if src.startswith("dashboard/"):
            assert client.get(f"/{src}").status_code == 200, src
    plotly = client.get("/dashboard/vendor/plotly.min.js")
    assert plotly.status_code == 200 and plotly.content == plotly_js().read_bytes()
    assert plotly.headers["content-type"].startswith("text/javascript")


def test_docs_use_local_swagger_files(client: TestClient) -> None:
    docs = client.get("/docs")
    assert docs.status_code == 200
    assert "https://" not in docs.text and "cdn" not in docs.text.lower()
    for url in re.findall(r'(?:src|href)="([^"]+)"', docs.text):
        asset = client.get(url)
        assert (
            asset.status_code == 200
            and asset.content == (swagger_dir() / url.split("/")[-1]).read_bytes()
        )
    assert client.get("/docs/oauth2-redirect").status_code == 200
    assert client.get("/openapi.json").json()["paths"] == {}  # the dashboard stays out of it


@pytest.mark.parametrize(
    "path",
    [
        "/dashboard/static/index.html",
        "/dashboard/static/..%2F__init__.py",
        "/dashboard/static/nope.js",
        "/docs/assets/index.html",
        "/docs/assets/..%2F__init__.py",
    ],
)
def test_only_listed_files_are_served(client: TestClient, path: str) -> None:
    assert client.get(path).status_code == 404


def test_imports_nothing_of_ours_and_no_torch(pytestconfig: pytest.Config) -> None:
    code = (
        "import sys, dashboard; dashboard.dashboard_router(); "
        "ours = {'torch', 'kronos_runner', 'forecast_api', 'data_sources', "
        "'forecasting', 'service'}; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ours))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=pytestconfig.rootpath,
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == "[]"
