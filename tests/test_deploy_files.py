"""The sample deployment file parses as bentoml reads it and names both services of service.py."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml
from pydantic import AliasChoices
from pydantic_settings import BaseSettings

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


# ---- the split deployment: deploy/compose.yaml and deploy/k8s/ ------------------------------


REQUIRED_ENV = {"LEDGER_URL", "REDIS_URL", "RUNNER_URL", "KRONOS_MODEL"}


def _subclasses(cls: type) -> Iterator[type]:
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def settings_env_names() -> set[str]:
    """Every env name the API's and the runner's settings classes read (aliases included)."""
    import forecast_api.app  # noqa: F401 (imports every settings class of the service)

    names = set()
    for cls in _subclasses(BaseSettings):
        if not cls.__module__.startswith(("forecast_api", "data_sources", "kronos_runner")):
            continue
        prefix = cls.model_config.get("env_prefix", "")
        for name, field in cls.model_fields.items():
            alias = field.validation_alias
            choices = alias.choices if isinstance(alias, AliasChoices) else [alias or name]
            names |= {f"{prefix}{choice}".upper() for choice in choices}
    return names


def service_classes() -> set[str]:
    """The classes of service.py (read, not imported)."""
    tree = ast.parse((REPO / "service.py").read_text())
    return {node.name for node in ast.walk(tree) if isinstance(node, ast.ClassDef)}


def served(command: list[str]) -> tuple[str, int | None]:
    """(the `service:Class` a `bentoml serve` command serves, its --port or None)."""
    assert command[:2] == ["bentoml", "serve"], command
    port = int(command[command.index("--port") + 1]) if "--port" in command else None
    return command[2], port


def assert_env_names(names: set[str]) -> None:
    unknown = names - settings_env_names()
    assert not unknown, f"env names no settings class reads: {unknown}"


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((REPO / "deploy" / "compose.yaml").read_text())


def test_compose_wires_runner_replicas_postgres_and_redis(compose: dict) -> None:
    services = compose["services"]
    assert set(services) == {"runner", "api-1", "api-2", "postgres", "redis"}
    runner_target, runner_port = served(services["runner"]["command"])
    assert runner_target == "service:KronosRunner" and runner_port
    apis = [services["api-1"], services["api-2"]]
    pg = services["postgres"]["environment"]
    for api in apis:
        target, port = served(api["command"])
        assert target == "service:ApiService" and port is None  # PORT decides
        env = api["environment"]
        assert set(env) >= REQUIRED_ENV
        runner = urlsplit(env["RUNNER_URL"])
        assert (runner.hostname, runner.port) == ("runner", runner_port)
        ledger = urlsplit(env["LEDGER_URL"])
        assert (ledger.scheme, ledger.hostname, ledger.port) == ("postgresql", "postgres", 5432)
        assert (ledger.username, ledger.password) == (pg["POSTGRES_USER"], pg["POSTGRES_PASSWORD"])
        assert ledger.path == f"/{pg['POSTGRES_DB']}"
        redis = urlsplit(env["REDIS_URL"])
        assert (redis.scheme, redis.hostname, redis.port) == ("redis", "redis", 6379)
        assert set(api["depends_on"]) == {"runner", "postgres", "redis"}
        assert api["ports"][0].split(":")[1] == env["PORT"]
        assert_probe(api["healthcheck"], int(env["PORT"]))
    assert_probe(services["runner"]["healthcheck"], runner_port)
    assert {"ApiService", "KronosRunner"} <= service_classes()
    assert_env_names({name for s in ("runner", "api-1") for name in services[s]["environment"]})
    for s in services.values():
        assert all(isinstance(v, str) for v in s.get("environment", {}).values())


def assert_probe(healthcheck: dict, port: int) -> None:
    """The compose healthcheck GETs /readyz on `port` of its own container."""
    [url] = re.findall(r"http://[^'\" ]+", " ".join(healthcheck["test"]))
    probe = urlsplit(url)
    assert (probe.hostname, probe.port, probe.path) == ("127.0.0.1", port, "/readyz")


@pytest.fixture(scope="module")
def k8s() -> dict[tuple[str, str], dict]:
    """Every object of deploy/k8s/*.yaml by (kind, name)."""
    objects = {}
    for path in sorted((REPO / "deploy" / "k8s").glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            key = (doc["kind"], doc["metadata"]["name"])
            assert key not in objects, key
            objects[key] = doc
    return objects


def container(deployment: dict) -> dict:
    [only] = deployment["spec"]["template"]["spec"]["containers"]
    return only


def container_port(c: dict, port: int | str) -> int:
    """A probe's or Service's port (a number or a named container port) as a number."""
    if isinstance(port, int):
        return port
    [number] = [p["containerPort"] for p in c["ports"] if p["name"] == port]
    return number


def pods_behind(k8s: dict, service: dict) -> tuple[dict, int]:
    """(the one Deployment a Service selects, the container port its first port reaches)."""
    selector = service["spec"]["selector"]
    [deployment] = [
        d
        for (kind, _), d in k8s.items()
        if kind == "Deployment"
        and selector.items() <= d["spec"]["template"]["metadata"]["labels"].items()
    ]
    return deployment, container_port(
        container(deployment), service["spec"]["ports"][0]["targetPort"]
    )


def test_k8s_objects_reference_each_other(k8s: dict) -> None:
    kinds = {kind for kind, _ in k8s}
    assert {"Deployment", "Service", "HorizontalPodAutoscaler", "ConfigMap", "Secret"} <= kinds
    config = k8s["ConfigMap", "kronos-config"]["data"]
    secret = k8s["Secret", "kronos-secrets"]["stringData"]
    runner_dep, api_dep = k8s["Deployment", "kronos-runner"], k8s["Deployment", "kronos-api"]
    for dep in (runner_dep, api_dep):
        labels = dep["spec"]["template"]["metadata"]["labels"]
        assert dep["spec"]["selector"]["matchLabels"].items() <= labels.items()

    runner_target, runner_port = served(container(runner_dep)["command"])
    assert runner_target == "service:KronosRunner"
    url = urlsplit(config["RUNNER_URL"])
    runner_svc = k8s["Service", url.hostname]
    assert runner_svc["spec"]["ports"][0]["port"] == url.port
    assert pods_behind(k8s, runner_svc) == (runner_dep, runner_port)

    api_target, _ = served(container(api_dep)["command"])
    assert api_target == "service:ApiService"
    assert pods_behind(k8s, k8s["Service", "kronos-api"]) == (api_dep, int(config["PORT"]))

    hpa = k8s["HorizontalPodAutoscaler", "kronos-api"]["spec"]
    target = hpa["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", "kronos-api")
    assert 1 <= hpa["minReplicas"] <= hpa["maxReplicas"]

    env_names = set(config) | set(secret)
    for dep in (runner_dep, api_dep):
        c = container(dep)
        for source in c["envFrom"]:
            kind, ref = next(iter(source.items()))
            assert ("ConfigMap" if kind == "configMapRef" else "Secret", ref["name"]) in k8s
        env_names |= {e["name"] for e in c.get("env", [])}
    api_env = {
        n
        for s in container(api_dep)["envFrom"]
        for n in (config if "configMapRef" in s else secret)
    }
    assert api_env >= REQUIRED_ENV
    assert {"LEDGER_URL", "REDIS_URL"} <= set(secret)  # credentials stay out of the ConfigMap
    assert_env_names(env_names)
    assert all(isinstance(v, str) for v in [*config.values(), *secret.values()])


@pytest.mark.parametrize("name", ["kronos-runner", "kronos-api"])
def test_k8s_probes_hit_livez_and_readyz_on_the_served_port(k8s: dict, name: str) -> None:
    c = container(k8s["Deployment", name])
    config = k8s["ConfigMap", "kronos-config"]["data"]
    _, port = served(c["command"])
    port = port or int(config["PORT"])
    assert container_port(c, c["ports"][0]["name"]) == port
    probes = {
        kind: (c[kind]["httpGet"]["path"], container_port(c, c[kind]["httpGet"]["port"]))
        for kind in ("livenessProbe", "readinessProbe")
    }
    assert probes == {"livenessProbe": ("/livez", port), "readinessProbe": ("/readyz", port)}
