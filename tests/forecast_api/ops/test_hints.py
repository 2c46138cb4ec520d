"""Errors that point to the fix: unreachable market data names the upstream and the files
source; a model that cannot load names its id and how to use a local checkpoint."""

from __future__ import annotations

from pathlib import Path

from data_sources import MarketDataSettings
from kronos_runner.runner import ModelSpec, RunnerCore
from tests.forecast_api.api_helpers import LocalRunnerClient, client_for
from tests.local_server import free_port


def test_unreachable_market_data_says_which_source_and_how_to_use_files(
    make_settings, core: RunnerCore
) -> None:
    closed = f"http://127.0.0.1:{free_port()}"  # nothing listens there: connection refused
    market = MarketDataSettings(
        _env_file=None,
        binance_base_url=closed,
        coingecko_base_url=closed,
        market_data_attempts=1,
        market_data_backoff_s=0,
    )
    with client_for(make_settings(market=market), LocalRunnerClient(core)) as client:
        response = client.get("/api/predict", params={"symbol": "BTC"})
        assert response.status_code == 503
        message = response.json()["message"]
        assert "from " in message and "MARKET_DATA_SOURCE=files MARKET_DATA_DIR=" in message
        source = client.get("/health").json()["dataSource"]
    assert source["state"] == "degraded" and "MARKET_DATA_SOURCE=files" in source["hint"]


def test_files_errors_and_a_healthy_source_carry_no_files_hint(make_settings, core) -> None:
    with client_for(make_settings(), LocalRunnerClient(core)) as client:
        assert client.get("/api/predict", params={"symbol": "BTC", "seed": 1}).status_code == 200
        assert client.get("/health").json()["dataSource"]["hint"] is None


def test_a_model_that_cannot_load_names_its_id_and_the_local_way(
    make_settings, tmp_path: Path
) -> None:
    missing = tmp_path / "no-such-model"
    broken = RunnerCore.load(ModelSpec(missing, missing, device="cpu"))
    settings = make_settings(kronos_model=str(missing))
    with client_for(settings, LocalRunnerClient(broken)) as client:
        model = client.get("/health").json()["model"]
    assert model["state"] == "fallback" and model["runnerState"] == "failed"
    assert f"KRONOS_MODEL={missing}" in model["hint"]
    assert "init-checkpoint" in model["hint"] and "KRONOS_MODEL=/path" in model["hint"]
