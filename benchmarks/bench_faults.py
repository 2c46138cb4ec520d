"""Mixed traffic for a minute against a real server, then the memory of every process.

    PYTHONPATH=. python benchmarks/bench_faults.py [--seconds 60] [--refresh 0.1]

Starts `bentoml serve` (files source on ../shared/data/ohlcv, the tiny reference checkpoint,
the default two API workers) and runs, at once: 3 clients of uncached forecasts (fresh seeds),
/health 4 times a second and cached reads 5 times a second. The API's background runner check
runs every `--refresh` s, so each worker's runner session passes BentoML's 100-call refresh
point many times. Prints what the clients saw and each process's RSS (MB).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from tests.faults_helpers import Tally, cached_read, health, run_for, uncached_forecast
from tests.local_server import bentoml_server, service_workers

REFERENCE = Path("../shared/kronos-reference")


def main() -> None:
    """Run the mixed traffic and print the table."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--refresh", type=float, default=0.1)
    args = parser.parse_args()
    env = {
        "MARKET_DATA_SOURCE": "files",
        "MARKET_DATA_DIR": "../shared/data/ohlcv",
        "KRONOS_MODEL": str(REFERENCE / "tiny-model"),
        "KRONOS_TOKENIZER": str(REFERENCE / "tiny-tokenizer"),
        "KRONOS_SAMPLES": "8",
        "DEVICE": "cpu",
        "HEALTH_REFRESH": str(args.refresh),
        "PYTHONPATH": ".",
    }
    with tempfile.TemporaryDirectory() as tmp:
        env["BENTOML_HOME"] = tmp
        with bentoml_server(env, cwd=Path("."), log=Path(tmp) / "server.log") as url:
            tally = Tally()
            run_for(
                args.seconds,
                [
                    (lambda: uncached_forecast(url, tally, horizon=4, samples=2), 0, 3),
                    (lambda: health(url, tally), 0.25, 1),
                    (lambda: cached_read(url, tally), 0.2, 1),
                ],
            )
            rss = {
                service: [round(w.memory_info().rss / 2**20) for w in service_workers(url, service)]
                for service in ("kronos_api", "kronos_runner")
            }
    print(f"| kind | answers ({args.seconds:g} s) |\n|---|---|")
    for kind, counts in sorted(tally.seen.items()):
        print(f"| {kind} | {dict(counts)} |")
    print(f"| failures (5xx, transport) | {len(tally.failures)} {tally.failures[:3]} |")
    print(f"| RSS MB per worker | {rss} |")


if __name__ == "__main__":
    main()
