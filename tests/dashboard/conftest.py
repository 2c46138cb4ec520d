"""Fixtures of the dashboard's browser tests: one Chromium and one real server per module."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.dashboard.browser import CHROMEDRIVER, CHROMIUM, chromium
from tests.local_server import replay_ledger
from tests.test_service_e2e import broken_server, serve

__all__ = ["broken_server"]  # the fallback server (model path missing), BTC candles only

# Assets whose candle files the tests change (a new candle, a vanished file); the others are links.
MUTABLE = ("ETH", "SOL")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Debian Chromium (apt-get install chromium chromium-driver)."""
    pytest.importorskip("selenium", reason="pip install selenium (in the dev extra)")
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        pytest.skip(f"needs {CHROMIUM} and {CHROMEDRIVER} (Debian chromium, chromium-driver)")
    with chromium() as driver:
        yield driver


@pytest.fixture(scope="module")
def candle_dir(ohlcv_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shared candles as links, with copies of the MUTABLE assets' files."""
    folder = tmp_path_factory.mktemp("dash-candles")
    for path in sorted(ohlcv_dir.glob("*_1h.csv")):
        if path.name.split("_")[0] in MUTABLE:
            shutil.copyfile(path, folder / path.name)
        else:
            (folder / path.name).symlink_to(path)
    return folder


@pytest.fixture(scope="module")
def dash_server(
    candle_dir: Path,
    tiny_model_env: dict[str, str],
    tmp_path_factory: pytest.TempPathFactory,
    pytestconfig: pytest.Config,
) -> Iterator[str]:
    """`bentoml serve` on the files source (candle_dir) with the tiny checkpoint and a ledger
    holding a short replay of BTC and ETH."""
    ledger = f"sqlite:///{tmp_path_factory.mktemp('dash-ledger') / 'ledger.db'}"
    replay_ledger(ledger, candle_dir, tiny_model_env)
    env = {
        "LEDGER_URL": ledger,
        **tiny_model_env,
        "MARKET_DATA_SOURCE": "files",
        "MARKET_DATA_DIR": str(candle_dir),
        "PYTHONPATH": str(pytestconfig.rootpath),
    }
    log = tmp_path_factory.mktemp("dash-serve") / "server.log"
    yield from serve(env, log, pytestconfig.rootpath)
