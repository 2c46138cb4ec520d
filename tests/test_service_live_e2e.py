"""End to end on the live source: `bentoml serve` against fake CoinGecko/Binance on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.data_sources.fake_upstreams import FakeUpstreams, Reply
from tests.local_server import bentoml_server

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def fake(ohlcv_dir: Path) -> Iterator[FakeUpstreams]:
    with FakeUpstreams(ohlcv_dir) as upstreams:
        yield upstreams


@pytest.fixture(scope="module")
def server(
    fake: FakeUpstreams,
    tiny_model_env: dict[str, str],
    tmp_path_factory: pytest.TempPathFactory,
    pytestconfig: pytest.Config,
) -> Iterator[str]:
    # one API worker: the cache this test relies on is per worker (README, failure behaviour),
    # and with two the repeat request may land on the worker that never fetched BTC
    env = {**fake.env(), **tiny_model_env, "API_WORKERS": "1"}
    log = tmp_path_factory.mktemp("serve-live") / "server.log"
    with bentoml_server(env, cwd=pytestconfig.rootpath, log=log) as url:
        yield url


def test_live_forecast_then_upstreams_down(server: str, fake: FakeUpstreams) -> None:
    response = httpx.get(f"{server}/api/predict", params={"symbol": "BTC", "seed": 1}, timeout=60)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["dataSource"] == "binance" and body["stale"] is False
    assert body["prediction"]["model"] == "kronos"
    closed = fake.closed_candles("BTC")
    assert body["lastCandle"].startswith(closed["timestamp"].iloc[-1].strftime("%Y-%m-%dT%H:%M"))
    assert fake.count("klines") >= 1 and fake.count("simple_price") >= 1
    history = httpx.get(f"{server}/api/history", params={"symbol": "BTC", "days": 3}).json()
    assert len(history["data"]["prices"]) >= 70 and history["data"]["marketCaps"]

    for route in ("klines", "simple_price", "market_chart"):
        fake.always(route, Reply(status=500))
    try:
        # BTC's candles are cached until the next candle closes: still answered, from cache
        again = httpx.get(f"{server}/api/predict", params={"symbol": "BTC", "seed": 1}, timeout=60)
        assert again.status_code == 200 and again.json()["cached"] is True
        assert again.json()["prediction"] == body["prediction"]
        for path, params in (
            ("/api/predict", {"symbol": "ETH"}),
            ("/api/history", {"symbol": "ETH"}),
        ):
            down = httpx.get(f"{server}{path}", params=params, timeout=60)
            assert down.status_code == 503, down.text
            assert down.json()["error"] in {"market_data_unavailable", "upstream_rate_limited"}
        health = httpx.get(f"{server}/health").json()
        assert health["status"] == "ok" and health["dataSource"]["state"] == "degraded"
    finally:
        for route in ("klines", "simple_price", "market_chart"):
            fake.always(route, None)
