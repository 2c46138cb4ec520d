"""End to end on `bentoml serve` (two API workers, the tiny model, files that grow by an hour):
an alert rule fires once, signed, to a webhook on 127.0.0.1 that fails first; a backtest job runs
as the BentoML task and reports the accuracy tables of the CLI's replay of the same window."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pandas as pd
import pytest
from sqlalchemy import func, select

from ledger.jobs import window_accuracy
from ledger.models import ForecastRow
from ledger.store import Ledger
from tests.local_server import bentoml_server
from tests.webhook_server import valid_signature, webhook

pytestmark = pytest.mark.e2e
START = 600  # candles in the file when the server starts (2024-04-16 to 2024-05-11)
WINDOW = {"from": "2024-05-01T00:00:00Z", "to": "2024-05-03T00:00:00Z", "every": "6h"}


def wait_for(check: Callable[[], bool], timeout: float = 120.0) -> None:
    """Poll `check` until it holds; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.3)


def write_until(directory: Path, frame: pd.DataFrame, count: int) -> None:
    """BTC's file holds its first `count` candles (written whole, then renamed)."""
    part = directory / ".BTC_1h.csv.part"
    frame.head(count).to_csv(part, index=False)
    part.replace(directory / "BTC_1h.csv")


@pytest.fixture(scope="module")
def served(ohlcv_dir, tiny_model_env, tmp_path_factory, pytestconfig) -> Iterator[tuple]:
    """The server, its candle directory and frame, and its ledger URL."""
    root = tmp_path_factory.mktemp("alerts-e2e")
    market = root / "ohlcv"
    market.mkdir()
    frame = pd.read_csv(ohlcv_dir / "BTC_1h.csv", nrows=START + 5)
    write_until(market, frame, START)
    url = f"sqlite:///{root / 'ledger.db'}"
    env = {
        **tiny_model_env,
        "MARKET_DATA_SOURCE": "files",
        "MARKET_DATA_DIR": str(market),
        "LEDGER_URL": url,
        "LEDGER_SCHEDULE": "1h",
        "LEDGER_SYMBOLS": "BTC",
        "LEDGER_TICK": "0.5",
        "KRONOS_MAX_HORIZON": "3",
        "KRONOS_LOOKBACK": "64",
        "API_WORKERS": "2",
        "ALERT_BACKOFF": "0.3",
        "BACKTEST_DIR": str(root / "jobs"),
    }
    with bentoml_server(env, cwd=pytestconfig.rootpath, log=root / "server.log") as base:
        yield base, market, frame, url, env


def scheduled(url: str) -> int:
    """Scheduled forecasts in the ledger."""
    ledger = Ledger.open(url, run_migrations=False)
    stmt = select(func.count()).select_from(ForecastRow).where(ForecastRow.kind == "scheduled")
    with ledger.engine.connect() as conn:
        count = int(conn.execute(stmt).scalar_one())
    ledger.engine.dispose()
    return count


def test_an_alert_fires_once_signed_after_a_failed_try(served) -> None:
    base, market, frame, url, _ = served
    wait_for(lambda: scheduled(url) >= 1)  # the start-up forecast: before the rule exists
    with webhook(statuses=[500]) as received:
        rule = {"symbol": "BTC", "above": 1, "hours": 2, "probability": 0.9}
        made = httpx.post(f"{base}/api/alerts", json={**rule, "webhook": received.url})
        assert made.status_code == 201, made.text
        secret, rule_id = made.json()["secret"], made.json()["id"]
        write_until(market, frame, START + 1)  # a candle closes: a new scheduled forecast
        assert received.wait_for(2, timeout=120)
        time.sleep(3)  # several upkeep rounds in both workers: nothing fires again
        assert len(received.requests) == 2
        (h1, body1), (h2, body2) = received.requests
    assert body1 == body2
    assert valid_signature(secret, h1, body1) and valid_signature(secret, h2, body2)
    sent = json.loads(body2)
    assert sent["fired"]["probability"] >= 0.9 and sent["rule"]["id"] == rule_id
    shown = httpx.get(f"{base}/api/alerts/{rule_id}").json()
    [delivery] = shown["deliveries"]
    assert delivery["status"] == "delivered" and delivery["attempts"] == 2
    assert delivery["failures"][0]["error"] == "HTTP 500"
    assert httpx.delete(f"{base}/api/alerts/{rule_id}").status_code == 204


def test_a_backtest_job_matches_the_cli_replay(served, tmp_path: Path) -> None:
    base, market, _, _, env = served
    body = {"symbols": ["BTC"], "horizon": 3, "forecaster": "drift", **WINDOW}
    submitted = httpx.post(f"{base}/api/backtests", json=body)
    assert submitted.status_code == 202, submitted.text
    job = f"{base}/api/backtests/{submitted.json()['id']}"
    wait_for(lambda: httpx.get(job).json()["status"] in ("done", "failed"))
    done = httpx.get(job).json()
    assert done["status"] == "done", done["error"]
    assert done["progress"] == {"done": 9, "total": 9, "fraction": 1.0}
    cli = f"sqlite:///{tmp_path / 'cli.db'}"
    command = [sys.executable, "-m", "cli", "replay", "--from", WINDOW["from"], "--to"]
    command += [WINDOW["to"], "--every", "6h", "--symbols", "BTC", "--horizon", "3"]
    command += ["--forecaster", "drift", "--no-progress"]
    run_env = {k: env[k] for k in ("KRONOS_MODEL", "KRONOS_TOKENIZER", "KRONOS_SAMPLES")}
    run_env |= {"MARKET_DATA_SOURCE": "files", "MARKET_DATA_DIR": str(market)}
    run_env |= {"LEDGER_URL": cli, "PATH": "/usr/bin:/bin", "KRONOS_LOOKBACK": "64"}
    result = subprocess.run(
        command,
        cwd=Path(__file__).resolve().parents[1],
        env=run_env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    start, end = pd.Timestamp(WINDOW["from"]), pd.Timestamp(WINDOW["to"])
    expected = window_accuracy(Ledger.open(cli), "1h", start, end)
    assert done["scored"] == expected["scored"] > 0
    assert done["steps"] == expected["steps"] and done["confidence"] == expected["confidence"]
