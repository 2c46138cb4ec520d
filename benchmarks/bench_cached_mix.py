"""Cached-path benchmark (not a test): 50 clients of cached traffic against `bentoml serve`.

    PYTHONPATH=. python benchmarks/bench_cached_mix.py [--runs 3] [--clients 50] [--seconds 20]

Starts `bentoml serve service:ApiService` (default settings, except the tiny checkpoint from
../shared/kronos-reference on the CPU, the files source on ../shared/data/ohlcv and forecasts
cached for an hour as with live data), or uses
`--url`. It warms every API worker's caches (each route of the mix once per pooled
connection, until every forecast comes from the cache), then runs `--clients` loops on one
loopback connection pool, each sending the mix round-robin: cached /api/predict for 8 symbols,
/api/assets, /health, /api/history days 1/7/30, until `--requests` are done or `--seconds` have
passed. Prints per route: requests, req/s, p50, p99 and max latency; the machine's load average
before the run; the load generator's own CPU time per request (it shares the machine's cores
with the server); and (for a server it started) the API workers' CPU time per request, which
does not depend on what else the machine runs.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import numpy as np
import psutil

REPO = Path(__file__).absolute().parents[1]
SHARED = REPO.parent / "shared"
SYMBOLS = ("BTC", "ETH", "BNB", "SOL", "XRP", "ADA", "DOGE", "DOT")
MIX = [
    *((f"predict {s}", "/api/predict", {"symbol": s}) for s in SYMBOLS),
    ("assets", "/api/assets", {}),
    ("health", "/health", {}),
    *((f"history {d}d", "/api/history", {"symbol": "BTC", "days": d}) for d in (1, 7, 30)),
]


async def warm(session: aiohttp.ClientSession, url: str, clients: int) -> None:
    """Fill every API worker's prediction and history caches: each route of the mix `clients`
    times at once (one request per pooled connection, so every worker holding a connection
    gets it), until a round finds every forecast cached; fail unless Kronos answers."""
    for _ in range(5):
        cached = True
        for _, path, params in MIX:
            bodies = await asyncio.gather(
                *(_warm_one(session, url, path, params) for _ in range(clients))
            )
            cached = cached and all(body.get("cached", True) for body in bodies)
        if cached:
            return
    raise RuntimeError("forecasts still not cached after 5 warm-up rounds")


async def _warm_one(session: aiohttp.ClientSession, url: str, path: str, params: dict) -> dict:
    """One warm-up request's JSON body, checked."""
    async with session.get(url + path, params=params) as response:
        body = await response.json()
    if response.status != 200:
        raise RuntimeError(f"{path} {params}: {response.status} {body}")
    if path == "/api/predict" and body["prediction"]["model"] != "kronos":
        raise RuntimeError(f"fallback answer: {body['prediction']['fallbackReason']}")
    return body


async def client_loop(
    session: aiohttp.ClientSession,
    url: str,
    offset: int,
    budget: list[int],
    deadline: float,
    latencies: dict[str, list[float]],
) -> None:
    """Send the mix round-robin (starting at `offset`) while requests and time remain."""
    index = offset
    while budget[0] > 0 and time.perf_counter() < deadline:
        budget[0] -= 1
        label, path, params = MIX[index % len(MIX)]
        index += 1
        start = time.perf_counter()
        async with session.get(url + path, params=params) as response:
            body = await response.read()
        latencies[label].append(time.perf_counter() - start)
        if response.status != 200 or (path == "/api/predict" and b'"cached":true' not in body):
            raise RuntimeError(f"{label}: {response.status} {body[:200]!r}")


@dataclass
class Run:
    """One load run: latencies per route, wall time, CPU seconds of the API workers and of the
    load generator (this process) during the load."""

    latencies: dict[str, list[float]]
    wall: float
    api_cpu: float
    client_cpu: float


async def run_once(url: str, args: argparse.Namespace, workers: list[psutil.Process]) -> Run:
    """One bounded load run after the warm-up."""
    connector = aiohttp.TCPConnector(limit=args.clients)
    async with aiohttp.ClientSession(connector=connector) as session:
        await warm(session, url, args.clients)
        latencies: dict[str, list[float]] = defaultdict(list)
        budget = [args.requests]
        used, own = cpu_seconds(workers), cpu_seconds([psutil.Process()])
        start = time.perf_counter()
        deadline = start + args.seconds
        loops = (
            client_loop(session, url, i, budget, deadline, latencies) for i in range(args.clients)
        )
        await asyncio.gather(*loops)
        wall = time.perf_counter() - start
        api, client = cpu_seconds(workers) - used, cpu_seconds([psutil.Process()]) - own
        return Run(latencies, wall, api, client)


def cpu_seconds(processes: list[psutil.Process]) -> float:
    """User + system CPU time the processes used so far."""
    return sum(sum(p.cpu_times()[:2]) for p in processes)


def table(latencies: dict[str, list[float]], wall: float, load: float, run: int, cpu: str) -> str:
    """Per-route and total figures of one run."""
    rows = [f"run {run}: {wall:.1f} s, load average before {load:.2f} (2 cores, shared){cpu}"]
    rows.append(f"{'route':<14}{'requests':>9}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}")
    everything = [x for values in latencies.values() for x in values]
    for label, values in [*sorted(latencies.items()), ("all", everything)]:
        ms = np.asarray(values) * 1000
        rows.append(
            f"{label:<14}{len(ms):>9}{len(ms) / wall:>9.0f}{np.percentile(ms, 50):>9.1f}"
            f"{np.percentile(ms, 99):>9.1f}{ms.max():>9.1f}"
        )
    return "\n".join(rows)


def measure(url: str, args: argparse.Namespace, workers: list[psutil.Process]) -> None:
    """`args.runs` runs against `url`, each printed; the best (highest req/s) last. Each run
    says the load generator's CPU time per request and, with the API `workers` known, theirs."""
    best: tuple[float, str] | None = None
    for number in range(1, args.runs + 1):
        load = os.getloadavg()[0]
        run = asyncio.run(run_once(url, args, workers))
        done = sum(len(v) for v in run.latencies.values())
        cpu = f"; load generator CPU {run.client_cpu / done * 1000:.2f} ms/request"
        if workers:
            cpu += f", API workers {run.api_cpu / done * 1000:.2f} ms/request"
        text = table(run.latencies, run.wall, load, number, cpu)
        print(text + "\n", flush=True)
        rate = done / run.wall
        if best is None or rate > best[0]:
            best = (rate, text)
    assert best is not None
    print("best run (highest req/s):\n" + best[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="a running server (default: start one)")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--requests", type=int, default=30_000, help="most requests per run")
    parser.add_argument("--seconds", type=float, default=20.0, help="longest run")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--reference", type=Path, default=SHARED / "kronos-reference")
    parser.add_argument("--data-dir", type=Path, default=SHARED / "data" / "ohlcv")
    args = parser.parse_args()
    if args.url:
        measure(args.url.rstrip("/"), args, [])
        return
    from tests.local_server import bentoml_server, service_workers

    env = {
        "KRONOS_MODEL": str(args.reference / "tiny-model"),
        "KRONOS_TOKENIZER": str(args.reference / "tiny-tokenizer"),
        "DEVICE": "cpu",
        "MARKET_DATA_SOURCE": "files",
        "MARKET_DATA_DIR": str(args.data_dir),
        "PYTHONPATH": str(REPO),
        # The files' last candle closed long ago, so forecasts would live only the 60 s floor
        # and expire mid-run; live data keeps them until the next candle closes (up to 1 h).
        "PREDICTION_MIN_TTL": "3600",
    }
    log = Path(tempfile.gettempdir()) / "bench-cached-mix.log"
    with bentoml_server(env, cwd=REPO, log=log, timeout=300) as url:
        measure(url, args, service_workers(url, "kronos_api"))


if __name__ == "__main__":
    main()
