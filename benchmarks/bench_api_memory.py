"""Memory of the API worker process: RSS after serving, and whether it mapped libtorch.

    PYTHONPATH=. python benchmarks/bench_api_memory.py [--requests 50]

Starts a real `bentoml serve` (files source on ../shared/data/ohlcv, the tiny reference
checkpoint), sends a mix of forecasts, history, assets and health, then prints a table of each
process's RSS.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import httpx

from tests.local_server import bentoml_server, service_workers

SHARED = Path(__file__).resolve().parents[2] / "shared"


def main() -> None:
    """Serve, send the mix, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=50)
    args = parser.parse_args()
    reference = SHARED / "kronos-reference"
    env = {
        "KRONOS_MODEL": str(reference / "tiny-model"),
        "KRONOS_TOKENIZER": str(reference / "tiny-tokenizer"),
        "DEVICE": "cpu",
        "MARKET_DATA_SOURCE": "files",
        "MARKET_DATA_DIR": str(SHARED / "data" / "ohlcv"),
    }
    symbols = ["BTC", "ETH", "SOL", "BNB"]
    with (
        tempfile.TemporaryDirectory() as tmp,
        bentoml_server(env, cwd=Path.cwd(), log=Path(tmp) / "server.log") as url,
    ):
        for i in range(args.requests):
            symbol = symbols[i % len(symbols)]
            httpx.get(f"{url}/api/predict", params={"symbol": symbol, "seed": i}, timeout=60)
            httpx.get(f"{url}/api/history", params={"symbol": symbol, "days": 30}, timeout=60)
            httpx.get(f"{url}/api/assets", timeout=60)
            httpx.get(f"{url}/health", timeout=60)
        print("| process | RSS (MiB) | libtorch mapped |")
        print("|---|---:|---|")
        for name in ("kronos_api", "kronos_runner"):
            for worker in service_workers(url, name):
                maps = Path(f"/proc/{worker.pid}/maps").read_text()
                rss = worker.memory_info().rss / 2**20
                print(f"| {name} worker | {rss:.0f} | {'libtorch' in maps} |")


if __name__ == "__main__":
    main()
