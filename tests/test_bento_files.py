"""What `bentoml build` puts in the bento: bentofile.yaml's patterns, applied as bentoml does."""

from __future__ import annotations

import os
import subprocess
from fnmatch import fnmatch
from pathlib import Path

import pytest
import yaml

tomllib = pytest.importorskip("tomllib")  # Python 3.11+
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # bentoml's pathspec use
REPO = Path(__file__).resolve().parents[1]
ROOT_FILES = {"service.py", "pyproject.toml", "README.md", "LICENSE", ".env.example"}


def bento_files(ctx: Path) -> set[str]:
    """The files `bentoml build` would copy from `ctx` (its own walk and BentoPathSpec)."""
    from bentoml._internal.bento.build_config import BentoPathSpec

    config = yaml.safe_load((REPO / "bentofile.yaml").read_text())
    specs = BentoPathSpec(config["include"], config.get("exclude") or [], str(ctx))
    found = set()
    for root, _, files in os.walk(ctx):
        for name in files:
            path = os.path.join(os.path.relpath(root, ctx), name).replace(os.sep, "/")
            if specs.includes(path):
                found.add(os.path.normpath(path))
    return found


def package_dirs() -> list[str]:
    """The packages pyproject.toml installs (`kronos_runner*` -> `kronos_runner`)."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    return [p.rstrip("*") for p in project["tool"]["setuptools"]["packages"]["find"]["include"]]


def package_data() -> list[str]:
    """The data files pyproject.toml installs with the packages, as globs from the root."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    data = project["tool"]["setuptools"].get("package-data", {})
    return [
        f"{package.replace('.', '/')}/{glob}" for package, globs in data.items() for glob in globs
    ]


def test_the_bento_holds_the_packages_and_root_files_only() -> None:
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.split()
    expected = {f for f in tracked if f in ROOT_FILES}
    expected |= {f for f in tracked if f.endswith(".py") and f.split("/")[0] in package_dirs()}
    expected |= {f for f in tracked if any(fnmatch(f, glob) for glob in package_data())}
    assert "service.py" in expected and "data_sources/files.py" in expected
    assert bento_files(REPO) == expected  # untracked caches, tests, benchmarks... left out


@pytest.mark.parametrize(
    "stray",
    [
        ".pytest_cache/README.md",
        ".pytest_cache/v/cache/nodeids",
        "tests/fixtures/tiny-model/README.md",
        "benchmarks/bench_data_paths.py",
        "deploy/bentocloud.yaml",
        "docs/README.md",
        "checkpoints/model/README.md",
        "checkpoints/model.safetensors",
        "outputs/metrics.json",
        "data_sources/__pycache__/files.cpython-311.pyc",
        "data_sources/notes/README.md",
        "kronos_runner/tests/service.py",
        ".venv/lib/site.py",
        ".git/config",
        "forecasting/data.csv",
    ],
)
def test_stray_files_stay_out(tmp_path: Path, stray: str) -> None:
    for path in (stray, "service.py", "README.md", "data_sources/files.py"):
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text("x")
    assert bento_files(tmp_path) == {"service.py", "README.md", "data_sources/files.py"}
