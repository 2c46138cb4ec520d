"""Fixtures shared by every test package: the read-only shared data, a PostgreSQL server.

Without the shared data (`../shared`, or KRONOS_SHARED_DIR) the tests that need it skip; under
CI=true the run stops at once instead, with a non-zero exit, so CI never goes green without its
end-to-end tests.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.postgres_server import PostgresServer, server_binaries_installed

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DIR = Path(os.environ.get("KRONOS_SHARED_DIR", REPO_ROOT.parent / "shared"))
OHLCV_DIR = SHARED_DIR / "data" / "ohlcv"
REFERENCE_DIR = SHARED_DIR / "kronos-reference"

SHARED_MARKERS = (OHLCV_DIR / "BTC_1h.csv", REFERENCE_DIR / "official_checkpoints.json")

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("BENTOML_DO_NOT_TRACK", "true")


def in_ci() -> bool:
    """Whether the run is CI's (CI=true, as CI services set it)."""
    return os.environ.get("CI", "").lower() in ("true", "1", "yes")


def pytest_sessionstart(session: pytest.Session) -> None:
    """Under CI, stop the run (exit 4) when the shared data is missing instead of skipping."""
    missing = [str(path) for path in SHARED_MARKERS if not path.exists()]
    if missing and in_ci():
        pytest.exit(
            f"CI=true but the shared data is missing ({', '.join(missing)}): the end-to-end "
            f"tests would all skip. Put it at {SHARED_DIR} or set KRONOS_SHARED_DIR.",
            returncode=pytest.ExitCode.USAGE_ERROR,
        )


@pytest.fixture(scope="session")
def ohlcv_dir() -> Path:
    """The shared two years of hourly candles; skips the test when they are absent."""
    if not SHARED_MARKERS[0].exists():
        pytest.skip(f"shared candles not found at {OHLCV_DIR}")
    return OHLCV_DIR


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    """The shared Kronos reference facts (official configs, tiny checkpoints)."""
    if not SHARED_MARKERS[1].exists():
        pytest.skip(f"kronos reference facts not found at {REFERENCE_DIR}")
    return REFERENCE_DIR


@pytest.fixture(scope="session")
def tiny_model_env(reference_dir: Path) -> dict[str, str]:
    """Server environment for the tiny reference checkpoint on the CPU, 8 paths per forecast."""
    return {
        "KRONOS_MODEL": str(reference_dir / "tiny-model"),
        "KRONOS_TOKENIZER": str(reference_dir / "tiny-tokenizer"),
        "KRONOS_SAMPLES": "8",
        "DEVICE": "cpu",
    }


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A real PostgreSQL server for the session; skips when its binaries are absent."""
    if not server_binaries_installed():
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) not installed")
    try:
        server = PostgresServer()
    except KeyError:
        pytest.skip("running as root and there is no postgres user to run the server")
    server.init()
    server.start()
    yield server
    try:
        server.stop()
    finally:
        shutil.rmtree(server.root, ignore_errors=True)


@pytest.fixture
def pg_url(postgres: PostgresServer) -> str:
    """URL of a fresh database on the session's server."""
    return postgres.create_database()
