"""`kronos-forecast finetune` on the tiny checkpoint: a whole checkpoint, marked trained, with its
provenance, served as a challenger; early stopping stops."""

from __future__ import annotations

from pathlib import Path

from kronos_runner.model import Kronos
from kronos_runner.runner import ModelSpec, RunnerCore
from kronos_runner.settings import Challenger
from kronos_runner.tokenizer import KronosTokenizer
from kronos_runner.wire import RunnerItem, SamplingParams
from tests.cli.conftest import TINY_MODEL, TINY_TOKENIZER

SMALL_RUN = (
    "--symbols", "BTC,ETH", "--train-start", "2026-02-01", "--lookback", "32", "--horizon", "8",
    "--batch-size", "4", "--val-days", "5", "--val-windows", "8", "--eval-every", "2",
    "--threads", "1",
)  # fmt: skip


def test_finetune_writes_a_checkpoint_served_as_a_challenger(
    env, run_json, tmp_path: Path, candles
) -> None:
    out = tmp_path / "ft"
    summary = run_json("finetune", "--out", str(out), "--predictor-steps", "4", *SMALL_RUN)
    stage = summary["stages"]["predictor"]
    assert list(summary["stages"]) == ["predictor"] and stage["step"] == 4
    model = Kronos.from_pretrained(out / "model")
    assert model.trained is True
    record = model.provenance
    assert record["base"] == str(TINY_MODEL) and record["stage"] == "predictor"
    assert record["data"]["symbols"] == ["BTC", "ETH"] and record["data"]["trainEnd"]
    assert record["valLoss"] == stage["best_val_loss"]
    assert KronosTokenizer.from_pretrained(out / "tokenizer").config == (
        KronosTokenizer.from_pretrained(TINY_TOKENIZER).config
    )

    core = RunnerCore.load(
        ModelSpec(
            TINY_MODEL, TINY_TOKENIZER, device="cpu", challengers=(Challenger.parse(f"ft={out}"),)
        )
    )
    (state,) = core.status().challengers
    assert state.loaded and state.trainedWeights and state.tokenizerId == str(out / "tokenizer")
    assert state.provenance == record
    item = RunnerItem.from_frame(candles, 2, SamplingParams(samples=2), 3)
    (result,) = core.forecast([item.model_copy(update={"model": "ft"})])
    assert result.ok and result.trained_weights is True and len(result.timestamps) == 2


def test_early_stopping_stops(env, run_json, tmp_path: Path) -> None:
    # a learning rate far too high: validation loss never beats the base
    summary = run_json(
        "finetune", "--out", str(tmp_path / "ft"), "--predictor-steps", "40",
        "--predictor-lr", "0.5", "--patience", "2", *SMALL_RUN,
    )  # fmt: skip
    stage = summary["stages"]["predictor"]
    assert stage["stopped_early"] is True and stage["step"] < 40
    evaluations = [h for h in stage["history"] if h["step"] > 0]
    assert len(evaluations) == 2
    assert all(h["val_loss"] >= stage["history"][0]["val_loss"] for h in evaluations)
    assert Kronos.from_pretrained(tmp_path / "ft" / "model").provenance["steps"] == 0
