"""`prediction.trainedWeights` and `/health`'s `model.trainedWeights`: false for a checkpoint
marked untrained (init-checkpoint), true for an unmarked one (the tiny reference checkpoint),
null for a forecast no model weights produced (the fallback)."""

from __future__ import annotations

from pathlib import Path

from kronos_runner.random_init import init_checkpoint
from kronos_runner.runner import ModelSpec, RunnerCore
from tests.forecast_api.api_helpers import LocalRunnerClient, client_for


def labels(client) -> tuple[bool | None, bool | None, bool | None]:
    """(predict's, batch's, /health's) trainedWeights."""
    one = client.get("/api/predict", params={"symbol": "BTC", "horizon": 2, "seed": 1}).json()
    many = client.post("/api/predict/batch", json={"symbols": ["ETH"], "horizon": 2}).json()
    health = client.get("/health").json()["model"]
    return (
        one["prediction"]["trainedWeights"],
        many["results"][0]["data"]["prediction"]["trainedWeights"],
        health["trainedWeights"],
    )


def test_an_unmarked_checkpoint_counts_as_trained(client) -> None:
    assert labels(client) == (True, True, True)


def test_an_init_checkpoint_is_labelled_untrained(make_settings, tmp_path: Path) -> None:
    model, tokenizer = init_checkpoint("mini", tmp_path / "ckpt")
    core = RunnerCore.load(ModelSpec(model, tokenizer, device="cpu"))
    settings = make_settings(kronos_model=str(model), kronos_tokenizer=str(tokenizer))
    with client_for(settings, LocalRunnerClient(core)) as client:
        assert labels(client) == (False, False, False)


def test_a_fallback_forecast_does_not_claim_trained_weights(make_settings, tmp_path: Path) -> None:
    settings = make_settings(kronos_model=str(tmp_path / "nothing"))
    core = RunnerCore.load(ModelSpec(settings.kronos_model, settings.kronos_tokenizer))
    with client_for(settings, LocalRunnerClient(core)) as client:
        one = client.get("/api/predict", params={"symbol": "BTC", "horizon": 2}).json()
        assert one["prediction"]["model"] == "fallback"
        assert "trainedWeights" in one["prediction"]
        assert labels(client) == (None, None, None)
