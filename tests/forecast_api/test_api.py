"""The FastAPI app in-process: shapes, errors, cache, fallback, stale answers (files source)."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from data_sources import MarketDataSettings
from forecast_api.app import load_calibration
from forecasting.calibration import BandCalibration
from kronos_runner.runner import ModelSpec, RunnerCore
from kronos_runner.wire import RunnerItem, RunnerResult, RunnerStatus
from tests.forecast_api.api_helpers import API_ROUTES, LocalRunnerClient, assert_error, client_for


def test_predict_shape_and_cache(client: TestClient) -> None:
    first = client.get("/api/predict", params={"symbol": "btc", "horizon": 6, "seed": 3})
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["symbol"] == "BTC" and body["dataSource"] == "files"
    assert body["cached"] is False and body["stale"] is False
    prediction = body["prediction"]
    assert prediction["model"] == "kronos" and prediction["horizon"] == 6
    assert prediction["samples"] == 4 and len(prediction["predictions"]) == 6
    assert prediction["trend"] in {"bullish", "bearish", "neutral"}
    second = client.get("/api/predict", params={"symbol": "BTC", "horizon": 6, "seed": 3}).json()
    assert second["cached"] is True and second["prediction"] == prediction
    assert second["generatedAt"] == body["generatedAt"]


def test_seed_reproducible_across_fresh_engines(make_settings, core: RunnerCore) -> None:
    def ask(seed: int) -> dict:
        with client_for(make_settings(), LocalRunnerClient(core)) as c:
            return c.get(
                "/api/predict", params={"symbol": "ETH", "horizon": 4, "seed": seed}
            ).json()

    assert ask(5)["prediction"] == ask(5)["prediction"]
    assert ask(5)["prediction"]["predictions"] != ask(6)["prediction"]["predictions"]


@pytest.mark.parametrize(
    ("params", "status", "code"),
    [
        ({"symbol": "NOPE"}, 404, "unknown_symbol"),
        ({"symbol": "BTC", "horizon": 0}, 422, "invalid_parameters"),
        ({"symbol": "BTC", "horizon": 73}, 422, "invalid_parameters"),
        ({"symbol": "BTC", "samples": 0}, 422, "invalid_parameters"),
        ({"symbol": "BTC", "samples": 101}, 422, "invalid_parameters"),
        ({"symbol": "BTC", "seed": -1}, 422, "invalid_parameters"),
        ({"symbol": "BTC", "horizon": "abc"}, 422, "invalid_parameters"),
        ({}, 422, "invalid_parameters"),
    ],
)
def test_predict_errors(client: TestClient, params: dict, status: int, code: str) -> None:
    assert_error(client.get("/api/predict", params=params), status, code)


def test_history_assets_health(client: TestClient) -> None:
    history = client.get("/api/history", params={"symbol": "SOL", "days": 2}).json()
    assert history["symbol"] == "SOL" and history["days"] == 2
    assert set(history["data"]) == {"prices", "volumes", "marketCaps"}
    assert len(history["data"]["prices"]) == 48
    assert_error(
        client.get("/api/history", params={"symbol": "SOL", "days": 0}), 422, "invalid_parameters"
    )
    assert_error(
        client.get("/api/history", params={"symbol": "SOL", "days": 366}), 422, "invalid_parameters"
    )
    assert_error(client.get("/api/history", params={"symbol": "XXX"}), 404, "unknown_symbol")
    assets = client.get("/api/assets").json()
    assert assets["count"] == 8 and len(assets["assets"]) == 8
    assert {
        "symbol": "BTC",
        "name": "bitcoin",
        "supported": True,
        "coingeckoId": "bitcoin",
        "pair": "BTCUSDT",
    } in assets["assets"]
    health = client.get("/health").json()
    assert health["status"] == "ok" and health["model"]["state"] == "loaded"
    assert health["dataSource"]["name"] == "files"


def test_batch_one_entry_per_symbol(client: TestClient) -> None:
    response = client.post(
        "/api/predict/batch", json={"symbols": ["BTC", "nope", "eth"], "horizon": 3, "seed": 1}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["count"] == 3
    btc, nope, eth = body["results"]
    assert btc["ok"] and btc["data"]["symbol"] == "BTC"
    assert not nope["ok"] and nope["error"] == "unknown_symbol" and nope["symbol"] == "NOPE"
    assert eth["ok"] and len(eth["data"]["prediction"]["predictions"]) == 3
    single = client.get("/api/predict", params={"symbol": "ETH", "horizon": 3, "seed": 1}).json()
    assert single["cached"] and single["prediction"] == eth["data"]["prediction"]
    assert_error(client.post("/api/predict/batch", json={"symbols": []}), 422, "invalid_parameters")
    assert_error(
        client.post("/api/predict/batch", json={"symbols": ["BTC"] * 33}), 422, "invalid_parameters"
    )
    assert_error(
        client.post(
            "/api/predict/batch", content=b"{not json", headers={"content-type": "application/json"}
        ),
        422,
        "invalid_parameters",
    )


def candles_json(ohlcv_dir: Path, n: int = 80) -> list[dict]:
    df = pd.read_csv(ohlcv_dir / "DOGE_1h.csv").tail(n)
    return df.drop(columns=["amount"]).to_dict(orient="records")


def test_forecast_own_candles(client: TestClient, ohlcv_dir: Path) -> None:
    candles = candles_json(ohlcv_dir)
    response = client.post("/api/forecast", json={"candles": candles, "horizon": 5, "seed": 2})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["lastClose"] == candles[-1]["close"] and body["intervalSeconds"] == 3600
    assert len(body["prediction"]["predictions"]) == 5
    bad_order = [*candles[:10], candles[3]]
    assert_error(
        client.post("/api/forecast", json={"candles": bad_order}), 422, "invalid_parameters"
    )
    irregular = candles[:5] + candles[6:10]
    assert_error(
        client.post("/api/forecast", json={"candles": irregular}), 422, "invalid_parameters"
    )
    negative = [dict(candles[0], close=-1.0), *candles[1:5]]
    assert_error(
        client.post("/api/forecast", json={"candles": negative}), 422, "invalid_parameters"
    )
    assert_error(
        client.post("/api/forecast", json={"candles": candles[:1]}), 422, "invalid_parameters"
    )
    assert_error(client.post("/api/forecast", json={"rows": []}), 422, "invalid_parameters")
    huge = [dict(c, open=1e300, high=1e300, low=1e300, close=1e300) for c in candles[:3]]
    huge[1] = dict(huge[1], close=1e-300, low=1e-300)
    extreme = client.post("/api/forecast", json={"candles": huge})  # beyond float32: invalid
    assert_error(extreme, 422, "invalid_parameters")
    assert "too large" in extreme.json()["message"]


def test_fallback_when_model_not_loaded(make_settings, tmp_path: Path) -> None:
    settings = make_settings(kronos_model=str(tmp_path / "nothing"))
    core = RunnerCore.load(ModelSpec(settings.kronos_model, settings.kronos_tokenizer))
    with client_for(settings, LocalRunnerClient(core)) as c:
        body = c.get("/api/predict", params={"symbol": "BTC", "seed": 1}).json()
        prediction = body["prediction"]
        assert prediction["model"] == "fallback" and prediction["modelId"] == "fallback"
        assert "model not loaded" in prediction["fallbackReason"]
        assert len(prediction["predictions"]) == 24 and prediction["samples"] == 4
        health = c.get("/health").json()
        assert health["model"]["state"] == "fallback" and "nothing" in health["model"]["reason"]


class SlowRunner:
    """A runner that answers after `delay` seconds (to trigger the timeout)."""

    def __init__(self, delay: float) -> None:
        self.delay = delay

    async def forecast(
        self, items: list[RunnerItem], *, scheduled: bool = False
    ) -> list[RunnerResult]:
        await asyncio.sleep(self.delay)
        return []

    async def status(self) -> RunnerStatus:
        await asyncio.sleep(self.delay)
        return RunnerStatus(loaded=True, modelId="m", tokenizerId="t")


def test_fallback_on_timeout_and_health_still_answers(make_settings) -> None:
    with client_for(make_settings(kronos_timeout=0.2), SlowRunner(10)) as c:
        prediction = c.get("/api/predict", params={"symbol": "BTC"}).json()["prediction"]
        assert prediction["model"] == "fallback" and "timed out" in prediction["fallbackReason"]
        health = c.get("/health")
        assert health.status_code == 200 and health.json()["model"]["state"] == "fallback"


def test_503_without_data_and_stale_after_data_goes(
    make_settings, core: RunnerCore, ohlcv_dir: Path, tmp_path: Path
) -> None:
    market = MarketDataSettings(
        _env_file=None, market_data_source="files", market_data_dir=tmp_path
    )
    with client_for(make_settings(market=market), LocalRunnerClient(core)) as c:
        assert_error(
            c.get("/api/predict", params={"symbol": "BTC"}), 503, "market_data_unavailable"
        )
        assert_error(
            c.get("/api/history", params={"symbol": "BTC"}), 503, "market_data_unavailable"
        )
        assert c.get("/health").json()["dataSource"]["state"] == "degraded"
        shutil.copy(ohlcv_dir / "BTC_1h.csv", tmp_path / "BTC_1h.csv")
        fresh = c.get("/api/predict", params={"symbol": "BTC", "seed": 1}).json()
        assert fresh["stale"] is False
        (tmp_path / "BTC_1h.csv").unlink()
        stale = c.get("/api/predict", params={"symbol": "BTC", "seed": 1}).json()
        assert stale["stale"] is True and stale["cached"] is True
        assert stale["prediction"] == fresh["prediction"]
        assert stale["currentPrice"] == fresh["currentPrice"]
        assert_error(
            c.get("/api/predict", params={"symbol": "BTC", "seed": 2}),
            503,
            "market_data_unavailable",
        )


def test_openapi_lists_the_routes(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for route in API_ROUTES:
        assert route in paths


def test_calibrated_bands(make_settings, core: RunnerCore, tmp_path: Path) -> None:
    path = tmp_path / "calibration.json"
    BandCalibration({0.8: np.full(24, 0.5), 0.9: np.zeros(24)}).save(path)
    calibration, error = load_calibration(path)
    assert calibration is not None
    assert error is None
    settings = make_settings(kronos_calibration=path)
    with client_for(settings, LocalRunnerClient(core)) as c:
        prediction = c.get("/api/predict", params={"symbol": "ADA", "seed": 1}).json()["prediction"]
        assert prediction["model"] == "kronos" and prediction["calibrated"] is True
        assert c.get("/health").json()["model"]["calibrated"] is True


def test_unusable_calibration_is_reported(tmp_path: Path) -> None:
    assert load_calibration(None) == (None, None)
    calibration, error = load_calibration(tmp_path / "missing.json")
    assert calibration is None and error
