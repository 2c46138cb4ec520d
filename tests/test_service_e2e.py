"""End to end: real `bentoml serve service:ApiService` subprocesses on free loopback ports.

One server per fixture and module: the main one on the files source with the tiny reference
checkpoint, and one whose model path is broken (fallback) with a data directory holding BTC only
(503 for the rest).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import pytest

from forecasting.calibration import BandCalibration
from tests.forecast_api.api_helpers import API_ROUTES, assert_error
from tests.local_server import bentoml_server, service_workers

pytestmark = pytest.mark.e2e

ORIGIN = "http://frontend.example"


def serve(env: dict[str, str], log: Path, repo: Path) -> Iterator[str]:
    """One server for a module's tests (files source, cpu, one API worker: the cache-hit and
    shared-computation checks need every request on the same worker's prediction cache)."""
    with bentoml_server({"DEVICE": "cpu", "API_WORKERS": "1", **env}, cwd=repo, log=log) as url:
        yield url


@pytest.fixture(scope="module")
def server(
    ohlcv_dir: Path,
    tiny_model_env: dict[str, str],
    tmp_path_factory: pytest.TempPathFactory,
    pytestconfig: pytest.Config,
) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("serve")
    # a calibration that keeps the raw 80% band (zero adjustment), to check the wiring
    BandCalibration({0.8: np.zeros(24), 0.9: np.zeros(24)}).save(folder / "calibration.json")
    env = {
        **tiny_model_env,
        "MARKET_DATA_SOURCE": "files",
        "MARKET_DATA_DIR": str(ohlcv_dir),
        "KRONOS_CALIBRATION": str(folder / "calibration.json"),
        "CORS_ORIGINS": ORIGIN,
    }
    yield from serve(env, folder / "server.log", pytestconfig.rootpath)


@pytest.fixture(scope="module")
def broken_server(
    ohlcv_dir: Path, tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config
) -> Iterator[str]:
    data = tmp_path_factory.mktemp("only-btc")
    shutil.copy(ohlcv_dir / "BTC_1h.csv", data / "BTC_1h.csv")
    env = {
        "MARKET_DATA_SOURCE": "files",
        "MARKET_DATA_DIR": str(data),
        "KRONOS_MODEL": str(data / "no-such-checkpoint"),
        "KRONOS_SAMPLES": "8",
    }
    yield from serve(
        env, tmp_path_factory.mktemp("serve-broken") / "server.log", pytestconfig.rootpath
    )


def is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def is_timestamp(value: object) -> bool:
    return isinstance(value, str) and len(value) == 20 and value.endswith("Z") and value[10] == "T"


def assert_seed_predict_shape(body: dict) -> None:
    """Every field of the seed's /api/predict response, same names and types."""
    assert isinstance(body["symbol"], str)
    for name in ("currentPrice", "change24h", "volume24h"):
        assert is_number(body[name]), name
    assert is_timestamp(body["timestamp"])
    prediction = body["prediction"]
    assert is_number(prediction["price_24h"])
    assert is_number(prediction["confidence"]) and 0 <= prediction["confidence"] <= 1
    assert prediction["trend"] in {"bullish", "bearish", "neutral"}
    assert isinstance(prediction["model"], str)
    assert isinstance(prediction["predictions"], list) and prediction["predictions"]
    for i, point in enumerate(prediction["predictions"], start=1):
        assert point["hour"] == i and isinstance(point["hour"], int)
        assert is_number(point["price"]) and is_timestamp(point["timestamp"])
        assert point["low"] <= point["median"] <= point["high"]
    # additive fields
    for name in ("cached", "stale"):
        assert isinstance(body[name], bool)
    assert is_timestamp(body["generatedAt"]) and isinstance(body["dataSource"], str)
    assert 0 <= prediction["upProbability"] <= 1 and prediction["bandLevels"] == [0.1, 0.9]


def test_predict_shape_and_cache_hit(server: str) -> None:
    params = {"symbol": "BTC", "seed": 7}
    first = httpx.get(f"{server}/api/predict", params=params, timeout=60)
    assert first.status_code == 200, first.text
    body = first.json()
    assert_seed_predict_shape(body)
    assert body["symbol"] == "BTC" and body["cached"] is False
    assert body["prediction"]["model"] == "kronos" and len(body["prediction"]["predictions"]) == 24
    assert body["prediction"]["modelId"].endswith("tiny-model")
    assert body["prediction"]["calibrated"] is True
    uncached = timed_get(f"{server}/api/predict", {**params, "seed": 8})  # warm, computed
    hits = [timed_get(f"{server}/api/predict", params) for _ in range(3)]
    second = hits[0][0]
    assert second.json()["cached"] is True and uncached[0].json()["cached"] is False
    assert second.json()["prediction"] == body["prediction"]
    # a hit does no forecasting: the fastest of three takes under half a computed one
    assert min(elapsed for _, elapsed in hits) < uncached[1] / 2, (hits, uncached)


def timed_get(url: str, params: dict) -> tuple[httpx.Response, float]:
    """A GET and its duration (seconds)."""
    start = time.perf_counter()
    response = httpx.get(url, params=params, timeout=60)
    return response, time.perf_counter() - start


def test_concurrent_requests_share_one_computation(server: str) -> None:
    params = {"symbol": "BNB", "seed": 99, "horizon": 6}

    def ask(_: int) -> dict:
        return httpx.get(f"{server}/api/predict", params=params, timeout=60).json()

    with ThreadPoolExecutor(max_workers=16) as pool:
        bodies = list(pool.map(ask, range(32)))
    assert len({b["generatedAt"] for b in bodies}) == 1
    assert sum(not b["cached"] for b in bodies) == 1
    assert all(b["prediction"] == bodies[0]["prediction"] for b in bodies)


def test_predict_parameters_and_errors(server: str) -> None:
    body = httpx.get(
        f"{server}/api/predict", params={"symbol": "eth", "horizon": 5, "samples": 3}, timeout=60
    ).json()
    assert body["symbol"] == "ETH" and body["prediction"]["samples"] == 3
    assert len(body["prediction"]["predictions"]) == 5
    assert_error(
        httpx.get(f"{server}/api/predict", params={"symbol": "NOPE"}), 404, "unknown_symbol"
    )
    for params in (
        {"symbol": "BTC", "horizon": 0},
        {"symbol": "BTC", "horizon": 1000},
        {"symbol": "BTC", "samples": 0},
        {"symbol": "BTC", "seed": "x"},
        {},
    ):
        assert_error(httpx.get(f"{server}/api/predict", params=params), 422, "invalid_parameters")


def test_history_assets_health(server: str) -> None:
    history = httpx.get(f"{server}/api/history", params={"symbol": "BTC", "days": 7}).json()
    assert set(history) >= {"symbol", "days", "data", "timestamp"}
    assert (
        history["symbol"] == "BTC" and history["days"] == 7 and is_timestamp(history["timestamp"])
    )
    assert set(history["data"]) == {"prices", "volumes", "marketCaps"}
    ms, price = history["data"]["prices"][0]
    assert isinstance(ms, int) and ms > 10**12 and is_number(price)
    assert_error(
        httpx.get(f"{server}/api/history", params={"symbol": "BTC", "days": 0}),
        422,
        "invalid_parameters",
    )
    assert_error(
        httpx.get(f"{server}/api/history", params={"symbol": "ZZZ"}), 404, "unknown_symbol"
    )
    assets = httpx.get(f"{server}/api/assets").json()
    assert set(assets) == {"assets", "count", "intervals"} and assets["count"] == 8
    assert assets["intervals"] == ["1h", "4h", "1d"]  # the spec's fields plus those served
    assert all(
        set(a) == {"symbol", "name", "supported", "coingeckoId", "pair"} for a in assets["assets"]
    )
    assert [a["symbol"] for a in assets["assets"]] == [
        "BTC",
        "ETH",
        "BNB",
        "SOL",
        "XRP",
        "ADA",
        "DOGE",
        "DOT",
    ]
    health = httpx.get(f"{server}/health").json()
    assert health["status"] == "ok" and is_timestamp(health["timestamp"])
    assert health["model"]["state"] == "loaded" and health["model"]["device"] == "cpu"
    assert health["model"]["calibrated"] is True and health["model"]["calibrationError"] is None
    assert health["dataSource"]["name"] == "files"


def test_batch_and_forecast(server: str, ohlcv_dir: Path) -> None:
    response = httpx.post(
        f"{server}/api/predict/batch",
        json={"symbols": ["SOL", "XRP", "bogus", "ADA"], "horizon": 4, "seed": 1},
        timeout=60,
    )
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [r["ok"] for r in results] == [True, True, False, True]
    assert results[2]["error"] == "unknown_symbol"
    for entry in (results[0], results[1], results[3]):
        assert_seed_predict_shape(entry["data"])
    assert_error(
        httpx.post(f"{server}/api/predict/batch", json={"symbols": "BTC"}),
        422,
        "invalid_parameters",
    )
    assert_error(
        httpx.post(
            f"{server}/api/predict/batch",
            content=b"[",
            headers={"content-type": "application/json"},
        ),
        422,
        "invalid_parameters",
    )
    import pandas as pd

    candles = pd.read_csv(ohlcv_dir / "DOT_1h.csv").tail(100).to_dict(orient="records")
    forecast = httpx.post(
        f"{server}/api/forecast", json={"candles": candles, "horizon": 6}, timeout=60
    )
    assert forecast.status_code == 200, forecast.text
    assert len(forecast.json()["prediction"]["predictions"]) == 6
    assert_error(
        httpx.post(f"{server}/api/forecast", json={"candles": candles[::-1]}),
        422,
        "invalid_parameters",
    )


def test_cors(server: str) -> None:
    preflight = httpx.options(
        f"{server}/api/predict",
        headers={"Origin": ORIGIN, "Access-Control-Request-Method": "GET"},
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == ORIGIN
    simple = httpx.get(f"{server}/api/assets", headers={"Origin": ORIGIN})
    assert simple.headers["access-control-allow-origin"] == ORIGIN
    other = httpx.get(f"{server}/api/assets", headers={"Origin": "http://evil.example"})
    assert "access-control-allow-origin" not in other.headers


def test_bentoml_endpoints_and_docs(server: str) -> None:
    assert httpx.get(f"{server}/livez").status_code == 200
    assert httpx.get(f"{server}/readyz").status_code == 200
    metrics = httpx.get(f"{server}/metrics")
    assert metrics.status_code == 200 and "bentoml" in metrics.text
    paths = httpx.get(f"{server}/openapi.json").json()["paths"]
    assert set(API_ROUTES) <= set(paths)
    assert httpx.get(f"{server}/docs").status_code == 200


def test_unknown_api_routes_and_wrong_methods_are_json(server: str) -> None:
    """Paths the mounted app does not define used to get BentoML's plain-text 404."""
    assert_error(httpx.get(f"{server}/api/nope"), 404, "not_found")
    wrong = httpx.post(f"{server}/api/predict")
    assert_error(wrong, 405, "method_not_allowed")
    assert wrong.headers["allow"] == "GET"
    assert httpx.get(f"{server}/livez").status_code == 200  # BentoML's own routes still answer


def test_fallback_and_503_on_broken_server(broken_server: str) -> None:
    health = httpx.get(f"{broken_server}/health").json()
    assert health["status"] == "ok" and health["model"]["state"] == "fallback"
    assert "no-such-checkpoint" in health["model"]["reason"]
    body = httpx.get(f"{broken_server}/api/predict", params={"symbol": "BTC"}, timeout=60).json()
    assert_seed_predict_shape(body)
    assert body["prediction"]["model"] == "fallback"
    assert body["prediction"]["calibrated"] is False
    assert "model not loaded" in body["prediction"]["fallbackReason"]
    assert len(body["prediction"]["predictions"]) == 24 and body["prediction"]["samples"] == 8
    assert_error(
        httpx.get(f"{broken_server}/api/predict", params={"symbol": "ETH"}),
        503,
        "market_data_unavailable",
    )
    assert_error(
        httpx.get(f"{broken_server}/api/history", params={"symbol": "ETH"}),
        503,
        "market_data_unavailable",
    )


def test_bentoml_build_works_offline(tmp_path: Path, pytestconfig: pytest.Config) -> None:
    """`bentoml build` accepts bentofile.yaml offline (no package locking over the network)."""
    if shutil.which("uv") is None:
        pytest.skip("bentoml build needs the uv tool (pip install -e '.[dev]' installs it)")
    env = {**os.environ, "BENTOML_HOME": str(tmp_path), "BENTOML_DO_NOT_TRACK": "true"}
    built = subprocess.run(
        [sys.executable, "-m", "bentoml", "build", "-o", "tag"],
        cwd=pytestconfig.rootpath,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert built.returncode == 0, built.stderr[-3000:]
    [src] = tmp_path.glob("bentos/kronos-forecast/*/src")
    assert (src / "service.py").is_file() and (src / "forecast_api" / "app.py").is_file()
    assert not (src / "tests").exists()


def test_api_worker_never_loads_torch(server: str) -> None:
    for params in ({"symbol": "BTC"}, {"symbol": "ETH", "seed": 3}):
        assert httpx.get(f"{server}/api/predict", params=params, timeout=60).status_code == 200
    [worker] = service_workers(server, "kronos_api")
    maps = Path(f"/proc/{worker.pid}/maps").read_text()
    assert "libtorch" not in maps
    [runner] = service_workers(server, "kronos_runner")
    assert "libtorch" in Path(f"/proc/{runner.pid}/maps").read_text()


def iso(ms: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ms / 1000))


def parse_ms(stamp: str) -> int:
    return int(np.datetime64(stamp.rstrip("Z"), "ms").astype(np.int64))


@pytest.mark.parametrize(("interval", "step_h"), [("4h", 4), ("1d", 24)])
def test_interval_steps_timestamps_and_cache(server: str, interval: str, step_h: int) -> None:
    params = {"symbol": "ETH", "interval": interval, "horizon": 4, "seed": 5}
    first = httpx.get(f"{server}/api/predict", params=params, timeout=60).json()
    assert_seed_predict_shape(first)
    assert first["interval"] == interval and first["cached"] is False
    step = step_h * 3_600_000
    last = parse_ms(first["lastCandle"])
    assert last % step == 0  # 4h and 1d candles open on their UTC boundaries
    assert first["validUntil"] == iso(last + 2 * step)  # the next candle's close
    for h, point in enumerate(first["prediction"]["predictions"], start=1):
        assert point["openTime"] == iso(last + h * step)
        assert point["timestamp"] == iso(last + (h + 1) * step)
    assert first["prediction"]["calibrated"] is False  # the server's calibration is for 1h
    again = httpx.get(f"{server}/api/predict", params=params, timeout=60).json()
    assert again["cached"] is True and again["generatedAt"] == first["generatedAt"]


def test_forecast_steps_continue_the_history_points(server: str) -> None:
    params = {"symbol": "BTC", "horizon": 2}
    body = httpx.get(f"{server}/api/predict", params=params, timeout=60).json()
    history = httpx.get(f"{server}/api/history", params={"symbol": "BTC", "days": 1}).json()
    last_point = history["data"]["prices"][-1][0]  # the close time of the last hourly candle
    assert last_point == parse_ms(body["lastCandle"]) + 3_600_000
    first = body["prediction"]["predictions"][0]
    assert first["timestamp"] == iso(last_point + 3_600_000)


def test_distribution_on_the_server(server: str) -> None:
    params = {"symbol": "SOL", "interval": "4h", "horizon": 3, "samples": 21, "seed": 8}
    plain = httpx.get(f"{server}/api/predict", params=params, timeout=60).json()
    median = plain["prediction"]["predictions"][-1]["median"]
    asked = {**params, "quantiles": "0.05,0.25,0.5,0.75,0.95", "levels": "50,80,95"}
    body = httpx.get(f"{server}/api/predict", params={**asked, "above": median}, timeout=60).json()
    for point in body["prediction"]["predictions"]:
        values = list(point["quantiles"].values())
        assert values == sorted(values)
        lows = [b["low"] for b in point["intervals"]]
        highs = [b["high"] for b in point["intervals"]]
        assert lows == sorted(lows, reverse=True) and highs == sorted(highs)
    # 21 paths: the median is one path's close, counted one half -> exactly 0.5 here
    [above] = body["prediction"]["predictions"][-1]["above"]
    assert above["price"] == median and above["probability"] == pytest.approx(0.5, abs=0.05)
    for bad in ({"interval": "7m"}, {"quantiles": "1.5"}, {"levels": "0"}, {"above": "-3"}):
        response = httpx.get(f"{server}/api/predict", params={"symbol": "SOL", **bad})
        assert_error(response, 422, "invalid_parameters")
        assert response.json()["message"].startswith(next(iter(bad)))
