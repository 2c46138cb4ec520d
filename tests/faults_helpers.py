"""Load generators and process probes shared by the fault-injection tests and benchmark."""

from __future__ import annotations

import itertools
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil

SEEDS = itertools.count(10_000)


@dataclass
class Tally:
    """What the clients saw: per kind, labels or status codes, and timestamped failures."""

    seen: dict[str, Counter] = field(default_factory=dict)
    failures: list[tuple[float, str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, kind: str, label: str) -> None:
        """Count one answer of `kind`."""
        with self.lock:
            self.seen.setdefault(kind, Counter())[label] += 1

    def fail(self, kind: str, why: str) -> None:
        """Record a failed request with its time."""
        with self.lock:
            self.failures.append((time.monotonic(), kind, why))


def uncached_forecast(url: str, tally: Tally, **params: object) -> None:
    """One forecast with a fresh seed: counts its `model` label, or the failure."""
    params = {"symbol": "BTC", "seed": next(SEEDS), **params}
    request("forecast", url + "/api/predict", tally, params, lambda b: b["prediction"]["model"])


def cached_read(url: str, tally: Tally) -> None:
    """A cached forecast (seed 1) and a history read."""
    request("cached", url + "/api/predict", tally, {"symbol": "BTC", "seed": 1}, model_label)
    request("history", url + "/api/history", tally, {"symbol": "ETH"}, lambda b: "ok")


def health(url: str, tally: Tally) -> None:
    """One /health: counts its model state."""
    request("health", url + "/health", tally, {}, lambda b: b["model"]["state"])


def model_label(body: dict) -> str:
    """The `model` label of a /api/predict answer."""
    return body["prediction"]["model"]


def request(kind: str, url: str, tally: Tally, params: dict, label: Callable[[dict], str]) -> None:
    """GET on a fresh connection; a 5xx or transport error is a failure."""
    try:
        response = httpx.get(url, params=params, timeout=60)
    except httpx.HTTPError as exc:
        tally.fail(kind, f"{type(exc).__name__}: {exc}")
        return
    if response.status_code >= 500:
        tally.fail(kind, f"{response.status_code}: {response.text[:200]}")
    else:
        tally.add(kind, label(response.json()) if response.status_code == 200 else "4xx")


def run_for(seconds: float, jobs: list[tuple[Callable[[], None], float, int]]) -> None:
    """Run each (job, period_s, threads) repeatedly for `seconds` (period 0: back to back)."""
    end = time.monotonic() + seconds

    def loop(job: Callable[[], None], period: float) -> None:
        while time.monotonic() < end:
            start = time.monotonic()
            job()
            time.sleep(max(0.0, period - (time.monotonic() - start)))

    threads = sum(n for _, _, n in jobs)
    with ThreadPoolExecutor(threads) as pool:
        futures = [pool.submit(loop, job, period) for job, period, n in jobs for _ in range(n)]
    for future in futures:
        future.result()  # a client-side error fails the test instead of vanishing


def group_processes(pid: int) -> list[psutil.Process]:
    """The process and all its descendants."""
    root = psutil.Process(pid)
    return [root, *root.children(recursive=True)]


def wait_gone(processes: list[psutil.Process], timeout: float) -> float:
    """Seconds until every process has exited (inf if some outlive `timeout`)."""
    start = time.monotonic()
    _, alive = psutil.wait_procs(processes, timeout=timeout)
    return time.monotonic() - start if not alive else float("inf")


def dir_size(path: Path) -> int:
    """Total bytes of the files under `path`."""
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
