"""`kronos-forecast` --help lists the settings it reads; known failures are one line, exit 2."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from cli.envvars import field

REPO = Path(__file__).resolve().parents[2]
COMMANDS = ("predict", "backtest", "train", "finetune", "replay")


@pytest.mark.parametrize("command", COMMANDS)
def test_help_lists_the_settings_it_reads(command: str, run_cli) -> None:
    code, out, _ = run_cli(command, "--help")
    assert code == 0
    listed = re.findall(r"^  ([A-Z][A-Z0-9_]+)\s", out.split("environment variables read")[1], re.M)
    assert "MARKET_DATA_DIR" in listed or (command == "predict" and "MARKET_DATA_SOURCE" in listed)
    for name in listed:
        field(name.lower())  # every one is a settings field (KeyError otherwise)
    if command != "train":
        assert "KRONOS_MODEL" in listed


def _cli(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "cli", *args],
        cwd=REPO,
        env=os.environ | {"HF_HUB_OFFLINE": "1"} | env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_missing_model_is_one_line_and_exit_2(ohlcv_dir: Path, tmp_path: Path) -> None:
    missing = tmp_path / "no-such-checkpoint"
    done = _cli(
        "predict",
        "--symbol",
        "BTC",
        KRONOS_MODEL=str(missing),
        MARKET_DATA_SOURCE="files",
        MARKET_DATA_DIR=str(ohlcv_dir),
    )
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert str(missing) in done.stderr and "init-checkpoint" in done.stderr


def test_a_hub_id_not_cached_offline_is_one_line(ohlcv_dir: Path, tmp_path: Path) -> None:
    done = _cli(
        "predict",
        "--symbol",
        "BTC",
        KRONOS_MODEL="NeoQuasar/not-a-cached-model",
        HF_HOME=str(tmp_path / "hf"),
        MARKET_DATA_SOURCE="files",
        MARKET_DATA_DIR=str(ohlcv_dir),
    )
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    assert "NeoQuasar/not-a-cached-model" in done.stderr and "KRONOS_MODEL" in done.stderr


def test_unreachable_market_data_says_how_to_use_files(tmp_path: Path) -> None:
    done = _cli(
        "predict",
        "--symbol",
        "BTC",
        MARKET_DATA_SOURCE="live",
        COINGECKO_BASE_URL="http://127.0.0.1:9",  # the discard port: refused
        BINANCE_BASE_URL="http://127.0.0.1:9",
        MARKET_DATA_ATTEMPTS="1",
        KRONOS_MODEL=str(tmp_path / "never-loaded"),
    )
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert "market data unavailable from live" in done.stderr
    assert "MARKET_DATA_SOURCE=files" in done.stderr


def test_commands_without_a_model_do_not_import_torch() -> None:
    code = (
        "import sys\nfrom cli import main\n"
        "for argv in (['predict', '--help'], ['replay', '--help'], ['--help']):\n"
        "    try:\n        main(argv)\n    except SystemExit:\n        pass\n"
        "print('torch' in sys.modules, file=sys.stderr)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert done.stderr.strip().splitlines()[-1] == "False"
