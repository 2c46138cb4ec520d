"""Untrained weights end to end: a checkpoint from `kronos-forecast init-checkpoint` served by a
real `bentoml serve` labels every forecast `trainedWeights: false`, `/health` says so, and the
dashboard shows its banner."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.dashboard.browser import open_dashboard, visible_badge, wait_for
from tests.test_service_e2e import serve

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def untrained_server(
    ohlcv_dir: Path, tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config
) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("untrained")
    command = [sys.executable, "-m", "cli", "init-checkpoint", "--size", "mini"]
    subprocess.run([*command, "--out", str(folder / "ckpt")], check=True, cwd=pytestconfig.rootpath)
    env = {
        "KRONOS_MODEL": str(folder / "ckpt" / "model"),
        "KRONOS_TOKENIZER": str(folder / "ckpt" / "tokenizer"),
        "KRONOS_SAMPLES": "4",
        "KRONOS_LOOKBACK": "64",
        "MARKET_DATA_SOURCE": "files",
        "MARKET_DATA_DIR": str(ohlcv_dir),
        "PYTHONPATH": str(pytestconfig.rootpath),
    }
    yield from serve(env, folder / "server.log", pytestconfig.rootpath)


def test_untrained_weights_are_labelled_everywhere(untrained_server: str, browser: Any) -> None:
    params = {"symbol": "BTC", "horizon": 2, "seed": 1}
    prediction = httpx.get(f"{untrained_server}/api/predict", params=params, timeout=120).json()[
        "prediction"
    ]
    assert prediction["model"] == "kronos" and prediction["trainedWeights"] is False
    body = {"symbols": ["ETH"], "horizon": 2}
    batch = httpx.post(f"{untrained_server}/api/predict/batch", json=body, timeout=120).json()
    assert batch["results"][0]["data"]["prediction"]["trainedWeights"] is False
    model = httpx.get(f"{untrained_server}/health").json()["model"]
    assert model["state"] == "loaded" and model["trainedWeights"] is False

    open_dashboard(browser, untrained_server, "BTC")
    banner = wait_for(
        browser,
        "!document.getElementById('untrained-banner').hidden && "
        "document.getElementById('untrained-banner')",
    )
    assert "Untrained weights" in banner.text
    assert visible_badge(browser, "untrained").startswith("Untrained weights")
