"""Load generators and process probes shared by the fault-injection tests and benchmark."""

from __future__ import annotations

import itertools
import json
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
    """What the clients saw: per kind, labels or status codes, and timestamped failures;
    `events` holds every request as (sent, finished, kind, label or "failed: <why>")."""

    seen: dict[str, Counter] = field(default_factory=dict)
    failures: list[tuple[float, str, str]] = field(default_factory=list)
    events: list[tuple[float, float, str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, kind: str, label: str, sent: float | None = None) -> None:
        """Count one answer of `kind` (sent at `sent`, monotonic; now if None)."""
        now = time.monotonic()
        with self.lock:
            self.seen.setdefault(kind, Counter())[label] += 1
            self.events.append((now if sent is None else sent, now, kind, label))

    def fail(self, kind: str, why: str, sent: float | None = None) -> None:
        """Record a failed request with its time."""
        now = time.monotonic()
        with self.lock:
            self.failures.append((now, kind, why))
            self.events.append((now if sent is None else sent, now, kind, f"failed: {why}"))


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
    sent = time.monotonic()
    try:
        response = httpx.get(url, params=params, timeout=60)
    except httpx.HTTPError as exc:
        tally.fail(kind, f"{type(exc).__name__}: {exc}", sent)
        return
    if response.status_code >= 500:
        tally.fail(kind, f"{response.status_code}: {response.text[:200]}", sent)
    else:
        tally.add(kind, label(response.json()) if response.status_code == 200 else "4xx", sent)


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


def random_checkpoint(reference_dir: Path, folder: Path) -> tuple[Path, Path]:
    """Random weights of the official Kronos-small / Tokenizer-base sizes saved under `folder`
    (a slow checkpoint: the official compute per step); the model and tokenizer directories."""
    from kronos_runner.model import Kronos  # torch: only the callers that build one
    from kronos_runner.tokenizer import KronosTokenizer

    facts = json.loads((reference_dir / "official_checkpoints.json").read_text())
    Kronos(**facts["NeoQuasar/Kronos-small"]["config.json"]).save_pretrained(folder / "model")
    tokenizer = KronosTokenizer(**facts["NeoQuasar/Kronos-Tokenizer-base"]["config.json"])
    tokenizer.save_pretrained(folder / "tokenizer")
    return folder / "model", folder / "tokenizer"


def cpu_seconds(process: psutil.Process) -> float:
    """User + system CPU seconds of a process (all its threads)."""
    times = process.cpu_times()
    return times.user + times.system


def busy_for(process: psutil.Process, idle_s: float = 3.0, cap_s: float = 180.0) -> float:
    """Seconds from now until `process` last used over 10% of a core in a 0.5 s window, once it
    has stayed under that for `idle_s` (`cap_s` at most)."""
    start = last_busy = time.monotonic()
    before = cpu_seconds(process)
    while time.monotonic() - last_busy < idle_s and time.monotonic() - start < cap_s:
        time.sleep(0.5)
        now = cpu_seconds(process)
        if now - before > 0.05:
            last_busy = time.monotonic()
        before = now
    return last_busy - start


def dir_size(path: Path) -> int:
    """Total bytes of the files under `path`."""
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
