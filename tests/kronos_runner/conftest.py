"""Fixtures for the kronos_runner tests: the copied reference fixtures and tiny checkpoints."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import torch

from kronos_runner.model import Kronos
from kronos_runner.pipeline import KronosPipeline
from kronos_runner.runner import ModelSpec, RunnerCore
from kronos_runner.tokenizer import KronosTokenizer

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "kronos_reference"


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    """tests/fixtures/kronos_reference (copied from ../shared/kronos-reference)."""
    return FIXTURES


@pytest.fixture(scope="session")
def official() -> dict:
    """official_checkpoints.json: config, parameter count, keys/shapes/dtypes per checkpoint."""
    return json.loads((FIXTURES / "official_checkpoints.json").read_text())


@pytest.fixture(scope="session")
def tiny_model() -> Kronos:
    return Kronos.from_pretrained(FIXTURES / "tiny-model")


@pytest.fixture(scope="session")
def tiny_tokenizer() -> KronosTokenizer:
    return KronosTokenizer.from_pretrained(FIXTURES / "tiny-tokenizer")


@pytest.fixture(scope="session")
def candles() -> pd.DataFrame:
    """72 hourly candles with timestamp, OHLCV and amount."""
    return pd.read_csv(FIXTURES / "candles.csv")


@pytest.fixture()
def pipeline(tiny_model: Kronos, tiny_tokenizer: KronosTokenizer) -> KronosPipeline:
    """A CPU pipeline over the tiny reference checkpoints (max_context 512)."""
    return KronosPipeline.from_pretrained(tiny_model, tiny_tokenizer, device="cpu")


@pytest.fixture()
def small_pipeline(tiny_model: Kronos, tiny_tokenizer: KronosTokenizer) -> KronosPipeline:
    """The tiny pipeline with max_context 40, so horizons slide its window."""
    return KronosPipeline.from_pretrained(tiny_model, tiny_tokenizer, device="cpu", max_context=40)


@pytest.fixture(autouse=True)
def _deterministic() -> None:
    torch.manual_seed(0)


@pytest.fixture(scope="module")
def core() -> RunnerCore:
    """The runner core on the tiny reference checkpoint (cpu)."""
    return RunnerCore.load(
        ModelSpec(FIXTURES / "tiny-model", FIXTURES / "tiny-tokenizer", device="cpu")
    )
