"""Start a real `bentoml serve service:ApiService` on a free loopback port (tests, benchmarks)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import httpx
import psutil

API_TARGET = "service:ApiService"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(
    env: Mapping[str, str], *, cwd: Path, log: Path, target: str = API_TARGET
) -> tuple[subprocess.Popen, str]:
    """Start `bentoml serve` with `env` added (its own process group); the process and URL.
    `target` is the service served (the API with its runner, or the runner alone)."""
    port = free_port()
    # a ledger of its own beside the log, and no scheduled forecasts unless the test asks
    ledger = {"LEDGER_URL": f"sqlite:///{log.parent / 'ledger.db'}", "LEDGER_SCHEDULE": ""}
    full_env = {
        **os.environ,
        "BENTOML_DO_NOT_TRACK": "true",
        "HF_HUB_OFFLINE": "1",
        # BentoML deletes and re-creates its task store at start: one per server, or servers
        # starting together on one BENTOML_HOME break each other's ("disk I/O error")
        "BENTOML_RESULT_STORE": str(log.with_name(f"{log.stem}-tasks.db")),
        **ledger,
        **env,
    }
    command = [sys.executable, "-m", "bentoml", "serve", target]
    command += ["--host", "127.0.0.1", "--port", str(port)]
    with log.open("w") as out:
        process = subprocess.Popen(
            command,
            cwd=cwd,
            env=full_env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return process, f"http://127.0.0.1:{port}"


def stop_server(process: subprocess.Popen, timeout: float = 20.0) -> None:
    """SIGTERM the server's process group, SIGKILL it after `timeout` seconds, then any of its
    workers still alive (BentoML starts each worker in a session of its own, so they can
    outlive the group)."""
    try:
        workers = psutil.Process(process.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        workers = []
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    _, alive = psutil.wait_procs(workers, timeout=10)
    for worker in alive:
        worker.kill()


@contextmanager
def bentoml_server(
    env: Mapping[str, str],
    *,
    cwd: Path,
    log: Path,
    timeout: float = 120.0,
    target: str = API_TARGET,
) -> Iterator[str]:
    """Serve with `env` added to the environment; yield the base URL once /readyz and /health
    (the API's) answer; stop the whole process group on exit. RuntimeError (with the log tail)
    if it fails."""
    process, url = start_server(env, cwd=cwd, log=log, target=target)
    try:
        deadline = time.monotonic() + timeout
        while not _ready(url, health=target == API_TARGET):
            if process.poll() is not None:
                raise RuntimeError(f"bentoml serve exited {process.returncode}:\n{_tail(log)}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"bentoml serve not ready after {timeout} s:\n{_tail(log)}")
            time.sleep(0.3)
        yield url
    finally:
        stop_server(process)


def service_workers(url: str, service_name: str) -> list[psutil.Process]:
    """The worker processes of one BentoML service of the server at `url` (children of the
    `bentoml serve` process listening on that port)."""
    port = url.rsplit(":", 1)[1]
    workers = []
    for process in psutil.process_iter(["cmdline"]):
        cmdline = process.info["cmdline"] or []
        if "serve" in cmdline and port in cmdline:
            workers += [child for child in process.children() if service_name in _cmdline(child)]
    return workers


def _cmdline(process: psutil.Process) -> list[str]:
    """The process's command line; empty for one that exited or is a zombie (a killed worker
    not yet reaped)."""
    try:
        return process.cmdline()
    except psutil.Error:
        return []


def _ready(url: str, health: bool = True) -> bool:
    try:
        return httpx.get(f"{url}/readyz", timeout=2).status_code == 200 and (
            not health or httpx.get(f"{url}/health", timeout=5).status_code == 200
        )
    except httpx.HTTPError:
        return False


def _tail(log: Path) -> str:
    return log.read_text(errors="replace")[-3000:]


def replay_ledger(
    url: str, data_dir: Path, model_env: Mapping[str, str], *, symbols: str = "BTC,ETH"
) -> str:
    """Run `kronos-forecast replay` (2026-04-01 to 04-04, every 12 h, horizon 6, 4 samples) into
    the ledger at `url` on the candles of `data_dir`; returns its printed report."""
    env = {
        **model_env,
        "KRONOS_SAMPLES": "4",
        "KRONOS_LOOKBACK": "64",
        "MARKET_DATA_SOURCE": "files",
        "MARKET_DATA_DIR": str(data_dir),
        "LEDGER_URL": url,
        "PATH": "/usr/bin:/bin",
        "HF_HUB_OFFLINE": "1",
    }
    command = [sys.executable, "-m", "cli", "replay", "--from", "2026-04-01", "--to"]
    command += ["2026-04-04", "--every", "12h", "--symbols", symbols, "--horizon", "6"]
    result = subprocess.run(
        [*command, "--no-progress"],
        cwd=Path(__file__).resolve().parents[1],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if result.returncode != 0:
        raise RuntimeError(f"replay failed:\n{result.stderr[-3000:]}")
    return result.stdout
