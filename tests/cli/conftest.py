"""Fixtures for the `kronos-forecast` tests: the environment of the tiny checkpoint on files."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pandas as pd
import pytest

from cli import main
from forecast_api.settings import get_settings
from tests.kronos_runner.conftest import FIXTURES

TINY_MODEL, TINY_TOKENIZER = FIXTURES / "tiny-model", FIXTURES / "tiny-tokenizer"


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, ohlcv_dir: Path) -> Iterator[pytest.MonkeyPatch]:
    """The tiny checkpoint on the CPU and the files source; settings re-read per test."""
    for name, value in {
        "KRONOS_MODEL": str(TINY_MODEL),
        "KRONOS_TOKENIZER": str(TINY_TOKENIZER),
        "DEVICE": "cpu",
        "MARKET_DATA_SOURCE": "files",
        "MARKET_DATA_DIR": str(ohlcv_dir),
        "KRONOS_LOOKBACK": "64",
        "KRONOS_SAMPLES": "4",
    }.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    yield monkeypatch
    get_settings.cache_clear()


@pytest.fixture
def run_cli(capsys: pytest.CaptureFixture) -> Callable[..., tuple[int, str, str]]:
    """Run `kronos-forecast ARGS` in this process: (exit status, stdout, stderr)."""

    def run(*args: str) -> tuple[int, str, str]:
        try:
            main(list(args))
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        out, err = capsys.readouterr()
        return code, out, err

    return run


@pytest.fixture
def run_json(run_cli) -> Callable[..., dict]:
    """Run a command with --json that must succeed; its parsed output."""

    def run(*args: str) -> dict:
        code, out, err = run_cli(*args, "--json")
        assert code == 0, err
        return json.loads(out)

    return run


@pytest.fixture(scope="session")
def candles() -> pd.DataFrame:
    """72 hourly candles with timestamp, OHLCV and amount (the reference fixture)."""
    return pd.read_csv(FIXTURES / "candles.csv")
