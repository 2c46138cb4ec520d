"""`GET /api/stream` served by uvicorn on loopback, the ledger driven round by round on candle
files that grow an hour at a time: forecast and score events, resume by id, the client bound."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pandas as pd
import pytest
import uvicorn

from forecast_api.app import create_app
from forecast_api.http.routes import Services, provide
from forecast_api.streams.hub import decode, encode
from ledger.events import Position
from tests.forecast_api.ledger_side.live_helpers import (
    START,
    SYMBOLS,
    advance,
    build,
    write_until,
)
from tests.local_server import free_port

BOUND = 2  # STREAM_MAX_PER_CLIENT here


@pytest.fixture
def candles(ohlcv_dir: Path) -> dict[str, pd.DataFrame]:
    """The first START + 10 hourly candles of each symbol."""
    return {s: pd.read_csv(ohlcv_dir / f"{s}_1h.csv", nrows=START + 10) for s in SYMBOLS}


class LoopbackServer(uvicorn.Server):
    """uvicorn without its signal handlers (the test process keeps its own)."""

    def capture_signals(self) -> contextlib.AbstractContextManager[None]:
        return contextlib.nullcontext()


@asynccontextmanager
async def served(services: Services) -> AsyncIterator[str]:
    """The app on `services` served by uvicorn on a free loopback port; its base URL."""
    app = create_app(services.settings)
    provide(app, services)
    port = free_port()
    server = LoopbackServer(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


async def read_events(lines: AsyncIterator[str], count: int) -> list[dict]:
    """The next `count` events of a stream's lines (comments skipped) as {id, event, data}."""
    found: list[dict] = []
    event: dict = {}
    async for line in lines:
        if not line:
            if "event" in event:
                found.append(event)
                if len(found) == count:
                    return found
            event = {}
        elif line.startswith(("id:", "event:", "data:")):
            name, _, value = line.partition(":")
            event[name] = json.loads(value) if name == "data" else value.strip()
    return found


def test_stream_sends_forecasts_and_scores_and_resumes(
    make_settings, core, candles, tmp_path: Path
) -> None:
    write_until(tmp_path, candles, START)
    services = build(make_settings, tmp_path, f"sqlite:///{tmp_path / 'l.db'}", core)
    services.settings.stream_heartbeat = 0.5

    async def grow(count: int) -> None:
        write_until(tmp_path, candles, count)
        await advance(services)

    async def scenario() -> None:
        await advance(services)  # the first round: the hub takes the ledger's position
        async with served(services) as base, httpx.AsyncClient(base_url=base, timeout=30) as http:
            url = "/api/stream?symbols=btc&intervals=1h"
            async with http.stream("GET", url) as response:
                assert response.status_code == 200
                assert response.headers["content-type"].startswith("text/event-stream")
                lines = response.aiter_lines()
                [info] = await read_events(lines, 1)
                assert info["event"] == "info" and info["data"]["scope"] == "ledger"
                assert info["data"]["symbols"] == ["BTC"] and info["data"]["resumed"] is False
                await grow(START + 1)  # a candle closes: one round
                forecast, score = await asyncio.wait_for(read_events(lines, 2), 10)
            assert forecast["event"] == "forecast" and forecast["data"]["symbol"] == "BTC"
            assert forecast["data"]["kind"] == "scheduled" and len(forecast["data"]["steps"]) == 4
            assert score["event"] == "score" and score["data"]["id"] < forecast["data"]["id"]
            [step] = score["data"]["steps"]  # the previous hour's forecast, first step scored
            assert step["hour"] == 1 and step["status"] == "scored" and step["realised"] > 0
            last_id = forecast["id"]

            await grow(START + 2)  # missed while disconnected
            await grow(START + 3)
            headers = {"Last-Event-ID": last_id}
            async with http.stream("GET", url, headers=headers) as response:
                events = await asyncio.wait_for(read_events(response.aiter_lines(), 5), 10)
            info, *missed = events
            assert info["data"]["resumed"] is True
            kinds = [(e["event"], e["data"]["symbol"]) for e in missed]
            assert sorted(kinds) == [("forecast", "BTC")] * 2 + [("score", "BTC")] * 2
            made = [e["data"]["id"] for e in missed if e["event"] == "forecast"]
            assert made == sorted(made) and made[0] > forecast["data"]["id"]
            assert decode(missed[-1]["id"], ["1h"])["1h"] > decode(last_id, ["1h"])["1h"]

            # quiet: heartbeats only
            async with http.stream("GET", url) as response:
                lines = []
                async for line in response.aiter_lines():
                    lines.append(line)
                    if line.startswith(": heartbeat"):
                        break
                assert any(line.startswith("event: info") for line in lines)
        await services.health.monitor.stop()

    asyncio.run(scenario())


def test_bad_requests_and_the_client_bound(make_settings, core, candles, tmp_path: Path) -> None:
    write_until(tmp_path, candles, START)
    services = build(make_settings, tmp_path, f"sqlite:///{tmp_path / 'l.db'}", core)
    assert services.stream is not None
    services.stream.max_per_client = BOUND

    async def scenario() -> None:
        async with served(services) as base, httpx.AsyncClient(base_url=base, timeout=30) as http:
            unknown = await http.get("/api/stream?symbols=BTC,NOPE")
            assert unknown.status_code == 404 and unknown.json()["error"] == "unknown_symbol"
            interval = await http.get("/api/stream?intervals=2h")
            assert interval.status_code == 422 and "2h" in interval.json()["message"]
            bad_id = await http.get("/api/stream", headers={"Last-Event-ID": "garbage"})
            assert bad_id.status_code == 422 and "Last-Event-ID" in bad_id.json()["message"]

            async with http.stream("GET", "/api/stream") as one:
                lines = [one.aiter_lines()]  # held: a dropped line iterator closes its stream
                await read_events(lines[0], 1)
                async with http.stream("GET", "/api/stream?symbols=ETH") as two:
                    lines.append(two.aiter_lines())
                    await read_events(lines[1], 1)
                    refused = await http.get("/api/stream", timeout=10)
                    assert refused.status_code == 429
                    assert refused.json()["error"] == "too_many_streams"
                    other = {"X-API-Key": "another-client"}
                    async with http.stream("GET", "/api/stream", headers=other) as three:
                        assert three.status_code == 200  # a bound per client, not per worker
            await asyncio.sleep(0.2)  # the closed streams are released
            async with http.stream("GET", "/api/stream") as again:
                assert again.status_code == 200
        await services.health.monitor.stop()

    asyncio.run(scenario())


def test_event_ids_round_trip() -> None:
    cursor = {"1h": Position(12, 1712345600, 11), "4h": Position(3, 0, 0)}
    assert decode(encode(cursor), ["1h", "4h"]) == cursor
    assert decode(encode(cursor), ["1h", "1d"]) == {"1h": cursor["1h"], "1d": Position()}
