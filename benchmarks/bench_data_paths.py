"""Micro benchmark of the files source's hot paths (not a test).

    python benchmarks/bench_data_paths.py [--data-dir ../shared/data/ohlcv] [--calls 200]

Prints a markdown table of the median per-call cost (microseconds, over `--rounds` rounds of
`--calls` calls on one event loop) of history(days=1/7/30/365), quote and candles on one
symbol's two years of hourly candles, and of the first call after the file changed (a re-read).
Without the shared candles a synthetic file of 17,520 hourly rows is used. To compare with
another checkout, run this file with PYTHONPATH pointing at it (the table names the
`data_sources` it imported).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import numpy as np
import pandas as pd

import data_sources
from data_sources import AssetRegistry, FilesSource

REPO = Path(__file__).absolute().parents[1]
SHARED = REPO.parent / "shared" / "data" / "ohlcv"
Call = Callable[[FilesSource], Awaitable[object]]
CALLS: dict[str, Call] = {
    "history(days=1)": lambda s: s.history("BTC", 1),
    "history(days=7)": lambda s: s.history("BTC", 7),
    "history(days=30)": lambda s: s.history("BTC", 30),
    "history(days=365)": lambda s: s.history("BTC", 365),
    "quote": lambda s: s.quote("BTC"),
    "candles(1h, limit=400)": lambda s: s.candles("BTC", "1h", 400),
    "candles(4h, limit=100)": lambda s: s.candles("BTC", "4h", 100),
}


def synthetic(path: Path, n: int = 17_520) -> None:
    """`n` hourly candles of a random walk written as CSV."""
    rng = np.random.default_rng(0)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    frame = pd.DataFrame(
        {
            "timestamp": pd.date_range("2024-04-16", periods=n, freq="h", tz="UTC"),
            "open": close,
            "high": close * 1.01,
            "low": close * 0.99,
            "close": close,
            "volume": rng.uniform(1, 10, n),
        }
    )
    frame["amount"] = frame["volume"] * frame["close"]
    frame.to_csv(path, index=False)


async def per_call_us(source: FilesSource, call: Call, calls: int, rounds: int) -> float:
    """Median over rounds of the mean microseconds per call (after a warm-up call)."""
    await call(source)
    results = []
    for _ in range(rounds):
        began = time.perf_counter()
        for _ in range(calls):
            await call(source)
        results.append((time.perf_counter() - began) / calls * 1e6)
    return statistics.median(results)


async def after_change_us(source: FilesSource, path: Path, call: Call, rounds: int) -> float:
    """Median microseconds of the first call after the file's mtime changed."""
    results = []
    for i in range(rounds):
        os.utime(path, ns=(time.time_ns(), time.time_ns() + i))
        began = time.perf_counter()
        await call(source)
        results.append((time.perf_counter() - began) * 1e6)
    return statistics.median(results)


async def run(directory: Path, calls: int, rounds: int) -> list[tuple[str, float]]:
    """(what, microseconds per call) rows."""
    source = FilesSource(directory, AssetRegistry.default())
    rows = [(name, await per_call_us(source, call, calls, rounds)) for name, call in CALLS.items()]
    changed = await after_change_us(source, directory / "BTC_1h.csv", CALLS["quote"], rounds)
    rows.append(("quote, first call after the file changed", changed))
    return rows


def main() -> None:
    """Copy the candles to a scratch directory (the benchmark touches the file) and time."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=SHARED)
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        directory = Path(scratch)
        source_csv = args.data_dir / "BTC_1h.csv"
        if source_csv.is_file():
            shutil.copy(source_csv, directory / "BTC_1h.csv")
        else:
            synthetic(directory / "BTC_1h.csv")
        rows = asyncio.run(run(directory, args.calls, args.rounds))
    print(f"data_sources from {Path(data_sources.__file__).parent}")
    print("| call | us per call |\n| --- | ---: |")
    for name, us in rows:
        print(f"| {name} | {us:,.1f} |")


if __name__ == "__main__":
    main()
