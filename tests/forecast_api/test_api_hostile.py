"""Hostile clients in-process: every bad request is a JSON 4xx, never a 500 or a NaN."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from data_sources import MarketDataSettings
from kronos_runner.runner import RunnerCore
from kronos_runner.wire import RunnerItem, RunnerResult, RunnerStatus
from tests.forecast_api.api_helpers import LocalRunnerClient, assert_error, client_for


def hourly_candles(ohlcv_dir: Path, start: str, n: int = 20) -> list[dict]:
    """`n` real BTC candles re-stamped hourly from `start`."""
    df = pd.read_csv(ohlcv_dir / "BTC_1h.csv").tail(n).drop(columns=["amount"])
    df["timestamp"] = [(pd.Timestamp(start) + pd.Timedelta(hours=i)).isoformat() for i in range(n)]
    return df.to_dict(orient="records")


@pytest.mark.parametrize("start", ["9999-12-30T00:00:00Z", "0001-01-01T00:00:00Z"])
def test_forecast_timestamps_beyond_pandas_range(
    client: TestClient, ohlcv_dir: Path, start: str
) -> None:
    candles = hourly_candles(ohlcv_dir, "2024-01-01")
    for i, candle in enumerate(candles):
        candle["timestamp"] = start.replace("00:00:00", f"{i:02d}:00:00")
    response = client.post("/api/forecast", json={"candles": candles, "horizon": 2, "samples": 2})
    assert_error(response, 422, "invalid_parameters")
    assert "timestamps must lie between" in response.json()["message"]


def test_forecast_horizon_past_the_end_of_time(client: TestClient, ohlcv_dir: Path) -> None:
    candles = hourly_candles(ohlcv_dir, "2262-04-10T00:00:00Z")
    response = client.post("/api/forecast", json={"candles": candles, "horizon": 72, "samples": 2})
    assert_error(response, 422, "invalid_parameters")
    fits = client.post("/api/forecast", json={"candles": candles, "horizon": 2, "samples": 2})
    assert fits.status_code == 200, fits.text


def test_forecast_naive_and_offset_timestamps_are_utc(client: TestClient, ohlcv_dir: Path) -> None:
    candles = hourly_candles(ohlcv_dir, "2024-01-01T00:00:00")
    candles[1]["timestamp"] = "2024-01-01T06:00:00+05:00"
    body = client.post("/api/forecast", json={"candles": candles, "horizon": 2, "seed": 1}).json()
    assert body["lastCandle"] == "2024-01-01T19:00:00Z" and body["intervalSeconds"] == 3600
    first = body["prediction"]["predictions"][0]  # the next candle opens 20:00, closes 21:00
    assert (
        first["timestamp"] == "2024-01-01T21:00:00Z" and first["openTime"] == "2024-01-01T20:00:00Z"
    )


@pytest.mark.parametrize("seed", [2**63, 10**30])
def test_seed_beyond_the_generators_range_is_rejected(client: TestClient, seed: int) -> None:
    """Such seeds used to fall back to the statistical forecaster silently."""
    params = {"symbol": "BTC", "horizon": 2, "samples": 2, "seed": seed}
    assert_error(client.get("/api/predict", params=params), 422, "invalid_parameters")
    batch = {"symbols": ["BTC"], "horizon": 2, "seed": seed}
    assert_error(client.post("/api/predict/batch", json=batch), 422, "invalid_parameters")


def test_largest_seed_uses_the_model(client: TestClient) -> None:
    params = {"symbol": "BTC", "horizon": 2, "samples": 2, "seed": 2**63 - 1}
    prediction = client.get("/api/predict", params=params).json()["prediction"]
    assert prediction["model"] == "kronos" and prediction["seed"] == 2**63 - 1


def test_batch_symbols_are_bounded_like_the_query_parameter(client: TestClient) -> None:
    """A 50 MB symbol used to be echoed back in a 200 answer."""
    for symbol in ("A" * 21, ""):
        body = {"symbols": ["BTC", symbol], "horizon": 2}
        assert_error(client.post("/api/predict/batch", json=body), 422, "invalid_parameters")


def test_batch_mixes_duplicates_unknown_and_good_symbols(client: TestClient) -> None:
    body = {"symbols": ["BTC", "btc ", "ZZZ", "\x00", "eth"], "horizon": 2, "samples": 2}
    results = client.post("/api/predict/batch", json=body).json()["results"]
    assert [r["ok"] for r in results] == [True, True, False, False, True]
    assert results[0]["data"]["prediction"] == results[1]["data"]["prediction"]
    assert {r["error"] for r in results if not r["ok"]} == {"unknown_symbol"}


@pytest.mark.parametrize(
    ("method", "path", "status", "code"),
    [
        ("GET", "/api/nope", 404, "not_found"),
        ("GET", "/api/predict/batch/x", 404, "not_found"),
        ("POST", "/api/predict", 405, "method_not_allowed"),
        ("DELETE", "/api/assets", 405, "method_not_allowed"),
        ("GET", "/api/forecast", 405, "method_not_allowed"),
        ("PUT", "/health", 405, "method_not_allowed"),
    ],
)
def test_unknown_routes_and_methods_are_json(
    client: TestClient, method: str, path: str, status: int, code: str
) -> None:
    response = client.request(method, path)
    assert_error(response, status, code)
    if status == 405:
        assert response.headers["allow"]


def test_known_paths_with_a_trailing_slash_still_redirect(client: TestClient) -> None:
    response = client.get("/api/predict/?symbol=BTC", follow_redirects=False)
    assert response.status_code == 307
    assert response.headers["location"].endswith("/api/predict?symbol=BTC")
    assert_error(client.get("/api/nope/", follow_redirects=False), 404, "not_found")


def test_body_nested_too_deep_is_422(client: TestClient) -> None:
    deep = b'{"symbols": ' + b"[" * 5000 + b"]" * 5000 + b"}"
    response = client.post(
        "/api/predict/batch", content=deep, headers={"content-type": "application/json"}
    )
    assert_error(response, 422, "invalid_parameters")


def test_one_candle_of_history_is_503_and_spares_its_neighbours(
    make_settings, core: RunnerCore, ohlcv_dir: Path, tmp_path: Path
) -> None:
    """A one-row file used to crash the fallback (500) and fail the whole batch."""
    pd.read_csv(ohlcv_dir / "BTC_1h.csv").tail(1).to_csv(tmp_path / "BTC_1h.csv", index=False)
    shutil.copy(ohlcv_dir / "ETH_1h.csv", tmp_path / "ETH_1h.csv")
    market = MarketDataSettings(
        _env_file=None, market_data_source="files", market_data_dir=tmp_path
    )
    with client_for(make_settings(market=market), LocalRunnerClient(core)) as c:
        response = c.get("/api/predict", params={"symbol": "BTC", "horizon": 2})
        assert_error(response, 503, "market_data_unavailable")
        body = {"symbols": ["BTC", "ETH"], "horizon": 2, "samples": 2}
        btc, eth = c.post("/api/predict/batch", json=body).json()["results"]
        assert not btc["ok"] and btc["error"] == "market_data_unavailable"
        assert eth["ok"] and eth["data"]["prediction"]["model"] == "kronos"


def rescaled(candles: list[dict], price: float) -> list[dict]:
    """`candles` with prices in units such that the last close is `price`."""
    factor = price / candles[-1]["close"]
    return [{**c, **{k: c[k] * factor for k in ("open", "high", "low", "close")}} for c in candles]


def test_forecasts_do_not_depend_on_the_price_unit(client: TestClient, ohlcv_dir: Path) -> None:
    """A coin at $0.000001 used to get noisy or negative Kronos prices (the model's fixed
    normalisation epsilon); the engine now feeds the model unit-scale series."""
    candles = hourly_candles(ohlcv_dir, "2024-01-01", n=64)
    relative = []
    for price in (1e5, 1.0, 1e-6):
        body = {"candles": rescaled(candles, price), "horizon": 4, "samples": 4, "seed": 1}
        prediction = client.post("/api/forecast", json=body).json()["prediction"]
        assert prediction["model"] == "kronos"
        relative.append([p["price"] / price for p in prediction["predictions"]])
    assert relative[0] == pytest.approx(relative[1], rel=1e-5)
    assert relative[2] == pytest.approx(relative[1], rel=1e-5)


class NegativeRunner:
    """A runner whose model answers with negative prices."""

    async def forecast(
        self, items: list[RunnerItem], *, scheduled: bool = False
    ) -> list[RunnerResult]:
        return [
            RunnerResult(
                ok=True,
                timestamps=[item.timestamps[-1] + 3_600_000 * (h + 1) for h in range(item.horizon)],
                paths=[[[-1.0] * 6] * item.horizon] * item.sampling.samples,
            )
            for item in items
        ]

    async def status(self) -> RunnerStatus:
        return RunnerStatus(loaded=True, modelId="m", tokenizerId="t")


def test_non_positive_model_prices_fall_back(make_settings) -> None:
    with client_for(make_settings(), NegativeRunner()) as c:
        params = {"symbol": "BTC", "horizon": 3, "samples": 2}
        prediction = c.get("/api/predict", params=params).json()["prediction"]
    assert prediction["model"] == "fallback"
    assert prediction["fallbackReason"] == "the model returned non-positive prices"
    assert all(p["low"] > 0 for p in prediction["predictions"])


def test_prices_near_the_float_limit_are_422_not_null(client: TestClient, ohlcv_dir: Path) -> None:
    """Their mean over the paths used to overflow and reach the client as `null`."""
    candles = rescaled(hourly_candles(ohlcv_dir, "2024-01-01", n=40), 1e308)
    response = client.post("/api/forecast", json={"candles": candles, "horizon": 2})
    assert_error(response, 422, "invalid_parameters")


def test_stale_answer_whatever_the_spelling_of_the_symbol(
    make_settings, core: RunnerCore, ohlcv_dir: Path, tmp_path: Path
) -> None:
    """`btc ` used to get a 503 where `BTC` got the stale cached forecast."""
    market = MarketDataSettings(
        _env_file=None, market_data_source="files", market_data_dir=tmp_path
    )
    shutil.copy(ohlcv_dir / "BTC_1h.csv", tmp_path / "BTC_1h.csv")
    with client_for(make_settings(market=market), LocalRunnerClient(core)) as c:
        params = {"symbol": "BTC", "horizon": 2, "seed": 1}
        fresh = c.get("/api/predict", params=params).json()
        (tmp_path / "BTC_1h.csv").unlink()
        stale = c.get("/api/predict", params={**params, "symbol": " btc "}).json()
        assert stale["symbol"] == "BTC" and stale["stale"] is True
        assert stale["prediction"] == fresh["prediction"]
        body = {"symbols": ["eth ", "btc "], "horizon": 2, "seed": 1}
        eth, btc = c.post("/api/predict/batch", json=body).json()["results"]
        assert eth["symbol"] == "ETH" and eth["error"] == "market_data_unavailable"
        assert btc["symbol"] == "BTC" and btc["ok"] and btc["data"]["stale"] is True


def test_market_prices_too_extreme_to_summarise_fail_alone(
    make_settings, core: RunnerCore, ohlcv_dir: Path, tmp_path: Path
) -> None:
    """Such a symbol used to fail every symbol of its batch (one exception in the computation)."""
    btc = pd.read_csv(ohlcv_dir / "BTC_1h.csv").tail(200)
    for column in ("open", "high", "low", "close"):
        btc[column] = btc[column] / btc["close"].iloc[-1] * 5e307
    btc.to_csv(tmp_path / "BTC_1h.csv", index=False)
    shutil.copy(ohlcv_dir / "ETH_1h.csv", tmp_path / "ETH_1h.csv")
    market = MarketDataSettings(
        _env_file=None, market_data_source="files", market_data_dir=tmp_path
    )
    with client_for(make_settings(market=market, kronos_samples=8), LocalRunnerClient(core)) as c:
        body = {"symbols": ["BTC", "ETH"], "horizon": 4}
        btc_entry, eth_entry = c.post("/api/predict/batch", json=body).json()["results"]
        assert not btc_entry["ok"] and btc_entry["error"] == "market_data_unavailable"
        assert "too extreme" in btc_entry["message"]
        assert eth_entry["ok"] and eth_entry["data"]["prediction"]["model"] == "kronos"
        assert_error(
            c.get("/api/predict", params={"symbol": "BTC"}), 503, "market_data_unavailable"
        )


def test_huge_bodies_are_refused_before_parsing(client: TestClient) -> None:
    """A 50 MB body used to be read and parsed whole."""
    huge = b'{"symbols": ["' + b"A" * 5_000_000 + b'"]}'
    headers = {"content-type": "application/json"}
    response = client.post("/api/predict/batch", content=huge, headers=headers)
    assert_error(response, 413, "body_too_large")

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted while it streams in
        yield b'{"symbols": ["'
        for _ in range(50):
            yield b"A" * 100_000
        yield b'"]}'

    response = client.post("/api/predict/batch", content=chunks(), headers=headers)
    assert_error(response, 413, "body_too_large")
