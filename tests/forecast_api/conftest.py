"""Fixtures of the forecast_api tests: settings on the shared candles, tiny checkpoints."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from data_sources import MarketDataSettings
from forecast_api.settings import ServiceSettings
from kronos_runner.runner import ModelSpec, RunnerCore
from tests.forecast_api.api_helpers import LocalRunnerClient, client_for


@pytest.fixture(scope="session")
def tiny_checkpoint(reference_dir: Path) -> tuple[Path, Path]:
    """(model dir, tokenizer dir) of the tiny reference checkpoints (save_pretrained layout)."""
    return reference_dir / "tiny-model", reference_dir / "tiny-tokenizer"


@pytest.fixture
def make_settings(ohlcv_dir: Path, tiny_checkpoint: tuple[Path, Path]):
    """Settings on the files source and the tiny checkpoint; keyword overrides apply."""

    def make(**overrides: object) -> ServiceSettings:
        values: dict[str, object] = {
            "kronos_model": str(tiny_checkpoint[0]),
            "kronos_tokenizer": str(tiny_checkpoint[1]),
            "device": "cpu",
            "kronos_samples": 4,
            "kronos_lookback": 64,
            "ledger_url": "",  # tests that want a ledger pass their own
            "market": MarketDataSettings(
                _env_file=None, market_data_source="files", market_data_dir=ohlcv_dir
            ),
        }
        values.update(overrides)
        return ServiceSettings(_env_file=None, **values)

    return make


@pytest.fixture(scope="module")
def core(tiny_checkpoint: tuple[Path, Path]) -> RunnerCore:
    """The runner core on the tiny checkpoint (cpu)."""
    return RunnerCore.load(ModelSpec(*tiny_checkpoint, device="cpu"))


@pytest.fixture
def client(make_settings, core: RunnerCore) -> Iterator[TestClient]:
    """The app on the files source and the tiny checkpoint."""
    with client_for(make_settings(), LocalRunnerClient(core)) as c:
        yield c
