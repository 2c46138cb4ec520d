"""The sample deployment file parses as bentoml reads it and names both services of service.py."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]


def service_names() -> set[str]:
    """The `name=` of every `@bentoml.service(...)` in service.py (read, not imported)."""
    names = set()
    for node in ast.walk(ast.parse((REPO / "service.py").read_text())):
        if isinstance(node, ast.Call) and ast.unparse(node.func) == "bentoml.service":
            names |= {k.value.value for k in node.keywords if k.arg == "name"}
    return names


@pytest.fixture(scope="module")
def deployment() -> dict:
    return yaml.safe_load((REPO / "deploy" / "bentocloud.yaml").read_text())


def test_bentoml_reads_the_file(deployment: dict) -> None:
    from bentoml._internal.cloud.schemas.schemasv2 import CreateDeploymentSchema
    from bentoml._internal.utils.cattr import bentoml_cattr

    schema = bentoml_cattr.structure(deployment, CreateDeploymentSchema)
    assert (
        schema.bento.split(":")[0] == yaml.safe_load((REPO / "bentofile.yaml").read_text())["name"]
    )
    assert set(schema.services) == service_names() == {"kronos_api", "kronos_runner"}
    for config in schema.services.values():
        assert config.instance_type
        assert 1 <= config.scaling.min_replicas <= config.scaling.max_replicas


def test_the_runner_asks_for_a_gpu_the_api_does_not(deployment: dict) -> None:
    services = deployment["services"]
    runner_envs = {e["name"]: e["value"] for e in services["kronos_runner"]["envs"]}
    assert runner_envs["DEVICE"].startswith("cuda")
    assert services["kronos_runner"]["instance_type"].startswith("gpu")
    assert services["kronos_api"]["instance_type"].startswith("cpu")
    assert all(isinstance(e["value"], str) for s in services.values() for e in s["envs"])
