"""End to end, the split deployment: one runner (`bentoml serve service:KronosRunner`), two API
replicas on it (RUNNER_URL), PostgreSQL and Redis, all real processes on loopback."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

import httpx
import psutil
import pytest

from tests.local_server import bentoml_server
from tests.postgres_server import PostgresServer
from tests.redis_server import RedisServer, redis_installed

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not redis_installed(), reason="redis-server not installed"),
]

QUOTA = 350  # path-steps per minute of the key; each request below costs 5 x 20 = 100


@pytest.fixture(scope="module")
def redis() -> Iterator[RedisServer]:
    server = RedisServer()
    server.start()
    yield server
    server.cleanup()


@pytest.fixture(scope="module")
def deployment(
    redis: RedisServer,
    postgres: PostgresServer,
    ohlcv_dir: Path,
    tiny_model_env: dict[str, str],
    tmp_path_factory: pytest.TempPathFactory,
    pytestconfig: pytest.Config,
) -> Iterator[dict]:
    """Runner, two API replicas; a key `alice` with quota QUOTA in the ledger database."""
    repo, folder = pytestconfig.rootpath, tmp_path_factory.mktemp("scaling")
    ledger = postgres.create_database()
    env = {
        **tiny_model_env,
        "MARKET_DATA_SOURCE": "files",
        "MARKET_DATA_DIR": str(ohlcv_dir),
        "LEDGER_URL": ledger,
        "REDIS_URL": redis.url,
        "API_WORKERS": "1",
    }
    made = subprocess.run(
        [sys.executable, "-m", "cli", "keys", "create", "--name", "alice", "--quota", str(QUOTA)],
        cwd=repo,
        env={**os.environ, "LEDGER_URL": ledger},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    key = made.stdout.strip().splitlines()[-1]
    with ExitStack() as stack:
        runner = stack.enter_context(
            bentoml_server(env, cwd=repo, log=folder / "runner.log", target="service:KronosRunner")
        )
        api_env = {**env, "RUNNER_URL": runner}
        with ThreadPoolExecutor(2) as pool:  # start both replicas at once
            starting = [
                pool.submit(
                    stack.enter_context,
                    bentoml_server(api_env, cwd=repo, log=folder / f"api{i}.log"),
                )
                for i in range(2)
            ]
            replicas = [s.result() for s in starting]
        yield {"replicas": replicas, "key": key, "redis": redis}


def predict(url: str, seed: int, headers: dict | None = None) -> httpx.Response:
    params = {"symbol": "BTC", "seed": seed, "samples": 5, "horizon": 20}
    return httpx.get(f"{url}/api/predict", params=params, headers=headers, timeout=60)


def kill_replica(url: str) -> None:
    """kill -9 the `bentoml serve` listening on `url` and all its workers."""
    port = url.rsplit(":", 1)[1]
    for process in psutil.process_iter(["cmdline"]):
        cmdline = process.info["cmdline"] or []
        if "serve" in cmdline and port in cmdline:
            for child in process.children(recursive=True):
                child.send_signal(signal.SIGKILL)
            process.send_signal(signal.SIGKILL)


def test_split_deployment(deployment: dict) -> None:
    a, b = deployment["replicas"]
    alice = {"Authorization": f"Bearer {deployment['key']}"}

    # 20 concurrent identical uncached requests over both replicas: one computation
    with ThreadPoolExecutor(20) as pool:
        answers = list(pool.map(lambda i: predict((a, b)[i % 2], 4242), range(20)))
    assert [r.status_code for r in answers] == [200] * 20
    origins = [r.json()["cache"] for r in answers]
    assert origins.count("miss") == 1, origins
    assert "shared" in origins
    assert len({r.json()["prediction"]["price_24h"] for r in answers}) == 1

    # the key's quota is reached at the same total whichever replica is asked
    codes = [predict((a, b)[i % 2], 100 + i, alice) for i in range(5)]
    assert [r.status_code for r in codes] == [200, 200, 200, 429, 429]
    refused = codes[3]
    assert refused.json()["error"] == "rate_limited" and str(QUOTA) in refused.json()["message"]
    assert int(refused.headers["Retry-After"]) >= 1
    usage = httpx.get(f"{b}/api/usage", headers=alice, timeout=10).json()
    assert usage["usedThisMinute"] == 300 and usage["quota"] == QUOTA
    assert predict(a, 1, {"X-API-Key": "kf_nope"}).status_code == 401
    assert 'kronos_key_path_steps_total{key="alice"}' in httpx.get(f"{a}/metrics").text

    # kill -9 one replica: the other keeps answering
    kill_replica(a)
    assert predict(b, 4242).json()["cache"] == "hit"
    assert predict(b, 7).status_code == 200

    # Redis stops: no 5xx, /health degraded; back to shared when it returns
    redis: RedisServer = deployment["redis"]
    assert httpx.get(f"{b}/health").json()["sharedState"]["state"] == "ok"
    redis.stop()
    down = predict(b, 8)
    assert down.status_code == 200 and down.json()["cache"] == "miss"
    health = httpx.get(f"{b}/health").json()["sharedState"]
    assert health["state"] == "degraded" and health["reason"]
    redis.start()
    deadline = time.monotonic() + 20
    while httpx.get(f"{b}/health").json()["sharedState"]["state"] != "ok":
        assert time.monotonic() < deadline, "shared state did not come back"
        time.sleep(0.5)
    assert predict(b, 9).status_code == 200
