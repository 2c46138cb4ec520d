"""Print a ledger's track record as `/api/accuracy` serves it, as markdown tables (not a test).

Usage, from the repository root:
    python -m benchmarks.accuracy_report --url sqlite:////tmp/replay/ledger.db [--days 60]
        [--symbol ALL] [--data ../shared/data/ohlcv | --now 2026-04-16T00:00]
"Now" is the service's for the files source: the close of the newest candle in `--data`.
Prints the per-step table, the averages over the steps, the worst step's coverage error, the
confidence reliability buckets and ECE (served and raw).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from ledger.accuracy import accuracy
from ledger.store import Ledger

COLUMNS = ["coverage80", "coverage90", "coverage80Raw", "coverage90Raw", "crps", "crpsNaive"]
COLUMNS += ["crpsDrift", "crpsSkill", "mae", "maeNaive", "maeDrift", "mape", "directionHit"]


def files_now(data: Path, interval: str = "1h") -> pd.Timestamp:
    """Close of the newest candle over the files of the data directory."""
    last = [pd.read_csv(f, usecols=["timestamp"])["timestamp"].max() for f in data.glob("*.csv")]
    return pd.Timestamp(max(last)).tz_convert("UTC") + pd.Timedelta(interval)


def _fmt(value: float | None) -> str:
    """A table cell."""
    return "" if value is None else f"{value:.4g}"


def print_steps(steps: list[dict]) -> None:
    """The per-step table and its averages over the steps."""
    print("| hour | n | " + " | ".join(COLUMNS) + " |")
    print("|---" * (len(COLUMNS) + 2) + "|")
    for s in steps:
        print(f"| {s['hour']} | {s['n']} | " + " | ".join(_fmt(s[c]) for c in COLUMNS) + " |")
    mean = {c: float(np.mean([s[c] for s in steps])) for c in COLUMNS}
    total = sum(s["n"] for s in steps)
    print(f"| mean | {total} | " + " | ".join(_fmt(mean[c]) for c in COLUMNS) + " |")
    for column, nominal in (("coverage80", 0.8), ("coverage90", 0.9)):
        for key in (column, column + "Raw"):
            values = np.array([s[key] for s in steps])
            worst = int(np.argmax(np.abs(values - nominal)))
            print(
                f"{key}: mean {values.mean():.4f} ({100 * (values.mean() - nominal):+.1f} pts), "
                f"worst step {steps[worst]['hour']} {values[worst]:.4f} "
                f"({100 * (values[worst] - nominal):+.1f} pts)"
            )
    for ratio, (a, b) in {
        "crps/crpsNaive": ("crps", "crpsNaive"),
        "crps/crpsDrift": ("crps", "crpsDrift"),
        "mae/maeNaive": ("mae", "maeNaive"),
        "mae/maeDrift": ("mae", "maeDrift"),
    }.items():
        print(f"{ratio}: {mean[a] / mean[b]:.4f} (means over steps)")


def print_confidence(confidence: dict) -> None:
    """Reliability buckets and ECE of the served and raw confidence."""
    print(f"confidence ECE served {confidence['ece']:.4f}, raw {confidence['eceRaw']:.4f}")
    print("| bucket | served stated | hit rate | count | raw stated | hit rate | count |")
    print("|---|---|---|---|---|---|---|")
    for b, r in zip(confidence["buckets"], confidence["bucketsRaw"], strict=True):
        cells = [_fmt(b["stated"]), _fmt(b["hitRate"]), str(b["count"])]
        cells += [_fmt(r["stated"]), _fmt(r["hitRate"]), str(r["count"])]
        print(f"| {b['lower']:.1f}-{b['upper']:.1f} | " + " | ".join(cells) + " |")


def main() -> None:
    """Read the ledger, print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--days", type=float, default=60)
    parser.add_argument("--symbol", default="ALL")
    parser.add_argument("--interval", default="1h")
    parser.add_argument("--data", type=Path, default=Path("../shared/data/ohlcv"))
    parser.add_argument("--now", default=None, help="ISO time instead of the files' now")
    args = parser.parse_args()
    now = pd.Timestamp(args.now, tz="UTC") if args.now else files_now(args.data, args.interval)
    ledger = Ledger.open(args.url)
    acc = accuracy(ledger, args.symbol, args.interval, args.days, now.to_pydatetime())
    print(f"{args.symbol} {acc['from']} .. {acc['to']}: {acc['scored']} scored forecasts")
    print_steps(acc["steps"])
    print_confidence(acc["confidence"])


if __name__ == "__main__":
    main()
