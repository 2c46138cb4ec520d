"""Draining: requests in flight are counted; once draining, new ones get 503 + Retry-After."""

from __future__ import annotations

import asyncio

from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from forecast_api.ops.lifecycle import Drain, DrainGuard


def guarded(drain: Drain) -> TestClient:
    async def slow(request) -> PlainTextResponse:
        await asyncio.sleep(0.01)
        return PlainTextResponse(str(drain.in_flight))

    app = Starlette(routes=[Route("/work", slow), Route("/readyz", slow)])
    return TestClient(DrainGuard(app, drain))


def test_counts_in_flight_and_refuses_while_draining() -> None:
    drain = Drain(deadline_s=1)
    client = guarded(drain)
    assert client.get("/work").text == "1" and drain.in_flight == 0
    drain.draining = True
    refused = client.get("/work")
    assert refused.status_code == 503 and refused.headers["retry-after"] == "5"
    assert refused.json()["error"] == "shutting_down"
    assert client.get("/readyz").status_code == 200  # probes pass through
