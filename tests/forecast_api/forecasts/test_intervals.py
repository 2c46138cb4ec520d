"""`interval`, the distribution parameters and step timestamps on /api/predict (in-process)."""

from __future__ import annotations

import asyncio
from itertools import pairwise
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from forecast_api.app import build_services
from forecast_api.forecasts.distribution import DistributionRequest
from forecast_api.forecasts.intervals import time_to_live
from forecast_api.forecasts.prediction_cache import PredictionCache
from forecasting.calibration import BandCalibration
from kronos_runner.runner import RunnerCore
from tests.forecast_api.api_helpers import LocalRunnerClient, assert_error, client_for

STEP = {"1h": pd.Timedelta(hours=1), "4h": pd.Timedelta(hours=4), "1d": pd.Timedelta(days=1)}


def last_open(ohlcv_dir: Path, interval: str) -> pd.Timestamp:
    """Open time of the last complete `interval` candle of BTC's hourly file."""
    opens = pd.to_datetime(pd.read_csv(ohlcv_dir / "BTC_1h.csv")["timestamp"], utc=True)
    step = STEP[interval]
    periods = opens.dt.floor(step).value_counts()
    return periods[periods == step // pd.Timedelta(hours=1)].index.max()


def stamp(ts: pd.Timestamp) -> str:
    return ts.strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.mark.parametrize(("interval", "horizon"), [("1h", 3), ("4h", 5), ("1d", 3)])
def test_steps_are_candles_of_the_interval_stamped_at_their_close(
    client: TestClient, ohlcv_dir: Path, interval: str, horizon: int
) -> None:
    params = {"symbol": "BTC", "interval": interval, "horizon": horizon, "seed": 1}
    body = client.get("/api/predict", params=params).json()
    last, step = last_open(ohlcv_dir, interval), STEP[interval]
    assert body["interval"] == interval and body["lastCandle"] == stamp(last)
    assert body["validUntil"] == stamp(last + 2 * step)
    points = body["prediction"]["predictions"]
    assert [p["hour"] for p in points] == list(range(1, horizon + 1))
    for h, point in enumerate(points, start=1):
        assert point["openTime"] == stamp(last + h * step)
        assert point["timestamp"] == stamp(last + (h + 1) * step)  # the candle's close
        assert point["quantiles"] is None and point["intervals"] is None and point["above"] is None
    assert body["prediction"]["distributionCalibrated"] is None


def test_default_interval_and_horizon(client: TestClient) -> None:
    body = client.get("/api/predict", params={"symbol": "ETH", "seed": 2}).json()
    assert body["interval"] == "1h" and body["prediction"]["horizon"] == 24


def test_cache_is_per_interval(client: TestClient) -> None:
    ask = {"symbol": "SOL", "horizon": 2, "seed": 4}
    assert client.get("/api/predict", params=ask).json()["cached"] is False
    four = client.get("/api/predict", params={**ask, "interval": "4h"}).json()
    assert four["cached"] is False and four["interval"] == "4h"
    assert client.get("/api/predict", params={**ask, "interval": "4h"}).json()["cached"] is True


def test_15m_without_any_file_is_not_offered_and_refused_naming_it(client: TestClient) -> None:
    assert client.get("/api/assets").json()["intervals"] == ["1h", "4h", "1d"]
    for route, symbol in (("/api/predict", "BTC"), ("/api/accuracy", "ETH")):
        response = client.get(route, params={"symbol": symbol, "interval": "15m"})
        assert_error(response, 422, "invalid_parameters")
        message = response.json()["message"]
        assert message.startswith("interval: 15m is not served") and "BTC" not in message


def test_15m_is_offered_once_a_file_has_it(
    make_settings, core: RunnerCore, ohlcv_dir: Path, tmp_path: Path
) -> None:
    for name in ("BTC_1h.csv", "ETH_1h.csv"):
        (tmp_path / name).symlink_to(ohlcv_dir / name)
    (tmp_path / "ETH_15m.csv").symlink_to(ohlcv_dir / "ETH_1h.csv")  # any candles will do
    settings = make_settings()
    settings.market.market_data_dir = tmp_path
    with client_for(settings, LocalRunnerClient(core)) as client:
        assert client.get("/api/assets").json()["intervals"] == ["15m", "1h", "4h", "1d"]
        eth = client.get("/api/predict", params={"symbol": "ETH", "interval": "15m", "seed": 1})
        assert eth.status_code == 200 and eth.json()["interval"] == "15m"
        btc = client.get("/api/predict", params={"symbol": "BTC", "interval": "15m"})
        assert_error(btc, 503, "market_data_unavailable")  # this symbol's file is missing
        assert "BTC_15m" in btc.json()["message"]


def test_distribution_fields(client: TestClient) -> None:
    base = {"symbol": "BTC", "interval": "4h", "horizon": 4, "samples": 20, "seed": 7}
    plain = client.get("/api/predict", params=base).json()
    median = plain["prediction"]["predictions"][-1]["median"]
    params = {**base, "quantiles": "0.95,0.05,0.25,0.5,0.75", "levels": "50,80,95"}
    body = client.get("/api/predict", params={**params, "above": f"{median},1,1e9"}).json()
    assert body["cached"] is True  # the same model run serves every distribution request
    prediction = body["prediction"]
    assert prediction["distributionCalibrated"] == {
        "quantiles": {q: False for q in ("0.05", "0.25", "0.5", "0.75", "0.95")},
        "intervals": {"50": False, "80": False, "95": False},
        "above": False,
    }
    for point, raw in zip(
        prediction["predictions"], plain["prediction"]["predictions"], strict=True
    ):
        values = list(point["quantiles"].values())
        assert list(point["quantiles"]) == ["0.05", "0.25", "0.5", "0.75", "0.95"]
        assert values == sorted(values) and point["quantiles"]["0.5"] == pytest.approx(
            raw["median"]
        )
        bands = point["intervals"]
        assert [b["level"] for b in bands] == [50, 80, 95]
        assert bands[0]["low"] == pytest.approx(point["quantiles"]["0.25"])
        assert bands[1]["low"] == pytest.approx(raw["low"]) and bands[1]["high"] == raw["high"]
        assert all(a["low"] >= b["low"] and a["high"] <= b["high"] for a, b in pairwise(bands))
        assert [a["price"] for a in point["above"]] == [1.0, median, 1e9]
        assert point["above"][0]["probability"] == 1 and point["above"][2]["probability"] == 0
    assert prediction["predictions"][-1]["above"][1]["probability"] == pytest.approx(0.5, abs=0.1)


def test_calibration_applies_at_its_interval_only(
    make_settings, core: RunnerCore, tmp_path: Path
) -> None:
    path = tmp_path / "calibration.json"
    BandCalibration({0.8: np.full(24, 0.2)}).save(path)  # metadata states no interval: 1h
    with client_for(make_settings(kronos_calibration=path), LocalRunnerClient(core)) as c:
        ask = {"symbol": "BTC", "horizon": 3, "seed": 1, "quantiles": "0.1,0.5", "levels": "80,90"}
        hourly = c.get("/api/predict", params=ask).json()["prediction"]
        daily = c.get("/api/predict", params={**ask, "interval": "1d"}).json()["prediction"]
        only80 = {"symbol": "BTC", "horizon": 3, "seed": 1, "levels": "80"}
        band = c.get("/api/predict", params=only80).json()
    assert hourly["calibrated"] is True and daily["calibrated"] is False
    assert hourly["distributionCalibrated"]["quantiles"] == {"0.1": True, "0.5": False}
    assert hourly["distributionCalibrated"]["intervals"] == {"80": True, "90": False}
    assert not any(daily["distributionCalibrated"]["intervals"].values())
    for point in band["prediction"]["predictions"]:  # the 80% interval is the calibrated band
        [interval] = point["intervals"]
        assert interval["low"] == pytest.approx(point["low"])
        assert interval["high"] == pytest.approx(point["high"])


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"interval": "2w"}, "interval"),
        ({"interval": "4h", "horizon": 43}, "horizon"),
        ({"interval": "1d", "horizon": 31}, "horizon"),
        ({"quantiles": "0"}, "quantiles"),
        ({"quantiles": "0.5,1"}, "quantiles"),
        ({"quantiles": "nan"}, "quantiles"),
        ({"quantiles": "a,b"}, "quantiles"),
        ({"quantiles": ",".join(f"0.{i}" for i in range(1, 10)) + ",0.95"}, "quantiles"),
        ({"levels": "100"}, "levels"),
        ({"levels": "-5"}, "levels"),
        ({"levels": "10,20,30,40,50,60"}, "levels"),
        ({"above": "0"}, "above"),
        ({"above": "-1"}, "above"),
        ({"above": "inf"}, "above"),
        ({"above": ","}, "above"),
        ({"above": ",".join(str(i) for i in range(1, 12))}, "above"),
    ],
)
def test_bad_parameters_are_422_naming_them(client: TestClient, params: dict, named: str) -> None:
    response = client.get("/api/predict", params={"symbol": "BTC", **params})
    assert_error(response, 422, "invalid_parameters")
    assert response.json()["message"].startswith(named)


def test_batch_takes_the_same_fields(client: TestClient) -> None:
    body = {"symbols": ["BTC", "NOPE"], "interval": "1d", "horizon": 2, "seed": 3}
    response = client.post("/api/predict/batch", json={**body, "quantiles": [0.1, 0.9]})
    assert response.status_code == 200, response.text
    ok, missing = response.json()["results"]
    assert ok["data"]["interval"] == "1d" and missing["error"] == "unknown_symbol"
    assert set(ok["data"]["prediction"]["predictions"][0]["quantiles"]) == {"0.1", "0.9"}
    bad = client.post("/api/predict/batch", json={**body, "levels": [0]})
    assert_error(bad, 422, "invalid_parameters")
    assert bad.json()["message"].startswith("levels")


def test_time_to_live_runs_to_the_next_close() -> None:
    last = pd.Timestamp("2026-04-15T00:00:00Z")  # the last closed daily candle
    at = pd.Timestamp("2026-04-16T06:00:00Z").timestamp()
    assert time_to_live(last, "1d", at, 60) == 18 * 3600  # closes 2026-04-17T00:00
    assert time_to_live(last, "4h", at, 60) == 60  # 08:00 on the 15th has passed: the floor
    assert time_to_live(pd.Timestamp("2026-04-16T00:00Z"), "4h", at, 60) == 2 * 3600


class Clock:
    """A wall clock and a monotonic timer moved together by the test."""

    def __init__(self, wall: float) -> None:
        self.wall, self.mono = wall, 0.0

    def advance(self, seconds: float) -> None:
        self.wall += seconds
        self.mono += seconds


def test_a_daily_forecast_stays_cached_until_the_daily_close(
    make_settings, core: RunnerCore, ohlcv_dir: Path
) -> None:
    services = build_services(make_settings(), LocalRunnerClient(core))
    last = last_open(ohlcv_dir, "1d")
    clock = Clock((last + pd.Timedelta(hours=30)).timestamp())  # 18 h before the next close
    service = services.predictions
    service.clock = lambda: clock.wall
    service.cache = PredictionCache(16, timer=lambda: clock.mono)

    def ask(interval: str) -> bool:
        response = asyncio.run(
            service.predict("BTC", 2, 2, 1, interval=interval, distribution=DistributionRequest())
        )
        return response.cached

    assert ask("1d") is False and ask("4h") is False
    clock.advance(18 * 3600 - 1)
    assert ask("1d") is True
    assert ask("4h") is False  # its next close had passed: cached for the floor only
    clock.advance(2)
    assert ask("1d") is False
