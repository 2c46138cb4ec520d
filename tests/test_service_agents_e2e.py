"""End to end under `bentoml serve` (two API workers, one SQLite ledger, candle files that grow
by an hour): the MCP SDK's client lists and calls the tools at /mcp, and an SSE client gets a
`forecast` event within a ledger round of a candle closing, then resumes by Last-Event-ID."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pandas as pd
import pytest
from mcp import Client

from forecast_api.agents.mcp_server import DESCRIPTIONS
from tests.local_server import bentoml_server
from tests.test_service_ledger_e2e import write_until

pytestmark = pytest.mark.e2e
SYMBOLS = ["BTC", "ETH"]
START = 600
TICK = 1.0  # LEDGER_TICK


@pytest.fixture(scope="module")
def market(ohlcv_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    """A candle directory that starts with START candles, and its source frames."""
    directory = tmp_path_factory.mktemp("market")
    candles = {s: pd.read_csv(ohlcv_dir / f"{s}_1h.csv", nrows=START + 5) for s in SYMBOLS}
    write_until(directory, candles, START)
    return directory, candles


@pytest.fixture(scope="module")
def base(market, tiny_model_env, tmp_path_factory, pytestconfig) -> Iterator[str]:
    """The served API's base URL."""
    env = {
        **tiny_model_env,
        "MARKET_DATA_SOURCE": "files",
        "MARKET_DATA_DIR": str(market[0]),
        "LEDGER_SCHEDULE": "1h",
        "LEDGER_SYMBOLS": ",".join(SYMBOLS),
        "LEDGER_TICK": str(TICK),
        "LEDGER_SCORE_GRACE": "0",
        "KRONOS_MAX_HORIZON": "3",
        "KRONOS_LOOKBACK": "64",
        "API_WORKERS": "2",
        "STREAM_HEARTBEAT": "1",
    }
    log = tmp_path_factory.mktemp("serve-agents") / "server.log"
    with bentoml_server(env, cwd=pytestconfig.rootpath, log=log) as url:
        yield url


def test_mcp_client_lists_and_calls_the_tools(base: str) -> None:
    async def scenario() -> None:
        async with Client(f"{base}/mcp") as client:
            tools = (await client.list_tools()).tools
            assert {t.name for t in tools} == set(DESCRIPTIONS)
            forecast = await client.call_tool("get_forecast", {"symbol": "BTC", "horizon": 2})
            assert not forecast.is_error, forecast.content
            assert forecast.structured_content["prediction"]["model"] == "kronos"
            above = await client.call_tool(
                "probability_above", {"symbol": "ETH", "price": 1.0, "hours": 2}
            )
            assert above.structured_content["probability"] == 1.0
            assets = await client.call_tool("list_assets", {})
            assert assets.structured_content["count"] >= len(SYMBOLS)
            unknown = await client.call_tool("get_history", {"symbol": "NOPE"})
            assert unknown.is_error and "unknown_symbol" in unknown.content[0].text

    asyncio.run(asyncio.wait_for(scenario(), 60))


def events(lines: Iterator[str], count: int, deadline: float) -> list[dict]:
    """The next `count` events of a stream's lines (heartbeats skipped), before `deadline`."""
    found, event = [], {}
    for line in lines:
        assert time.monotonic() < deadline, f"timed out with {found}"
        if not line:
            if "event" in event:
                found.append(event)
            event = {}
            if len(found) == count:
                return found
        elif line.startswith(("id:", "event:", "data:")):
            name, _, value = line.partition(":")
            event[name] = json.loads(value) if name == "data" else value.strip()
    raise AssertionError(f"stream ended with {found}")


def test_stream_sends_a_forecast_after_a_candle_closes_and_resumes(base: str, market) -> None:
    directory, candles = market
    with httpx.Client(base_url=base, timeout=30) as http:
        url = "/api/stream?symbols=BTC&intervals=1h"
        with http.stream("GET", url) as response:
            assert response.status_code == 200
            lines = response.iter_lines()
            [info] = events(lines, 1, time.monotonic() + 10)
            assert info["data"]["scope"] == "ledger"
            write_until(directory, candles, START + 1)
            started = time.monotonic()
            forecast = next(e for e in events(lines, 2, started + 45) if e["event"] == "forecast")
        assert forecast["data"]["symbol"] == "BTC" and forecast["data"]["kind"] == "scheduled"

        write_until(directory, candles, START + 2)  # made while nobody listens
        time.sleep(4 * TICK)
        headers = {"Last-Event-ID": forecast["id"]}
        with http.stream("GET", url, headers=headers) as response:
            info, *missed = events(response.iter_lines(), 2, time.monotonic() + 30)
        assert info["data"]["resumed"] is True
        assert missed[0]["data"]["symbol"] == "BTC"
        assert missed[0]["data"]["id"] > forecast["data"]["id"]
