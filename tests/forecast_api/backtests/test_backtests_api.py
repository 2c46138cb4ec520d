"""Backtests on demand in-process: a job replays into its scratch ledger and reports the same
accuracy tables as the CLI's replay of the window; limits and bad requests are clear 4xx."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from forecast_api.app import build_services, create_app
from forecast_api.backtests.schemas import BacktestRequest
from forecast_api.http.routes import provide
from ledger.jobs import window_accuracy
from ledger.store import Ledger
from tests.forecast_api.api_helpers import LocalRunnerClient

REPO = Path(__file__).resolve().parents[3]
WINDOW = {"from": "2026-04-01T00:00:00Z", "to": "2026-04-02T00:00:00Z", "every": "6h"}


def cli_accuracy(tmp_path: Path, ohlcv_dir: Path, forecaster: str, model: dict) -> dict:
    """`python3 -m cli replay` of WINDOW (BTC, horizon 6) into a SQLite file of its own; the
    accuracy body of that ledger over the window."""
    url = f"sqlite:///{tmp_path / f'cli-{forecaster}.db'}"
    env = {"PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1", "LEDGER_URL": url, **model}
    env |= {"MARKET_DATA_SOURCE": "files", "MARKET_DATA_DIR": str(ohlcv_dir)}
    command = [sys.executable, "-m", "cli", "replay", "--from", WINDOW["from"], "--to"]
    command += [WINDOW["to"], "--every", "6h", "--symbols", "BTC", "--horizon", "6"]
    command += ["--forecaster", forecaster, "--no-progress"]
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    start, end = pd.Timestamp(WINDOW["from"]), pd.Timestamp(WINDOW["to"])
    return window_accuracy(Ledger.open(url), "1h", start, end)


@pytest.fixture
def settings(make_settings, tmp_path: Path):
    """A ledger, scratch ledgers under tmp_path, small limits."""
    return make_settings(
        ledger_url=f"sqlite:///{tmp_path / 'ledger.db'}",
        backtest_dir=tmp_path / "jobs",
        backtest_max_concurrent=1,
        backtest_max_origins=20,
    )


@pytest.mark.parametrize("forecaster", ["drift", "kronos"])
async def test_a_job_matches_the_cli_replay_of_its_window(
    settings, core, tmp_path: Path, ohlcv_dir: Path, tiny_checkpoint, forecaster: str
) -> None:
    queued: list[str] = []

    async def enqueue(job_id: str, _base: str) -> None:
        queued.append(job_id)

    services = build_services(settings, LocalRunnerClient(core), enqueue=enqueue)
    body = BacktestRequest.model_validate(
        {"symbols": ["btc"], "horizon": 6, "forecaster": forecaster, **WINDOW}
    )
    submitted = await services.backtests.submit(body, "127.0.0.1", "")
    assert submitted["status"] == "queued" and queued == [submitted["id"]]
    assert submitted["progress"] == {"done": 0, "total": 5, "fraction": 0.0}
    done = await services.backtests.run(submitted["id"])
    assert done["status"] == "done", done["error"]
    assert done["progress"]["done"] == 5 and done["report"]["recorded"] == 5
    model = {"KRONOS_MODEL": str(tiny_checkpoint[0]), "KRONOS_TOKENIZER": str(tiny_checkpoint[1])}
    model |= {"KRONOS_SAMPLES": "4", "KRONOS_LOOKBACK": "64", "DEVICE": "cpu"}
    expected = cli_accuracy(tmp_path, ohlcv_dir, forecaster, model)
    assert done["scored"] == expected["scored"] > 0
    assert done["steps"] == expected["steps"] and done["confidence"] == expected["confidence"]
    [row] = done["leaderboard"]
    assert row["forecaster"] == forecaster and row["steps"] == sum(s["n"] for s in done["steps"])
    assert (await services.backtests.run(submitted["id"]))["status"] == "done"  # not rerun


@pytest.fixture
def api(settings, core) -> Iterator[TestClient]:
    """The app with backtests whose jobs are queued but never run."""

    async def enqueue(_job: str, _base: str) -> None:
        return None

    app = create_app(settings)
    provide(app, build_services(settings, LocalRunnerClient(core), enqueue=enqueue))
    with TestClient(app) as client:
        yield client


@pytest.mark.parametrize(
    ("change", "status", "names"),
    [
        ({"to": "2026-04-09T00:00:00Z"}, 422, "BACKTEST_MAX_ORIGINS=20"),
        ({"symbols": ["BTC", "ETH", "SOL", "XRP", "ADA"]}, 422, "BACKTEST_MAX_ORIGINS"),
        ({"forecaster": "oracle"}, 422, "forecaster"),
        ({"every": "90m"}, 422, "every"),
        ({"every": "soon"}, 422, "every"),
        ({"to": "2026-03-01T00:00:00Z"}, 422, "before"),
        ({"horizon": 1000}, 422, "horizon"),
        ({"interval": "3h"}, 422, "interval"),
        ({"symbols": ["NOPE"]}, 404, "NOPE"),
        ({"symbols": []}, 422, "symbols"),
    ],
)
def test_bad_backtests_are_a_clear_4xx(api: TestClient, change: dict, status: int, names: str):
    answer = api.post("/api/backtests", json={"symbols": ["BTC"], **WINDOW, **change})
    assert answer.status_code == status, answer.text
    assert names in answer.json()["message"]


def test_concurrent_jobs_are_bounded_and_unknown_jobs_404(api: TestClient) -> None:
    first = api.post("/api/backtests", json={"symbols": ["BTC"], **WINDOW})
    assert first.status_code == 202 and first.json()["status"] == "queued"
    second = api.post("/api/backtests", json={"symbols": ["BTC"], **WINDOW})
    assert second.status_code == 429
    assert "BACKTEST_MAX_CONCURRENT=1" in second.json()["message"]
    assert api.get(f"/api/backtests/{first.json()['id']}").json()["status"] == "queued"
    assert api.get("/api/backtests/nothing").status_code == 404
