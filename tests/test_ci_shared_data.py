"""Under CI=true a missing shared data directory fails the run; outside CI it skips."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
NEEDS_SHARED = "tests/forecasting/test_baselines.py::test_on_shared_candles"


def run_pytest(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """pytest on one test that needs the shared data, pointed at a directory that is not there."""
    environ = {k: v for k, v in os.environ.items() if k != "CI"}
    environ |= {"KRONOS_SHARED_DIR": str(tmp_path / "no-such-shared"), **env}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", NEEDS_SHARED],
        cwd=REPO,
        env=environ,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_ci_fails_loudly_without_the_shared_data(tmp_path: Path) -> None:
    result = run_pytest(tmp_path, CI="true")
    assert result.returncode == pytest.ExitCode.USAGE_ERROR, result.stdout + result.stderr
    assert "CI=true but the shared data is missing" in result.stdout + result.stderr
    assert str(tmp_path / "no-such-shared") in result.stdout + result.stderr


def test_outside_ci_the_tests_skip(tmp_path: Path) -> None:
    result = run_pytest(tmp_path)
    assert result.returncode == pytest.ExitCode.OK, result.stdout + result.stderr
    assert "1 skipped" in result.stdout
