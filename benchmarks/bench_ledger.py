"""Benchmark the ledger's read side on a synthetic track record (not a test).

Usage, from the repository root:
    python -m benchmarks.bench_ledger [--url sqlite:///tmp/bench.db] [--days 90] [--per-day 4]
        [--symbols 8]
    python -m benchmarks.bench_ledger --existing --url sqlite:////tmp/replay/ledger.db [--now T]
Fills a fresh ledger with `days` x `symbols` (8 by default) x `per-day` scheduled 24-step
forecasts (random-walk paths of 100 samples), scores them, then prints a markdown table of the
median and minimum seconds of `accuracy(ALL, days)` (computed, "cold", and answered from the
ledger's result cache), `accuracy(BTC, 30)`, `gauges` and one `forecasts` page.
With `--existing` it times the queries on the ledger at `--url` as it is (a replayed one), at
`--now` (default: the close of the newest scored candle, the files source's "now").
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np
import pandas as pd
from sqlalchemy import func, select

from ledger.accuracy import accuracy
from ledger.gauges import gauges
from ledger.models import SCORED, StepRow
from ledger.past_forecasts import forecasts
from ledger.records import RecordMeta, build_record, to_epoch
from ledger.scorer import score_due
from ledger.store import Ledger

SYMBOLS = ["BTC", "ETH", "SOL", "BNB", "XRP", "ADA", "DOGE", "AVAX"]
HOUR, DAY = 3600, 86400
END = 1_775_000_000 // DAY * DAY


def symbols(count: int) -> list[str]:
    """The first `count` of SYMBOLS, then S0008, S0009, ..."""
    return [*SYMBOLS, *(f"S{i:04d}" for i in range(len(SYMBOLS), count))][:count]


def fill(
    ledger: Ledger,
    days: int,
    per_day: int,
    horizon: int = 24,
    *,
    names: list[str] = SYMBOLS,
    interval: str = "1h",
    end: int = END,
) -> int:
    """Record and score the synthetic track record of `names` (forecasts of `interval` from
    `per_day` origins a day over the `days` before `end`); returns the number of forecasts."""
    rng = np.random.default_rng(0)
    cadence = DAY // per_day
    origins = range(end - days * DAY, end, cadence)
    count = 0
    for origin in origins:
        batch = []
        for symbol in names:
            paths = 100.0 * np.exp(np.cumsum(0.01 * rng.standard_normal((100, horizon)), axis=1))
            meta = RecordMeta(symbol, interval, "scheduled", "kronos", "bench", 100, seed=origin)
            context = 100.0 * np.exp(np.cumsum(0.01 * rng.standard_normal(65)))
            batch.append(
                build_record(
                    meta,
                    paths,
                    origin=origin,
                    issued_at=origin + HOUR,
                    last_close=float(context[-1]),
                    context_closes=context,
                    trend_threshold=0.005,
                    calibration=None,
                )
            )
        count += ledger.insert(batch)

    def closes(_symbol, _interval, times):
        return {t: float(100.0 * np.exp(0.02 * np.sin(t.timestamp() / 9999.0))) for t in times}

    score_due(ledger, closes, end + 2 * DAY, grace=0)
    return count


def timed(fn: Callable[[], object], repeats: int) -> tuple[float, float]:
    """Median and minimum wall seconds of `repeats` calls."""
    runs = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - start)
    return statistics.median(runs), min(runs)


def newest_close(ledger: Ledger) -> int:
    """Close time of the newest scored candle in the ledger."""
    stmt = select(func.max(StepRow.closes_at)).where(StepRow.status == SCORED)
    with ledger.engine.connect() as conn:
        return int(conn.execute(stmt).scalar_one())


def main() -> None:
    """Fill (unless --existing), then time the queries."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="sqlite:////tmp/bench-ledger.db")
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--per-day", type=int, default=4)
    parser.add_argument("--symbols", type=int, default=len(SYMBOLS))
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--existing", action="store_true", help="time an existing ledger")
    parser.add_argument("--now", default=None, help="ISO time (with --existing)")
    args = parser.parse_args()
    ledger = Ledger.open(args.url)
    if args.existing:
        now = to_epoch(pd.Timestamp(args.now, tz="UTC")) if args.now else newest_close(ledger)
        print(f"existing ledger {args.url}, now {pd.Timestamp(now, unit='s', tz='UTC')}")
    else:
        start = time.perf_counter()
        n = fill(ledger, args.days, args.per_day, names=symbols(args.symbols))
        elapsed = time.perf_counter() - start
        print(f"filled {n} forecasts x 24 steps of {args.symbols} symbols in {elapsed:.1f} s")
        now = END + DAY

    def cold(symbol: str, days: int) -> Callable[[], object]:
        """accuracy() computed, not answered from the ledger's result cache."""
        return lambda: (ledger.clear_cache(), accuracy(ledger, symbol, "1h", days, now))

    cases = {
        f"accuracy(ALL, {args.days} d) cold": cold("ALL", args.days),
        f"accuracy(ALL, {args.days} d) cached": lambda: accuracy(
            ledger, "ALL", "1h", args.days, now
        ),
        "accuracy(BTC, 30 d) cold": cold("BTC", 30),
        "gauges(7 d)": lambda: gauges(ledger, "1h", 7, now),
        "forecasts(BTC, 50)": lambda: forecasts(ledger, "BTC", "1h", 0, now, limit=50),
    }
    print("| query | median s | min s |\n|---|---|---|")
    for name, fn in cases.items():
        med, low = timed(fn, args.repeats)
        print(f"| {name} | {med:.3f} | {low:.3f} |")


if __name__ == "__main__":
    main()
