"""The layer contracts (pyproject's [tool.importlinter]) hold, and would catch a wrong import;
the API process's modules load without torch."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

PACKAGES = ("forecasting", "data_sources", "kronos_runner", "forecast_api", "dashboard", "ledger")
LINT_IMPORTS = shutil.which("lint-imports")
needs_linter = pytest.mark.skipif(LINT_IMPORTS is None, reason="import-linter not installed")


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    """Run import-linter on the tree at `root` with its pyproject.toml."""
    return subprocess.run(
        [LINT_IMPORTS, "--config", str(root / "pyproject.toml"), "--no-cache"],
        cwd=root,
        env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )


@needs_linter
def test_contracts_are_kept() -> None:
    result = lint_imports(REPO_ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@needs_linter
@pytest.mark.parametrize(
    ("module", "bad_import", "contract"),
    [
        ("forecasting/summary.py", "import torch", "torch-free"),
        ("forecast_api/http/routes.py", "import kronos_runner.pipeline", "never imports torch"),
        ("data_sources/files.py", "import forecast_api.http.schemas", "none of our other packages"),
        ("kronos_runner/train.py", "import forecast_api.settings", "nothing of the service"),
        ("ledger/scorer.py", "import torch", "ledger is torch-free"),
        (
            "forecast_api/ops/health.py",
            "import forecast_api.ledger_side.ledger_upkeep",
            "layers point down",
        ),
        (
            "forecast_api/forecasts/market.py",
            "import forecast_api.forecasts.predictions",
            "no import circle",
        ),
    ],
)
def test_a_wrong_import_breaks_a_contract(
    tmp_path: Path, module: str, bad_import: str, contract: str
) -> None:
    for package in PACKAGES:
        shutil.copytree(REPO_ROOT / package, tmp_path / package)
    shutil.copy(REPO_ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    target = tmp_path / module
    target.write_text(target.read_text() + f"\n{bad_import}  # noqa\n")
    result = lint_imports(tmp_path)
    assert result.returncode != 0
    broken = [line for line in result.stdout.splitlines() if line.endswith("BROKEN")]
    assert any(contract in line for line in broken), result.stdout


def test_api_process_modules_load_without_torch() -> None:
    code = "import sys, service; sys.exit('torch' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-2000:] or "service.py imported torch"
