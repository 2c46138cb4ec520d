"""Fair share: a polite key's uncached forecast while a greedy key floods uncached forecasts.

    PYTHONPATH=. python benchmarks/bench_fair_share.py [--greedy 8] [--in-flight 2 1000]

Per RUNNER_MAX_IN_FLIGHT value: starts a real `bentoml serve` (files source on
../shared/data/ohlcv, the tiny reference checkpoint on the CPU, one API worker), creates keys
`greedy` and `polite` (`kronos-forecast keys create`), measures the polite default forecast
(30 samples, 24 h, a fresh seed: uncached) and one greedy forecast (100 samples, 72 h) on the
idle service, then the polite one again while `--greedy` threads flood greedy forecasts with
fresh seeds. 1000 in flight means no fair queue in practice (every call goes to the runner).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from itertools import count
from pathlib import Path

import httpx

from tests.local_server import bentoml_server

SHARED = Path(__file__).resolve().parents[2] / "shared"
seeds = count(1000)


def timed(url: str, key: str, model: bool = True, **params: int) -> float:
    """Seconds of one uncached /api/predict for BTC with a fresh seed (answered by the model
    unless `model` is False: a flood's backlog may time out into the fallback)."""
    started = time.perf_counter()
    r = httpx.get(
        f"{url}/api/predict",
        params={"symbol": "BTC", "seed": next(seeds), **params},
        headers={"X-API-Key": key},
        timeout=600,
    )
    r.raise_for_status()
    assert r.json()["cache"] == "miss"
    assert r.json()["prediction"]["model"] == "kronos" or not model, r.json()["prediction"]
    return time.perf_counter() - started


def create_key(ledger: str, name: str) -> str:
    """A key with a quota no run reaches."""
    made = subprocess.run(
        [sys.executable, "-m", "cli", "keys", "create", "--name", name, "--quota", "10000000"],
        env={**os.environ, "LEDGER_URL": ledger},
        capture_output=True,
        text=True,
        check=True,
    )
    return made.stdout.strip().splitlines()[-1]


def run(in_flight: int, greedy_threads: int, repeats: int) -> dict[str, float]:
    """The figures for one RUNNER_MAX_IN_FLIGHT."""
    reference = SHARED / "kronos-reference"
    with tempfile.TemporaryDirectory() as tmp:
        ledger = f"sqlite:///{tmp}/ledger.db"
        keys = {name: create_key(ledger, name) for name in ("greedy", "polite")}
        env = {
            "KRONOS_MODEL": str(reference / "tiny-model"),
            "KRONOS_TOKENIZER": str(reference / "tiny-tokenizer"),
            "DEVICE": "cpu",
            "MARKET_DATA_SOURCE": "files",
            "MARKET_DATA_DIR": str(SHARED / "data" / "ohlcv"),
            "LEDGER_URL": ledger,
            "API_WORKERS": "1",
            "RUNNER_MAX_IN_FLIGHT": str(in_flight),
        }
        with bentoml_server(env, cwd=Path.cwd(), log=Path(tmp) / "server.log") as url:
            timed(url, keys["polite"])  # warm up
            idle = statistics.median(timed(url, keys["polite"]) for _ in range(repeats))
            greedy_one = statistics.median(
                timed(url, keys["greedy"], samples=100, horizon=72) for _ in range(repeats)
            )
            stop = threading.Event()

            def flood() -> None:
                while not stop.is_set():
                    timed(url, keys["greedy"], False, samples=100, horizon=72)

            threads = [threading.Thread(target=flood) for _ in range(greedy_threads)]
            for t in threads:
                t.start()
            time.sleep(2 * greedy_one)  # the backlog builds up
            loaded = [timed(url, keys["polite"]) for _ in range(repeats)]
            stop.set()
            for t in threads:
                t.join()
    return {"idle": idle, "greedy": greedy_one, "loaded": statistics.median(loaded)}


def main() -> None:
    """Measure and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--greedy", type=int, default=8, help="greedy threads")
    parser.add_argument("--in-flight", type=int, nargs="+", default=[2, 1000])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print("| RUNNER_MAX_IN_FLIGHT | polite idle s | one greedy s | polite under flood s |")
    print("|---|---|---|---|")
    for n in args.in_flight:
        f = run(n, args.greedy, args.repeats)
        print(f"| {n} | {f['idle']:.2f} | {f['greedy']:.2f} | {f['loaded']:.2f} |", flush=True)


if __name__ == "__main__":
    main()
