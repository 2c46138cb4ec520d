"""Users ahead of the scheduler (not a test): uncached interactive latency while the ledger's
scheduled round runs, against the same requests on an idle server.

Starts `bentoml serve` on the files source with the ledger scheduling every asset at 1h, 4h and
1d (8 x 3 = 24 forecasts, issued as soon as the runner has loaded). While that round runs it
sends up to `--requests` uncached `/api/predict` (one at a time, a fresh seed each; a request
counts only if it began before the ledger's last scheduled forecast was issued), waits for the
round to finish, then sends `--requests` uncached requests to the idle server:

    PYTHONPATH=. python benchmarks/bench_priority.py --data-dir ../shared/data/ohlcv

`--repo DIR` serves another checkout (e.g. one without the priority lane) for comparison. The
model defaults to the tiny reference checkpoint (`--model`, `--tokenizer` for others).
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import tempfile
import time
from pathlib import Path

import httpx
from sqlalchemy import create_engine, text

REPO = Path(__file__).absolute().parents[1]
SHARED = REPO.parent / "shared"
ROUND = 24  # 8 assets x 3 intervals
SYMBOLS = ("BTC", "ETH", "BNB", "SOL", "XRP", "ADA", "DOGE", "DOT")


def scheduled_records(ledger: str) -> tuple[int, float | None]:
    """(scheduled forecasts in the ledger, the latest one's issue time in Unix seconds)."""
    engine = create_engine(ledger)
    try:
        with engine.connect() as conn:
            row = conn.execute(
                text("SELECT count(*), max(issued_at) FROM forecasts WHERE kind = 'scheduled'")
            ).one()
    except Exception:  # not created yet
        return 0, None
    finally:
        engine.dispose()
    return int(row[0]), None if row[1] is None else float(row[1])


def timed(client: httpx.Client, symbol: str, seed: int, args: argparse.Namespace) -> float:
    """One uncached /api/predict; its latency in seconds (fails on a fallback answer)."""
    params = {"symbol": symbol, "seed": seed, "samples": args.samples}
    start = time.perf_counter()
    response = client.get("/api/predict", params=params)
    elapsed = time.perf_counter() - start
    response.raise_for_status()
    if response.json()["prediction"]["model"] != "kronos":
        raise RuntimeError(f"fallback answer: {response.json()['prediction']['fallbackReason']}")
    return elapsed


def run(args: argparse.Namespace) -> tuple[list[float], list[float]]:
    """(latencies during the scheduled round, latencies once it finished)."""
    from tests.local_server import bentoml_server

    work = Path(tempfile.mkdtemp(prefix="bench-priority-"))
    ledger = f"sqlite:///{work / 'ledger.db'}"
    env = {
        "KRONOS_MODEL": str(args.model),
        "KRONOS_TOKENIZER": str(args.tokenizer),
        "DEVICE": "cpu",
        "KRONOS_SAMPLES": str(args.samples),
        "MARKET_DATA_SOURCE": "files",
        "MARKET_DATA_DIR": str(args.data_dir.absolute()),
        "LEDGER_URL": ledger,
        "LEDGER_SCHEDULE": "1h,4h,1d",
        "LEDGER_TICK": "1",
        "PYTHONPATH": str(args.repo),
    }
    seeds = itertools.count(10_000)
    with (
        bentoml_server(env, cwd=args.repo, log=work / "server.log", timeout=300) as url,
        httpx.Client(base_url=url, timeout=600) as client,
    ):
        busy: list[float] = []
        while len(busy) < args.requests:  # one at a time while the round runs
            started = time.time()
            busy.append(timed(client, SYMBOLS[len(busy) % 8], next(seeds), args))
            if scheduled_records(ledger)[0] >= ROUND:
                break
        deadline = time.monotonic() + args.round_timeout
        while (done := scheduled_records(ledger))[0] < ROUND:
            if time.monotonic() > deadline:
                raise RuntimeError(f"the scheduled round did not finish: {done[0]} of {ROUND}")
            time.sleep(0.5)
        if done[1] is None or done[1] < started:  # the last request began after the round
            busy.pop()
        if not busy:
            raise RuntimeError("the round ended before the first request: raise --samples")
        idle = [timed(client, SYMBOLS[i % 8], next(seeds), args) for i in range(args.requests)]
    return busy, idle


def main() -> None:
    """Parse arguments, measure, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=SHARED / "data" / "ohlcv")
    parser.add_argument("--model", type=Path, default=SHARED / "kronos-reference" / "tiny-model")
    parser.add_argument(
        "--tokenizer", type=Path, default=SHARED / "kronos-reference" / "tiny-tokenizer"
    )
    parser.add_argument("--repo", type=Path, default=REPO, help="the checkout to serve")
    parser.add_argument("--requests", type=int, default=5, help="uncached requests per phase")
    parser.add_argument("--samples", type=int, default=30, help="paths per forecast")
    parser.add_argument("--round-timeout", type=float, default=1200.0)
    args = parser.parse_args()
    busy, idle = run(args)
    ratio = statistics.median(busy) / statistics.median(idle)
    print(f"{'phase':<28}{'requests':>9}{'median s':>10}{'max s':>8}")
    for label, values in (("during the scheduled round", busy), ("idle", idle)):
        print(f"{label:<28}{len(values):>9}{statistics.median(values):>10.2f}{max(values):>8.2f}")
    print(f"ratio of medians: {ratio:.2f}x (target <= 1.5x)")


if __name__ == "__main__":
    main()
