"""What real clients send: HEAD, non-JSON bodies, lax integers, empty and blank parameters,
and less than a day of candles (files source, tiny checkpoint in-process)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from data_sources import MarketDataSettings
from forecast_api.forecasts.market import snapshot
from kronos_runner.runner import RunnerCore
from tests.forecast_api.api_helpers import LocalRunnerClient, assert_error, client_for

GET_ROUTES = [
    ("/health", {}),
    ("/api/assets", {}),
    ("/api/history", {"symbol": "BTC", "days": 1}),
    ("/api/predict", {"symbol": "BTC", "horizon": 2}),
]
CANDLES = [
    {"timestamp": f"2025-01-01T{h:02d}:00:00Z", "open": 1, "high": 1.1, "low": 0.9, "close": 1}
    for h in range(8)
]


@pytest.mark.parametrize(("path", "params"), GET_ROUTES)
def test_head_on_every_get_route_is_200_without_a_body(
    client: TestClient, path: str, params: dict
) -> None:
    get = client.get(path, params=params)
    head = client.head(path, params=params)
    assert get.status_code == head.status_code == 200, head.text
    assert head.content == b"" and head.headers["content-type"] == "application/json"


def test_head_follows_get_on_unknown_and_post_only_routes(client: TestClient) -> None:
    assert client.head("/api/nope").status_code == 404
    head = client.head("/api/forecast")
    assert head.status_code == 405 and "POST" in head.headers["allow"] and head.content == b""


@pytest.mark.parametrize(
    ("path", "body"),
    [("/api/forecast", b'{"candles": []}'), ("/api/predict/batch", b'{"symbols": ["BTC"]}')],
)
@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data", None],
)
def test_a_body_not_declared_json_is_415(
    client: TestClient, path: str, body: bytes, content_type: str | None
) -> None:
    headers = {"content-type": content_type} if content_type else {}
    response = client.post(path, content=body, headers=headers)
    assert_error(response, 415, "unsupported_media_type")
    assert (content_type or "undeclared") in response.json()["message"]


@pytest.mark.parametrize(
    "content_type", ["application/json", "application/json; charset=utf-8", "application/x+json"]
)
def test_json_bodies_are_read(client: TestClient, content_type: str) -> None:
    body = json.dumps({"candles": CANDLES, "horizon": 2}).encode()
    response = client.post("/api/forecast", content=body, headers={"content-type": content_type})
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("value", ["true", "2.0", "1_0", "1e1", "0x10", " 5", "+5", "٣"])
@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("/api/predict", "horizon"),
        ("/api/predict", "samples"),
        ("/api/predict", "seed"),
        ("/api/history", "days"),
    ],
)
def test_query_integers_are_strict(client: TestClient, path: str, name: str, value: str) -> None:
    response = client.get(path, params={"symbol": "BTC", name: value})
    assert_error(response, 422, "invalid_parameters")
    assert name in response.json()["message"]


def test_an_empty_parameter_means_its_default(client: TestClient) -> None:
    history = client.get("/api/history?symbol=BTC&days=")
    assert history.status_code == 200 and history.json()["days"] == 7
    predict = client.get("/api/predict?symbol=BTC&horizon=&samples&seed=")
    assert predict.status_code == 200, predict.text
    assert predict.json()["prediction"]["horizon"] == 24
    assert_error(client.get("/api/predict?symbol="), 422, "invalid_parameters")


@pytest.mark.parametrize("symbol", [" ", "   ", "\t"])
def test_a_blank_symbol_is_422(client: TestClient, symbol: str) -> None:
    for path in ("/api/predict", "/api/history"):
        assert_error(client.get(path, params={"symbol": symbol}), 422, "invalid_parameters")
    batch = client.post("/api/predict/batch", json={"symbols": ["BTC", symbol]})
    assert_error(batch, 422, "invalid_parameters")


def test_change24h_is_null_without_a_day_of_candles(
    make_settings, core: RunnerCore, ohlcv_dir: Path, tmp_path: Path
) -> None:
    lines = (ohlcv_dir / "BTC_1h.csv").read_text().splitlines(keepends=True)
    data = tmp_path / "data"
    data.mkdir()
    (data / "BTC_1h.csv").write_text("".join(lines[:1] + lines[-20:]))  # 20 hours of candles
    market = MarketDataSettings(_env_file=None, market_data_source="files", market_data_dir=data)
    with client_for(make_settings(market=market), LocalRunnerClient(core)) as c:
        body = c.get("/api/predict", params={"symbol": "BTC"}).json()
    assert body["change24h"] is None and body["currentPrice"] > 0


def _hourly(hours: int, drop: tuple[int, ...] = ()) -> pd.DataFrame:
    stamps = pd.date_range("2025-01-01", periods=hours, freq="h", tz="UTC")
    frame = pd.DataFrame({"timestamp": stamps, "close": range(1, hours + 1), "amount": 1.0})
    return frame.drop(index=list(drop)).reset_index(drop=True)


def test_snapshot_day_figures_follow_the_clock() -> None:
    assert snapshot(_hourly(24), None).change_24h is None
    day = snapshot(_hourly(25), None)
    assert day.change_24h == pytest.approx((25 / 1 - 1) * 100) and day.volume_24h == 24
    # a 3-hour hole: 24 hours before the last candle is the candle before the hole
    holed = snapshot(_hourly(30, drop=(5, 6, 7)), None)
    assert holed.change_24h == pytest.approx((30 / 5 - 1) * 100) and holed.volume_24h == 22
