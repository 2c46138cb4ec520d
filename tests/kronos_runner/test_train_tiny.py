"""Training a tiny Kronos for a few steps on a slice of the shared candles."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from data_sources.candle_files import read_candle_file
from forecasting.calibration import BandCalibration
from kronos_runner.backtest import main as backtest_main
from kronos_runner.pipeline import KronosPipeline
from kronos_runner.train import main

TINY_TOKENIZER = {"d_model": 16, "n_heads": 2, "ff_dim": 32, "n_enc_layers": 2,
                  "n_dec_layers": 2, "s1_bits": 4, "s2_bits": 4}  # fmt: skip
TINY_MODEL = {"d_model": 16, "n_heads": 2, "ff_dim": 32, "n_layers": 2, "s1_bits": 4, "s2_bits": 4}


def _args(ohlcv_dir: Path, out: Path, *extra: str) -> list[str]:
    return [
        "--data", str(ohlcv_dir), "--symbols", "BTC,ETH", "--train-start", "2025-06-01",
        "--train-end", "2025-08-01", "--val-end", "2025-08-15", "--lookback", "32",
        "--horizon", "8", "--tokenizer-steps", "24", "--predictor-steps", "24",
        "--batch-size", "8", "--eval-every", "8", "--save-every", "8", "--val-windows", "16",
        "--tokenizer-config", json.dumps(TINY_TOKENIZER), "--model-config", json.dumps(TINY_MODEL),
        "--device", "cpu", "--threads", "1", "--seed", "3", "--out", str(out), *extra,
    ]  # fmt: skip


@pytest.fixture(scope="module")
def trained(ohlcv_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("tiny")
    return out, main(_args(ohlcv_dir, out))


def test_training_lowers_the_validation_loss(trained: tuple[Path, dict]) -> None:
    _, summary = trained
    for stage in ("tokenizer", "predictor"):
        history = summary["stages"][stage]["history"]
        assert history[0]["step"] == 0 and history[-1]["step"] == 24
        assert summary["stages"][stage]["best_val_loss"] < history[0]["val_loss"]


def test_checkpoint_loads_into_the_pipeline(trained: tuple[Path, dict], ohlcv_dir: Path) -> None:
    out, _ = trained
    pipe = KronosPipeline.from_pretrained(out / "model", out / "tokenizer", device="cpu")
    series = read_candle_file(ohlcv_dir / "BTC_1h.csv").iloc[-64:]
    (forecast,) = pipe.predict(series, 8, samples=3, seed=0)
    assert forecast.paths.shape == (3, 8, 6)
    assert torch.isfinite(torch.from_numpy(forecast.paths)).all()


def test_interrupted_and_resumed_run_matches_the_uninterrupted_one(
    trained: tuple[Path, dict], ohlcv_dir: Path, tmp_path: Path
) -> None:
    out, _ = trained
    partial = main(_args(ohlcv_dir, tmp_path, "--stop-after", "12"))
    assert partial["stages"]["tokenizer"]["step"] == 12 and "predictor" not in partial["stages"]
    resumed = main(_args(ohlcv_dir, tmp_path, "--resume"))
    assert resumed["stages"]["predictor"]["done"]
    for name in ("tokenizer", "model"):
        expected = load_file(out / name / "model.safetensors")
        got = load_file(tmp_path / name / "model.safetensors")
        for key, value in expected.items():
            torch.testing.assert_close(got[key], value, msg=f"{name}.{key}")


def test_fine_tuning_a_local_checkpoint(
    trained: tuple[Path, dict], ohlcv_dir: Path, tmp_path: Path
) -> None:
    out, _ = trained
    summary = main(
        _args(ohlcv_dir, tmp_path, "--stages", "predictor", "--predictor-steps", "8",
              "--init-tokenizer", str(out / "tokenizer"), "--init-model", str(out / "model"))
    )  # fmt: skip
    history = summary["stages"]["predictor"]["history"]
    # Fine-tuning starts from the trained weights, not from scratch.
    assert history[0]["val_loss"] == pytest.approx(
        trained[1]["stages"]["predictor"]["best_val_loss"], rel=1e-5
    )
    assert (tmp_path / "model" / "config.json").exists()


def test_backtest_of_the_trained_checkpoint(
    trained: tuple[Path, dict], ohlcv_dir: Path, tmp_path: Path
) -> None:
    out, _ = trained
    backtest_main(
        ["--data", str(ohlcv_dir), "--symbols", "BTC", "--forecasters", "kronos,naive",
         "--model", str(out / "model"), "--tokenizer", str(out / "tokenizer"), "--device", "cpu",
         "--start", "2026-03-01", "--calibrate-until", "2026-03-20", "--stride", "48",
         "--lookback", "32", "--horizon", "8", "--samples", "4", "--report-steps", "1,8",
         "--trend-threshold", "-1", "--out", str(tmp_path)]
    )  # fmt: skip
    report = json.loads((tmp_path / "metrics.json").read_text())
    kronos = [r for r in report["summary"] if r["forecaster"] == "kronos"]
    assert [r["step"] for r in kronos] == [1, 8]
    assert all(0 <= r["cov80_cal"] <= 1 and r["crps"] > 0 for r in kronos)
    calibration = BandCalibration.load(tmp_path / "calibration_kronos.json")
    assert calibration.levels == (0.8, 0.9) and calibration.horizon == 8


def test_fine_tuning_checkpoints_in_the_official_layout(
    ohlcv_dir: Path, reference_dir: Path, tmp_path: Path
) -> None:
    summary = main(
        _args(ohlcv_dir, tmp_path, "--tokenizer-steps", "16", "--predictor-steps", "16",
              "--tokenizer-lr", "1e-3", "--predictor-lr", "1e-3",
              "--init-tokenizer", str(reference_dir / "tiny-tokenizer"),
              "--init-model", str(reference_dir / "tiny-model"))
    )  # fmt: skip
    for stage in ("tokenizer", "predictor"):
        result = summary["stages"][stage]
        assert result["done"] and result["best_val_loss"] < result["history"][0]["val_loss"]
    official = json.loads((reference_dir / "tiny-model" / "config.json").read_text())
    assert json.loads((tmp_path / "model" / "config.json").read_text()) == official
    KronosPipeline.from_pretrained(tmp_path / "model", tmp_path / "tokenizer", device="cpu")
