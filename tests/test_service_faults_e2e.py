"""Fault injection against real `bentoml serve` processes (loopback, bounded in time).

Mixed traffic past BentoML's client refresh points, a runner whose hub download hangs, a burst
past KRONOS_TIMEOUT on a checkpoint slowed on purpose (the runner's KRONOS_TEST_SLOWDOWN_S
hook, so it outlasts the timeout on any CPU), hostile paths against /metrics, kill -9 of the
runner and of an API worker, and SIGTERM while forecasts are in flight. Durations are short
here; the longer runs, with figures, are `python benchmarks/bench_faults.py mixed|burst|kill`.
"""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import psutil
import pytest

from tests.faults_helpers import (
    Tally,
    cached_read,
    dir_size,
    group_processes,
    health,
    random_checkpoint,
    run_for,
    uncached_forecast,
    wait_gone,
)
from tests.local_server import bentoml_server, service_workers, start_server, stop_server

pytestmark = pytest.mark.e2e

MIXED_SECONDS = float(os.environ.get("FAULTS_MIXED_SECONDS", "20"))
SAMPLES = range(1, 13)  # distinct sampling parameters: each burst request is its own group
HORIZON = 12
SLOWDOWN_S = 0.25  # the runner's wait before each model pass: a burst forecast takes > 3 s
STARTUP = pytest.StashKey[float]()


def base_env(ohlcv_dir: Path, home: Path, repo: Path) -> dict[str, str]:
    """Files source, cpu, a private BENTOML_HOME (its own metrics directory), this checkout."""
    return {
        "MARKET_DATA_SOURCE": "files",
        "MARKET_DATA_DIR": str(ohlcv_dir),
        "DEVICE": "cpu",
        "BENTOML_HOME": str(home),
        "PYTHONPATH": str(repo),
    }


@pytest.fixture(scope="module")
def tiny(ohlcv_dir, tiny_model_env, tmp_path_factory, pytestconfig) -> Iterator[str]:
    """The tiny checkpoint behind the default two API workers; the background runner check
    runs every 0.1 s, so each worker's runner session passes BentoML's 100-call refresh point
    every ~10 s with forecasts in flight."""
    folder = tmp_path_factory.mktemp("faults-tiny")
    env = {**base_env(ohlcv_dir, folder / "home", pytestconfig.rootpath), **tiny_model_env}
    env["HEALTH_REFRESH"] = "0.1"  # 10 runner calls/s per API worker: past 100 calls quickly
    start = time.monotonic()
    with bentoml_server(env, cwd=pytestconfig.rootpath, log=folder / "server.log") as url:
        pytestconfig.stash[STARTUP] = time.monotonic() - start  # this machine's start-up
        yield url


def test_mixed_traffic_never_falls_back(tiny: str) -> None:
    tally = Tally()
    run_for(
        MIXED_SECONDS,
        [
            (lambda: uncached_forecast(tiny, tally, horizon=4, samples=2), 0, 3),
            (lambda: health(tiny, tally), 0.25, 1),
            (lambda: cached_read(tiny, tally), 0.2, 1),
        ],
    )
    print("mixed traffic:", {k: dict(v) for k, v in tally.seen.items()}, tally.failures[:3])
    assert not tally.failures
    assert set(tally.seen["forecast"]) == {"kronos"} and tally.seen["forecast"]["kronos"] >= 3
    assert set(tally.seen["health"]) == {"loaded"} and tally.seen["health"]["loaded"] >= 40
    assert set(tally.seen["cached"]) == {"kronos"}


def test_metrics_stay_bounded_under_hostile_paths(tiny: str, tmp_path_factory) -> None:
    home = next(tmp_path_factory.getbasetemp().glob("faults-tiny*")) / "home"
    before = len(httpx.get(tiny + "/metrics").content)
    dir_before = dir_size(home)
    with httpx.Client(base_url=tiny) as client:
        for i in range(1000):
            client.get(f"/api/no-such-{i}")
            client.get(f"/probe/{i}/x")
    growth = len(httpx.get(tiny + "/metrics").content) - before
    dir_growth = dir_size(home) - dir_before
    print(f"/metrics grew {growth} B, metrics directory {dir_growth} B after 2,000 paths")
    assert growth < 50_000 and dir_growth < 1_000_000


@pytest.mark.parametrize("service", ["kronos_runner", "kronos_api"])
def test_kill_9_under_load(tiny: str, service: str, pytestconfig) -> None:
    startup = pytestconfig.stash[STARTUP]
    tally, killed_at = kill_under_load(tiny, service_workers(tiny, service)[0])
    after = [f for f in tally.failures if f[0] > killed_at + 0.5]
    back = recovered(tiny, timeout=4 * startup)
    print(
        f"kill -9 {service}: {dict(tally.seen['forecast'])}, {tally.failures[:2]}; "
        f"back {back:.1f} s (the whole server started in {startup:.1f} s)"
    )
    assert not after, after[:3]
    assert back < 2 * startup  # a restarted worker is back sooner than twice a cold start


def kill_under_load(url: str, victim: psutil.Process) -> tuple[Tally, float]:
    """Forecasts and /health for 6 s; `victim` gets SIGKILL after 1 s; the tally and when."""
    tally = Tally()
    killed_at: list[float] = []

    def kill_soon() -> None:
        time.sleep(1)
        victim.send_signal(signal.SIGKILL)
        killed_at.append(time.monotonic())

    threading.Thread(target=kill_soon).start()
    jobs = [(lambda: uncached_forecast(url, tally), 0.1, 2), (lambda: health(url, tally), 0.25, 1)]
    run_for(6, jobs)
    return tally, killed_at[0]


def recovered(url: str, timeout: float) -> float:
    """Seconds until /health reports the runner loaded and a forecast comes from Kronos."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        tally = Tally()
        health(url, tally)
        uncached_forecast(url, tally)
        if tally.seen.get("health", {}).get("loaded") and tally.seen.get("forecast", {}).get(
            "kronos"
        ):
            return time.monotonic() - start
        time.sleep(0.2)
    return float("inf")


class SilentHub:
    """A TCP socket that accepts connections and never answers (a hung hub)."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.held: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                self.held.append(self.sock.accept()[0])
            except OSError:
                return


def test_hung_hub_download_probes_answer_and_sigterm_stops_everything(
    ohlcv_dir, tmp_path, pytestconfig
) -> None:
    hub = SilentHub()
    env = {
        **base_env(ohlcv_dir, tmp_path / "home", pytestconfig.rootpath),
        "KRONOS_MODEL": "NeoQuasar/Kronos-small",
        "KRONOS_TOKENIZER": "NeoQuasar/Kronos-Tokenizer-base",
        "HF_ENDPOINT": f"http://127.0.0.1:{hub.port}",
        "HF_HUB_OFFLINE": "0",
        "HF_HOME": str(tmp_path / "hf"),
    }
    process, url = start_server(env, cwd=pytestconfig.rootpath, log=tmp_path / "server.log")
    try:
        wait_for(lambda: ok(url + "/livez"), 120)
        wait_for(lambda: hub.held, 60)  # the runner is stuck in its download
        # The hub never answers: a probe that waited on the download would never answer, so
        # any answer (the timeouts only turn a hang into a failure) shows it did not wait.
        readyz = httpx.get(url + "/readyz", timeout=30)
        body = httpx.get(url + "/health", timeout=30).json()
        assert readyz.status_code == 503
        assert body["model"]["state"] == "fallback"
        assert body["model"]["runnerState"] in ("loading", "unreachable")
        processes = group_processes(process.pid)
        os.killpg(process.pid, signal.SIGTERM)
        # a worker stuck in the download never exits by itself (BentoML's arbiter waits 86,400 s
        # before killing it): any finite time shows the load thread did not hold the exit
        gone = wait_gone(processes, timeout=60)
        print(f"hung start-up: {len(processes)} processes gone {gone:.1f} s after SIGTERM")
        assert gone != float("inf")
    finally:
        stop_server(process)


def ok(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def wait_for(condition, timeout: float) -> None:
    """Poll `condition` until true; fail after `timeout` seconds."""
    end = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < end, "condition not met in time"
        time.sleep(0.2)


@pytest.fixture(scope="module")
def slow_checkpoint(tmp_path_factory, reference_dir: Path) -> tuple[Path, Path]:
    """Random weights of the official Kronos-small / Tokenizer-base sizes, saved locally (its
    memory is the official model's; its speed is set by the test hook, not the CPU)."""
    return random_checkpoint(reference_dir, tmp_path_factory.mktemp("kronos-small-random"))


def test_burst_past_timeout_drops_work_and_sigterm_drains(
    ohlcv_dir, slow_checkpoint, tmp_path, pytestconfig
) -> None:
    timeout = 12.0  # room for a small forecast on a loaded machine
    drain = timeout + 4  # past the API's timeout: every request in flight gets its answer
    env = {
        **base_env(ohlcv_dir, tmp_path / "home", pytestconfig.rootpath),
        "KRONOS_MODEL": str(slow_checkpoint[0]),
        "KRONOS_TOKENIZER": str(slow_checkpoint[1]),
        "KRONOS_TIMEOUT": str(timeout),
        "KRONOS_LOOKBACK": "64",
        "DRAIN_TIMEOUT": str(drain),
        "KRONOS_TEST_HOOKS": "true",
        "KRONOS_TEST_SLOWDOWN_S": str(SLOWDOWN_S),
    }
    process, url = start_server(env, cwd=pytestconfig.rootpath, log=tmp_path / "server.log")
    try:
        wait_for(lambda: ok(url + "/readyz"), 180)
        small = {"horizon": 2, "samples": 1}
        runner = service_workers(url, "kronos_runner")[0]
        warm = Tally()
        uncached_forecast(url, warm, **small)
        # the burst's largest forecast sets the runner's working set (answered in time or not)
        uncached_forecast(url, warm, horizon=HORIZON, samples=max(SAMPLES))
        baseline = runner.memory_info().rss
        burst = Tally()
        with ThreadPoolExecutor(len(SAMPLES)) as pool:  # all at once, one request each
            list(
                pool.map(
                    lambda n: uncached_forecast(url, burst, horizon=HORIZON, samples=n), SAMPLES
                )
            )
        burst_end = time.monotonic()
        after = Tally()
        uncached_forecast(url, after, **small)
        answered_in = time.monotonic() - burst_end
        time.sleep(2)
        rss = runner.memory_info().rss
        dropped = burst.seen.get("forecast", {}).get("fallback", 0)
        print(
            f"burst: {dict(burst.seen.get('forecast', {}))}; "
            f"warm-up {dict(warm.seen['forecast'])}; next Kronos answer {answered_in:.1f} s "
            f"after the burst; runner RSS "
            f"{baseline / 2**20:.0f} -> {rss / 2**20:.0f} MB"
        )
        assert warm.events[0][3] == "kronos" and not burst.failures
        # each request waits >= HORIZON x SLOWDOWN_S alone, so at most this many beat the timeout
        assert sum(burst.seen["forecast"].values()) == len(SAMPLES)
        assert dropped >= len(SAMPLES) - timeout // (HORIZON * SLOWDOWN_S)
        # computing the dropped work would hold the next answer back by its waits alone
        abandoned = dropped * HORIZON * SLOWDOWN_S
        assert after.seen["forecast"] == {"kronos": 1} and answered_in < abandoned / 2
        assert rss <= 1.2 * baseline  # the working set of one burst-sized forecast, not a pile
        drain_check(process, url, small, drain)
    finally:
        stop_server(process)


def drain_check(process, url: str, params: dict, drain: float) -> None:
    """SIGTERM with forecasts in flight: each is answered; later requests get 503 + Retry-After
    or a refused connection; every process is gone within the drain deadline (+ margin)."""
    tally = Tally()
    threads = [
        threading.Thread(target=uncached_forecast, args=(url, tally), kwargs=params)
        for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    time.sleep(1)
    processes = group_processes(process.pid)
    os.killpg(process.pid, signal.SIGTERM)
    time.sleep(0.3)
    try:
        late = httpx.get(url + "/api/predict", params={"symbol": "BTC"}, timeout=5)
        print(f"request during the drain: {late.status_code} {late.headers.get('retry-after')}")
        assert late.status_code == 503 and late.headers["retry-after"]
    except httpx.ConnectError:
        print("request during the drain: connection refused")
    for thread in threads:
        thread.join(30)
    gone = wait_gone(processes, timeout=15)
    print(
        f"drain: in flight {dict(tally.seen.get('forecast', {}))}, {tally.failures[:2]}; "
        f"gone {gone:.1f} s"
    )
    assert sum(tally.seen.get("forecast", {}).values()) == 4 and gone <= drain + 4
