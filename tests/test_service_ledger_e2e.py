"""End to end: `bentoml serve` with two API workers on one PostgreSQL ledger, candle files that
grow by an hour: one scheduled forecast per (symbol, origin), scored when its candles close."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pandas as pd
import pytest
from sqlalchemy import func, select

from ledger.models import SCORED, ForecastRow, StepRow
from ledger.store import Ledger
from tests.local_server import bentoml_server, service_workers

pytestmark = pytest.mark.e2e
SYMBOLS = ["BTC", "ETH"]
START = 600


def write_until(directory: Path, candles: dict[str, pd.DataFrame], count: int) -> None:
    """Each symbol's file holds its first `count` candles (written whole, then renamed)."""
    for symbol, frame in candles.items():
        part = directory / f".{symbol}_1h.csv.part"
        frame.head(count).to_csv(part, index=False)
        part.replace(directory / f"{symbol}_1h.csv")


def wait_for(check: Callable[[], bool], timeout: float = 90.0) -> None:
    """Poll `check` until it holds; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.5)


@pytest.fixture(scope="module")
def market(ohlcv_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    """A candle directory that starts with START candles, and its source frames."""
    directory = tmp_path_factory.mktemp("market")
    candles = {s: pd.read_csv(ohlcv_dir / f"{s}_1h.csv", nrows=START + 10) for s in SYMBOLS}
    write_until(directory, candles, START)
    return directory, candles


@pytest.fixture(scope="module")
def served(market, tiny_model_env, postgres, tmp_path_factory, pytestconfig) -> Iterator[tuple]:
    """The server (two API workers) and its ledger."""
    url = postgres.create_database()
    env = {
        **tiny_model_env,
        "MARKET_DATA_SOURCE": "files",
        "MARKET_DATA_DIR": str(market[0]),
        "LEDGER_URL": url,
        "LEDGER_SCHEDULE": "1h",
        "LEDGER_SYMBOLS": ",".join(SYMBOLS),
        "LEDGER_TICK": "0.5",
        "LEDGER_SCORE_GRACE": "0",
        "KRONOS_MAX_HORIZON": "3",
        "KRONOS_LOOKBACK": "64",
        "API_WORKERS": "2",
    }
    log = tmp_path_factory.mktemp("serve-ledger") / "server.log"
    with bentoml_server(env, cwd=pytestconfig.rootpath, log=log) as base:
        yield base, Ledger.open(url, run_migrations=False)


def scheduled(ledger: Ledger) -> list[tuple[str, int]]:
    """(symbol, origin) of every scheduled forecast."""
    stmt = select(ForecastRow.symbol, ForecastRow.origin).where(ForecastRow.kind == "scheduled")
    with ledger.engine.connect() as conn:
        return sorted((s, int(o)) for s, o in conn.execute(stmt))


def scored(ledger: Ledger) -> int:
    """Steps scored so far."""
    with ledger.engine.connect() as conn:
        return int(conn.execute(select(func.count()).where(StepRow.status == SCORED)).scalar())


def test_two_workers_make_one_scheduled_forecast_per_origin(served, market) -> None:
    base, ledger = served
    directory, candles = market
    assert len(service_workers(base, "kronos_api")) == 2
    origin = int(pd.Timestamp(candles["BTC"]["timestamp"].iat[START - 1]).timestamp())
    wait_for(lambda: len(scheduled(ledger)) >= 2)
    time.sleep(3)  # several more rounds of both workers
    assert scheduled(ledger) == [("BTC", origin), ("ETH", origin)]

    # whichever worker answers, the default forecast is the same (seeded by symbol and origin)
    bodies = [httpx.get(f"{base}/api/predict", params={"symbol": "BTC"}).json() for _ in range(6)]
    assert len({b["prediction"]["seed"] for b in bodies}) == 1
    assert len({b["prediction"]["price_24h"] for b in bodies}) == 1
    assert any(b["cached"] for b in bodies)

    for step in (1, 2, 3):
        write_until(directory, candles, START + step)
        wait_for(lambda step=step: len(scheduled(ledger)) == 2 * (step + 1))
    time.sleep(3)
    assert len(scheduled(ledger)) == 8 and len(set(scheduled(ledger))) == 8
    wait_for(lambda: scored(ledger) >= 2 * (3 + 2 + 1))  # every step closed by now is scored

    health = httpx.get(f"{base}/health").json()["ledger"]
    assert health["state"] == "ok" and health["dropped"] == 0 and health["rounds"] > 0
    accuracy = httpx.get(f"{base}/api/accuracy", params={"symbol": "ALL", "days": 30}).json()
    assert accuracy["scored"] == 6 and accuracy["steps"][0]["n"] == 6
    metrics = httpx.get(f"{base}/metrics").text
    assert "kronos_ledger_buffered" in metrics and "kronos_ledger_coverage80{" in metrics
