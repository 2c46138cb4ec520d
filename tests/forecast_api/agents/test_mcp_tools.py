"""The MCP server at /mcp through the SDK's own streamable HTTP client, in process: every tool
answers what its HTTP route answers (same services, cache, quotas, keys and errors)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx2
import pandas as pd
import pytest
from fastapi import FastAPI
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from starlette.requests import Request

from forecast_api.agents.mcp_server import DESCRIPTIONS
from forecast_api.agents.mount import mcp_mount
from forecast_api.app import build_services, create_app
from forecast_api.http.errors import ServiceError
from forecast_api.http.routes import Services, provide
from ledger.keys import KeyStore
from ledger.store import Ledger
from tests.forecast_api.api_helpers import LocalRunnerClient
from tests.forecast_api.ledger_side.live_helpers import (
    START,
    SYMBOLS,
    advance,
    build,
    write_until,
)


@pytest.fixture
def candles(ohlcv_dir: Path) -> dict[str, pd.DataFrame]:
    """The first START + 10 hourly candles of each symbol."""
    return {s: pd.read_csv(ohlcv_dir / f"{s}_1h.csv", nrows=START + 10) for s in SYMBOLS}


@asynccontextmanager
async def connected(
    app: FastAPI, headers: dict[str, str] | None = None
) -> AsyncIterator[tuple[Client, httpx2.AsyncClient]]:
    """An MCP client and a plain HTTP client on `app` (ASGI, its lifespan running), both
    sending `headers`."""
    transport = httpx2.ASGITransport(app=app)
    http = httpx2.AsyncClient(transport=transport, base_url="http://t", headers=headers)
    async with http, Client(streamable_http_client("http://t/mcp", http_client=http)) as c:
        yield c, http


@asynccontextmanager
async def mcp_client(app: FastAPI) -> AsyncIterator[tuple[Client, httpx2.AsyncClient]]:
    """The app's lifespan running (once per app); the clients of `connected` on it."""
    async with app.router.lifespan_context(app), connected(app) as pair:
        yield pair


async def scored_services(make_settings, core, candles, directory: Path) -> Services:
    """Services on a ledger with 6 rounds of scheduled and scored BTC/ETH forecasts."""
    write_until(directory, candles, START)
    services = build(make_settings, directory, f"sqlite:///{directory / 'l.db'}", core)
    for count in range(START, START + 6):
        write_until(directory, candles, count)
        await advance(services)
    return services


def test_every_tool_answers_what_its_route_answers(
    make_settings, core, candles, tmp_path: Path
) -> None:
    async def scenario() -> None:
        services = await scored_services(make_settings, core, candles, tmp_path)
        app = create_app(services.settings)
        provide(app, services)
        async with mcp_client(app) as (client, http):
            listed = {t.name: t for t in (await client.list_tools()).tools}
            assert set(listed) == set(DESCRIPTIONS)
            for tool in listed.values():
                assert tool.output_schema and tool.input_schema and tool.description

            async def call(name: str, **args: object) -> dict:
                result = await client.call_tool(name, args)
                assert not result.is_error, result.content
                return result.structured_content

            forecast = await call("get_forecast", symbol="btc", horizon=3, levels=[80])
            route = await http.get("/api/predict?symbol=BTC&horizon=3&levels=80")
            assert route.json()["cached"] is True  # the forecast the tool made, from the cache
            same = {"cached": True, "cache": "hit", "timestamp": route.json()["timestamp"]}
            assert forecast | same == route.json()
            above = await call("probability_above", symbol="ETH", price=1000.0, hours=3)
            again = await http.get("/api/predict?symbol=ETH&horizon=3&above=1000")
            last = again.json()["prediction"]["predictions"][-1]
            assert above["probability"] == last["above"][0]["probability"]
            assert above["hours"] == 3 and above["model"] == "kronos"
            assert above["calibrated"] is not None and above["stale"] is False

            history = await call("get_history", symbol="BTC", days=2)
            assert (
                history["data"] == (await http.get("/api/history?symbol=BTC&days=2")).json()["data"]
            )
            assets = await call("list_assets")
            assert assets == (await http.get("/api/assets")).json()

            record = await call("get_track_record", symbol="BTC", interval="1h", days=30)
            body = (await http.get("/api/accuracy?symbol=BTC&interval=1h&days=30")).json()
            assert record["steps"] == body["steps"] and record["scored"] == body["scored"] > 0
            assert (record["start"], record["end"]) == (body["from"], body["to"])

            past = await call("get_past_forecasts", symbol="ETH", limit=2)
            page = (await http.get("/api/forecasts?symbol=ETH&limit=2")).json()
            assert [i["id"] for i in past["items"]] == [i["id"] for i in page["items"]]
            assert past["nextCursor"] == page["nextCursor"]

            compared = await call("compare_forecasters", symbol="BTC", days=30)
            board = (await http.get("/api/leaderboard?symbol=BTC&interval=1h&days=30")).json()
            assert compared["forecasters"] == board["forecasters"]
            assert (compared["start"], compared["end"]) == (board["from"], board["to"])
            assert compared["bestBaseline"] == board["bestBaseline"] is not None
            names = {r["name"] for r in compared["forecasters"]}
            assert {"served", "kronos", "naive", "drift", "random_walk"} <= names
            crps = [r["crps"] for r in compared["forecasters"]]
            assert crps == sorted(crps) and [r["rank"] for r in compared["forecasters"]] == list(
                range(1, len(crps) + 1)
            )
        await services.health.monitor.stop()

    asyncio.run(scenario())


def test_service_errors_reach_the_agent_with_their_code(make_settings, core) -> None:
    settings = make_settings(kronos_max_horizon=12)

    async def scenario() -> None:
        app = create_app(settings)
        services = build_services(settings, LocalRunnerClient(core))
        provide(app, services)
        async with mcp_client(app) as (client, _):
            unknown = await client.call_tool("get_forecast", {"symbol": "NOPE"})
            assert unknown.is_error and "unknown_symbol" in unknown.content[0].text
            long = await client.call_tool("get_forecast", {"symbol": "BTC", "horizon": 13})
            assert long.is_error and "invalid_parameters" in long.content[0].text
            bad = await client.call_tool("get_history", {"symbol": "BTC", "days": 0})
            assert bad.is_error  # the input schema's bound (days >= 1)
            ledgerless = await client.call_tool("get_track_record", {"symbol": "BTC"})
            assert ledgerless.is_error and "LEDGER_URL" in ledgerless.content[0].text
        await services.health.monitor.stop()

    asyncio.run(scenario())


def test_request_checks_guard_the_mcp_route() -> None:
    """A check such as an API key dependency refuses a request before the MCP transport."""

    class Unauthorized(ServiceError):
        status, code = 401, "unauthorized"

    async def api_key(request: Request) -> None:
        if request.headers.get("x-api-key") != "k":
            raise Unauthorized("missing or wrong API key")

    def no_services() -> Services:
        raise AssertionError("not reached")

    mount = mcp_mount(no_services, checks=[api_key])
    app = FastAPI(lifespan=mount.lifespan)
    app.router.routes.append(mount.route)

    async def scenario() -> None:
        async with app.router.lifespan_context(app):
            transport = httpx2.ASGITransport(app=app)
            async with httpx2.AsyncClient(transport=transport, base_url="http://t") as http:
                refused = await http.post("/mcp", json={})
                assert refused.status_code == 401
                assert refused.json() == {
                    "error": "unauthorized",
                    "message": "missing or wrong API key",
                }
                http.headers["x-api-key"] = "k"
                async with Client(streamable_http_client("http://t/mcp", http_client=http)) as c:
                    assert len((await c.list_tools()).tools) == len(DESCRIPTIONS)

    asyncio.run(scenario())


def error_text(result) -> str:
    """The text of a tool result that must be an error."""
    assert result.is_error, result.structured_content
    return result.content[0].text


def test_tools_that_compute_charge_the_callers_quota(make_settings, core, candles, tmp_path):
    """Keys and quotas as the routes apply them: a key's tiny quota admits one forecast a minute
    (a cached one is free), a bad key is refused, keyless callers may not compute."""
    url = f"sqlite:///{tmp_path / 'l.db'}"
    write_until(tmp_path, candles, START)
    services = build(make_settings, tmp_path, url, core, anonymous_compute_per_minute=0)
    samples = services.settings.kronos_samples
    key = KeyStore(Ledger.open(url).engine).create("alice", quota=samples * 3)
    app = create_app(services.settings)
    provide(app, services)

    async def scenario() -> None:
        async with app.router.lifespan_context(app):
            async with connected(app, {"X-API-Key": key}) as (client, http):
                first = await client.call_tool("get_forecast", {"symbol": "BTC", "horizon": 3})
                assert not first.is_error, first.content
                refused = error_text(
                    await client.call_tool(
                        "probability_above", {"symbol": "ETH", "price": 1000.0, "hours": 3}
                    )
                )
                assert "rate_limited: compute quota of key 'alice' reached" in refused
                assert f"{samples * 3} path-steps" in refused and "retry after" in refused
                second = error_text(await client.call_tool("get_forecast", {"symbol": "ETH"}))
                assert "rate_limited:" in second
                cached = await client.call_tool("get_forecast", {"symbol": "BTC", "horizon": 3})
                assert cached.structured_content["cached"] is True  # no compute, not charged
                prediction = cached.structured_content["prediction"]
                assert prediction == first.structured_content["prediction"]
                usage = (await http.get("/api/usage")).json()
                assert usage["key"] == "alice" and usage["usedThisMinute"] == samples * 3
            async with connected(app, {"Authorization": "Bearer not-a-key"}) as (client, _):
                bad = error_text(await client.call_tool("get_forecast", {"symbol": "BTC"}))
                assert bad.endswith("unauthorized: unknown or revoked API key")
                assets = await client.call_tool("list_assets", {})
                assert not assets.is_error  # like /api/assets: no key needed, none checked
            async with connected(app) as (client, _):
                keyless = error_text(await client.call_tool("get_forecast", {"symbol": "ETH"}))
                assert keyless.endswith("unauthorized: computing a forecast needs an API key")
        await services.health.monitor.stop()

    asyncio.run(scenario())


def test_require_keys_refuses_mcp_without_a_key(make_settings, core, candles, tmp_path):
    """REQUIRE_KEYS=true: the key gate answers `/mcp` 401 before MCP sees it."""
    url = f"sqlite:///{tmp_path / 'l.db'}"
    write_until(tmp_path, candles, START)
    services = build(make_settings, tmp_path, url, core, require_keys=True)
    key = KeyStore(Ledger.open(url).engine).create("bob")
    app = create_app(services.settings)
    provide(app, services)
    hello = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}

    async def scenario() -> None:
        async with app.router.lifespan_context(app):
            transport = httpx2.ASGITransport(app=app)
            async with httpx2.AsyncClient(transport=transport, base_url="http://t") as http:
                refused = await http.post("/mcp", json=hello)
                assert refused.status_code == 401 and refused.json()["error"] == "unauthorized"
                wrong = await http.post("/mcp", json=hello, headers={"X-API-Key": "nope"})
                assert wrong.status_code == 401
            async with connected(app, {"Authorization": f"Bearer {key}"}) as (client, _):
                assert len((await client.list_tools()).tools) == len(DESCRIPTIONS)
        await services.health.monitor.stop()

    asyncio.run(scenario())
