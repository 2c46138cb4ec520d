"""Threads are set once per process, at its entry point; library calls leave them alone."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from kronos_runner.pipeline import KronosPipeline
from kronos_runner.threads import DEFAULT_THREADS, set_process_threads

REPO_ROOT = Path(__file__).resolve().parents[2]
THREADS = 5  # differs from the default and from the CPUs of this project's machines


def _threads_after(module: str, argv: list[str]) -> int:
    """Run ``module.main(argv)`` in a fresh interpreter -> torch.get_num_threads() afterwards."""
    code = (
        f"import sys, torch; from {module} import main; main({argv!r}); "
        "print('THREADS', torch.get_num_threads())"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, env=env, capture_output=True, text=True,
        timeout=300, check=True,
    )  # fmt: skip
    line = next(x for x in out.stdout.splitlines() if x.startswith("THREADS"))
    return int(line.split()[1])


def test_backtest_honours_threads(ohlcv_dir: Path, fixtures_dir: Path, tmp_path: Path) -> None:
    argv = [
        "--data", str(ohlcv_dir), "--symbols", "BTC", "--forecasters", "kronos",
        "--model", str(fixtures_dir / "tiny-model"), "--tokenizer",
        str(fixtures_dir / "tiny-tokenizer"), "--device", "cpu", "--threads", str(THREADS),
        "--start", "2026-03-01", "--stride", "240", "--lookback", "32", "--horizon", "4",
        "--samples", "2", "--report-steps", "1,4", "--trend-threshold", "-1",
        "--out", str(tmp_path),
    ]  # fmt: skip
    assert os.cpu_count() != THREADS != DEFAULT_THREADS
    assert _threads_after("kronos_runner.backtest", argv) == THREADS


def test_train_honours_threads(ohlcv_dir: Path, tmp_path: Path) -> None:
    tiny = {"d_model": 16, "n_heads": 2, "ff_dim": 32, "n_enc_layers": 2, "n_dec_layers": 2,
            "s1_bits": 4, "s2_bits": 4}  # fmt: skip
    argv = [
        "--data", str(ohlcv_dir), "--symbols", "BTC", "--train-start", "2025-06-01",
        "--train-end", "2025-06-10", "--val-end", "2025-06-12", "--lookback", "16",
        "--horizon", "4", "--stages", "tokenizer", "--tokenizer-steps", "1",
        "--batch-size", "4", "--eval-every", "1", "--save-every", "1", "--val-windows", "2",
        "--tokenizer-config", json.dumps(tiny), "--device", "cpu", "--threads", str(THREADS),
        "--out", str(tmp_path),
    ]  # fmt: skip
    assert _threads_after("kronos_runner.train", argv) == THREADS


def test_pipeline_load_and_predict_leave_threads_alone(tiny_model, tiny_tokenizer, candles) -> None:
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(3)
        pipe = KronosPipeline.from_pretrained(tiny_model, tiny_tokenizer, device="cpu")
        pipe.predict(candles, 4, samples=2, seed=0)
        assert torch.get_num_threads() == 3
    finally:
        torch.set_num_threads(before)


def test_set_process_threads_defaults_and_rejects() -> None:
    before = torch.get_num_threads()
    try:
        assert set_process_threads() == DEFAULT_THREADS == torch.get_num_threads()
        assert set_process_threads(2) == 2 == torch.get_num_threads()
        with pytest.raises(ValueError, match="threads must be >= 1"):
            set_process_threads(0)
    finally:
        torch.set_num_threads(before)
