"""The runner's GPU request: from DEVICE where the service is served, not where it was built."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from forecast_api.settings import ServiceSettings
from service import runner_resources

REPO = Path(__file__).resolve().parents[1]
RESOURCES = "{n: d.on.config.get('resources') for n, d in svc.dependencies.items()}"


@pytest.mark.parametrize(
    ("device", "gpus", "expected"),
    [
        ("cpu", 1, {}),
        ("cuda:0", 0, {"gpu": 1}),
        ("cuda:1", 2, {"gpu": 1}),
        ("auto", 0, {}),
        ("auto", 1, {"gpu": 1}),
    ],
)
def test_runner_asks_for_a_gpu_when_device_or_host_says_so(
    device: str, gpus: int, expected: dict
) -> None:
    settings = ServiceSettings(_env_file=None, device=device)
    assert runner_resources(settings, gpus=lambda: gpus) == expected


def python(code: str, env: dict[str, str], cwd: Path) -> str:
    """The last line `code` prints in a fresh interpreter with `env` added."""
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=cwd,
        env={**os.environ, "BENTOML_DO_NOT_TRACK": "true", **env},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.strip().splitlines()[-1]


@pytest.mark.e2e
def test_a_bento_built_without_a_gpu_serves_on_one_when_device_says_so(tmp_path: Path) -> None:
    if shutil.which("uv") is None:
        pytest.skip("bentoml build needs the uv tool (pip install -e '.[dev]' installs it)")
    home = {"BENTOML_HOME": str(tmp_path), "PYTHONPATH": ""}
    built = subprocess.run(
        [sys.executable, "-m", "bentoml", "build", "-o", "tag"],
        cwd=REPO,
        env={**os.environ, "BENTOML_DO_NOT_TRACK": "true", **home, "DEVICE": "cpu"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert built.returncode == 0, built.stderr[-3000:]
    tag = built.stdout.strip().splitlines()[-1].removeprefix("__tag__:")
    load = f"import bentoml, json; svc = bentoml.load({tag!r}); print(json.dumps({RESOURCES}))"
    for device, expected in [("cuda:0", {"gpu": 1}), ("cpu", {})]:
        served = json.loads(python(load, {**home, "DEVICE": device}, cwd=tmp_path))
        assert served == {"runner": expected}, device


def test_an_nvml_failure_counts_as_no_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    from bentoml._internal.resource import NvidiaGpuResource

    import service

    def broken() -> list[int]:
        raise RuntimeError("NVML: unknown error")

    monkeypatch.setattr(NvidiaGpuResource, "from_system", classmethod(lambda cls: broken()))
    assert service.visible_gpus() == 0
    assert runner_resources(ServiceSettings(_env_file=None, device="auto")) == {}
