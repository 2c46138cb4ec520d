"""`kronos-forecast replay` into a SQLite ledger, then the track record the API serves from it."""

from __future__ import annotations

from pathlib import Path

import pytest

from forecast_api.settings import ServiceSettings
from kronos_runner.runner import ModelSpec, RunnerCore
from tests.forecast_api.api_helpers import LocalRunnerClient, assert_error, client_for
from tests.local_server import replay_ledger

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def replayed(
    ohlcv_dir: Path, tiny_model_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> str:
    """A ledger URL holding a short replay of BTC and ETH with the tiny checkpoint."""
    url = f"sqlite:///{tmp_path_factory.mktemp('ledger') / 'ledger.db'}"
    assert "recorded=0" not in replay_ledger(url, ohlcv_dir, tiny_model_env)
    assert "recorded=0" in replay_ledger(url, ohlcv_dir, tiny_model_env)  # resumed: nothing new
    return url


def test_replayed_track_record_is_served(
    replayed: str, make_settings, tiny_checkpoint: tuple[Path, Path]
) -> None:
    settings: ServiceSettings = make_settings(ledger_url=replayed)
    core = RunnerCore.load(ModelSpec(*tiny_checkpoint, device="cpu"))
    with client_for(settings, LocalRunnerClient(core)) as client:
        body = client.get("/api/accuracy", params={"symbol": "ALL", "days": 30}).json()
        assert body["symbol"] == "ALL" and body["scored"] > 0
        first = body["steps"][0]
        assert first["hour"] == 1 and first["n"] > 0 and first["crpsNaive"] is not None
        assert 0 <= first["coverage80Raw"] <= 1
        btc = client.get("/api/accuracy", params={"symbol": "btc", "days": 30}).json()
        assert btc["symbol"] == "BTC" and 0 < btc["scored"] <= body["scored"]
        page = client.get("/api/forecasts", params={"symbol": "ETH", "limit": 2}).json()
        assert len(page["items"]) == 2 and page["nextCursor"]
        rest = client.get(
            "/api/forecasts", params={"symbol": "ETH", "limit": 50, "cursor": page["nextCursor"]}
        ).json()
        origins = [f["origin"] for f in page["items"] + rest["items"]]
        assert origins == sorted(origins, reverse=True) and len(set(origins)) == len(origins)
        assert_error(
            client.get("/api/accuracy", params={"interval": "2h"}), 422, "invalid_parameters"
        )
        assert_error(client.get("/api/forecasts", params={"symbol": "NOPE"}), 404, "unknown_symbol")
