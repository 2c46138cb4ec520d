"""An in-process stand-in for the API as issues 12 (ledger: /api/accuracy, /api/forecasts) and 13
(interval, levels, close-time stamps with openTime) describe it, with synthetic numbers made here,
so the page's handling of those shapes is tested before the real endpoints land."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Literal

import numpy as np
import pandas as pd
import uvicorn
from fastapi import FastAPI, HTTPException

from dashboard import dashboard_router
from tests.local_server import free_port

NOW = pd.Timestamp("2026-04-16T00:00:00Z")
STEP_S = {"15m": 900, "1h": 3600, "4h": 14400, "1d": 86400}
BASE = {"BTC": 74_000.0, "ETH": 2_300.0}
Interval = Literal["15m", "1h", "4h", "1d"]


def iso(ts: pd.Timestamp) -> str:
    """The API's timestamp format."""
    return ts.strftime("%Y-%m-%dT%H:%M:%SZ")


def close_at(symbol: str, ts: pd.Timestamp) -> float:
    """A smooth synthetic close price of `symbol` at `ts`."""
    hours = (ts - NOW) / pd.Timedelta(hours=1)
    return BASE[symbol] * (1 + 0.01 * np.sin(hours / 7) + 0.0004 * hours)


def step_point(symbol: str, last_open: pd.Timestamp, step: pd.Timedelta, k: int) -> dict:
    """Forecast step k: stamped at its candle's close, with openTime and 80%/90% intervals."""
    mean = close_at(symbol, NOW) * (1 + 0.002 * k)
    width = 0.01 * np.sqrt(k) * mean
    bands = [{"level": 80, "low": mean - width, "high": mean + width}]
    bands.append({"level": 90, "low": mean - 1.4 * width, "high": mean + 1.4 * width})
    return {
        "hour": k,
        "price": mean,
        "median": mean * 0.999,
        "low": bands[0]["low"],
        "high": bands[0]["high"],
        "timestamp": iso(last_open + (k + 1) * step),
        "openTime": iso(last_open + k * step),
        "intervals": bands,
    }


BLEND = {"kronos": 0.32, "random_walk": 0.51, "drift": 0.17}


def predict(symbol: str, interval: str, horizon: int = 24) -> dict:
    """`/api/predict` with `interval` and `levels=80,90`."""
    step = pd.Timedelta(seconds=STEP_S[interval])
    last_open = NOW - step
    points = [step_point(symbol, last_open, step, k) for k in range(1, horizon + 1)]
    prediction = {
        "price_24h": points[-1]["price"],
        "confidence": 0.62,
        "confidenceRaw": 0.81,
        "trend": "bullish",
        "predictions": points,
        "model": "kronos",
        "modelId": "NeoQuasar/Kronos-small",
        "tokenizerId": "NeoQuasar/Kronos-Tokenizer-base",
        "upProbability": 0.58,
        "upProbabilityRaw": 0.7,
        "bandLevels": [0.1, 0.9],
        "calibrated": True,
        "calibration": {"method": "quantile recalibration", "window": 500, "scored": 480},
        "horizon": horizon,
        "samples": 8,
        "blend": BLEND,
        "blendInfo": {"method": "quantile-averaging", "components": list(BLEND), "scored": 300},
    }
    return {
        "symbol": symbol,
        "interval": interval,
        "currentPrice": close_at(symbol, NOW),
        "change24h": 1.2,
        "volume24h": 1e9,
        "prediction": prediction,
        "timestamp": iso(NOW),
        "dataSource": "files",
        "lastCandle": iso(last_open),
        "cached": False,
        "stale": False,
        "dataAgeSeconds": 0.0,
        "generatedAt": iso(NOW),
    }


def history(symbol: str, days: int) -> dict:
    """`/api/history`: hourly closes up to NOW."""
    times = pd.date_range(end=NOW, periods=24 * days, freq="1h")
    prices = [[int(t.value // 1_000_000), close_at(symbol, t)] for t in times]
    data = {"prices": prices, "volumes": [[t, 1e9] for t, _ in prices], "marketCaps": []}
    return {
        "symbol": symbol,
        "days": days,
        "data": data,
        "timestamp": iso(NOW),
        "dataSource": "files",
    }


def accuracy(symbol: str, days: int) -> dict:
    """`/api/accuracy` in issue 12's shape."""
    steps = [
        {
            "hour": h,
            "n": 100,
            "mae": 10.0 * h,
            "mape": 0.1 * h,
            "crps": 7.0 * h,
            "maeNaive": 9.0 * h,
            "crpsNaive": 7.5 * h,
            "crpsDrift": 7.4 * h,
            "crpsSkill": 0.05 - 0.004 * h,
            "crpsSkillBestBaseline": -0.01 * h,
            "coverage80": 0.78 + 0.001 * h,
            "coverage90": 0.88 + 0.001 * h,
            "coverage80Raw": 0.6,
            "coverage90Raw": 0.7,
            "directionHit": 0.52,
        }
        for h in range(1, 25)
    ]
    buckets = [
        {"stated": 0.55 + 0.1 * i, "hitRate": 0.5 + 0.09 * i, "count": 40 - 5 * i} for i in range(5)
    ]
    confidence = {"ece": 0.03, "eceRaw": 0.19, "buckets": buckets}
    start = iso(NOW - pd.Timedelta(days=days))
    window = {"from": start, "to": iso(NOW), "scored": 100}
    best = {"bestBaseline": "random_walk", "crpsSkillBestBaseline": -0.12}
    return {
        "symbol": symbol,
        "days": days,
        **window,
        "steps": steps,
        "confidence": confidence,
    } | best


def leaderboard(symbol: str, days: int) -> dict:
    """`/api/leaderboard`: every forecaster ranked by CRPS."""
    rows = [
        ("random_walk", "baseline", 6.1),
        ("served", "served", 6.4),
        ("small-ft", "challenger", 6.6),
        ("kronos", "model", 7.2),
        ("naive", "baseline", 7.5),
    ]
    forecasters = [
        {
            "name": name,
            "kind": kind,
            "n": 2400,
            "crps": crps,
            "mae": crps * 1.4,
            "coverage80": None if name == "naive" else 0.79,
            "coverage90": None if name == "naive" else 0.9,
            "directionHit": None if name == "naive" else 0.51,
            "rank": rank,
            "crpsSkillBestBaseline": 1 - crps / 6.1,
        }
        for rank, (name, kind, crps) in enumerate(rows, start=1)
    ]
    window = {"from": iso(NOW - pd.Timedelta(days=days)), "to": iso(NOW)}
    return {"symbol": symbol, "interval": "1h", "days": days, **window} | {
        "bestBaseline": "random_walk",
        "forecasters": forecasters,
    }


def forecasts(symbol: str) -> dict:
    """`/api/forecasts`: past forecasts with the realised closes."""
    step = pd.Timedelta(hours=1)
    records = []
    for back in (48, 36, 24):
        origin = NOW - back * step
        steps = [
            {
                "hour": k,
                "timestamp": iso(origin + k * step),
                "mean": close_at(symbol, origin) * (1 + 0.001 * k),
                "realised": close_at(symbol, origin + k * step),
            }
            for k in range(1, 25)
        ]
        records.append({"origin": iso(origin), "steps": steps})
    return {"symbol": symbol, "forecasts": records, "count": len(records)}


HEALTH = {
    "status": "ok",
    "model": {"state": "loaded", "device": "cuda:0", "dtype": "bfloat16", "modelId": "K-small"},
    "dataSource": {"name": "files", "state": "ok"},
    "ledger": {"state": "ok", "buffered": 0, "dropped": 0},
}


def contract_app() -> FastAPI:
    """The stand-in API with the dashboard mounted."""
    app = FastAPI()
    app.state.outage = False  # True: /api/predict answers 503, as in a market-data outage
    app.include_router(dashboard_router())

    @app.get("/api/assets")
    def _assets() -> dict:
        assets = [{"symbol": s, "name": s.lower(), "supported": True} for s in BASE]
        return {"assets": assets, "count": len(assets)}

    @app.get("/api/predict")
    def _predict(symbol: str, interval: Interval = "1h", levels: str = "80") -> dict:
        if app.state.outage:
            raise HTTPException(503, "market data unavailable")
        return predict(symbol, interval)

    @app.get("/api/history")
    def _history(symbol: str, days: int = 7) -> dict:
        return history(symbol, days)

    @app.get("/api/accuracy")
    def _accuracy(symbol: str, days: int = 30, interval: Interval = "1h") -> dict:
        return accuracy(symbol, days)

    @app.get("/api/leaderboard")
    def _leaderboard(symbol: str = "ALL", days: int = 30, interval: Interval = "1h") -> dict:
        return leaderboard(symbol, days)

    @app.get("/api/forecasts")
    def _forecasts(symbol: str, interval: Interval = "1h") -> dict:
        return forecasts(symbol)

    @app.get("/health")
    def _health() -> dict:
        return {**HEALTH, "timestamp": iso(NOW)}

    return app


@contextmanager
def contract_server(app: FastAPI) -> Iterator[str]:
    """Serve `app` on a free loopback port in a thread; yield its URL."""
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
