"""Replay a cheap numpy forecaster over the shared candles through the ledger (not a test).

Usage, from the repository root:
    python -m benchmarks.bench_replay [--from 2025-10-01] [--every 6h] [--scale 0.5]
        [--url sqlite:////tmp/bench-replay.db] [--days 60]
The forecaster is a random walk with drift whose volatility is `scale` times the context's (a
deliberately overconfident model for scale < 1). Prints the replay's run time (the ledger's own
cost: scoring, calibration, records) and the track record of the last `days`.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd

from forecasting.recalibration import RecalibrationSettings
from ledger.accuracy import accuracy
from ledger.records import RecordMeta
from ledger.replay import replay
from ledger.store import Ledger

OHLCV = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "ohlcv"
SYMBOLS = ["BTC", "ETH", "SOL", "BNB", "XRP", "ADA", "DOGE", "DOT"]


def load(symbol: str) -> pd.DataFrame:
    """One shared candle file, indexed by UTC open time."""
    df = pd.read_csv(OHLCV / f"{symbol}_1h.csv", parse_dates=["timestamp"])
    return df.set_index("timestamp").sort_index()


def forecaster(scale: float, samples: int = 100):
    """forecast_many: lognormal random-walk paths, seeded by each input's last candle."""

    def forecast_many(frames: list[pd.DataFrame], horizon: int) -> list[np.ndarray]:
        out = []
        for df in frames:
            closes = df["close"].to_numpy(dtype=float)
            r = np.diff(np.log(closes))
            rng = np.random.default_rng(int(df.index[-1].timestamp()))
            steps = r.mean() + scale * r.std() * rng.standard_normal((samples, horizon))
            out.append(closes[-1] * np.exp(np.cumsum(steps, axis=1)))
        return out

    return forecast_many


def main() -> None:
    """Replay, then print the track record."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="sqlite:////tmp/bench-replay.db")
    parser.add_argument("--from", dest="start", default="2025-10-01")
    parser.add_argument("--to", dest="end", default="2026-04-15")
    parser.add_argument("--every", default="6h")
    parser.add_argument("--scale", type=float, default=0.5)
    parser.add_argument("--days", type=int, default=60)
    args = parser.parse_args()
    frames = {s: load(s) for s in SYMBOLS}
    ledger = Ledger.open(args.url)
    started = time.perf_counter()
    report = replay(
        ledger,
        frames,
        interval="1h",
        start=pd.Timestamp(args.start, tz="UTC"),
        end=pd.Timestamp(args.end, tz="UTC"),
        every=args.every,
        horizon=24,
        forecast_many=forecaster(args.scale),
        meta_for=lambda s, o: RecordMeta(s, "1h", "replay", "fallback", f"rw-x{args.scale}", 100),
        trend_threshold=0.005,
        settings=RecalibrationSettings(),
    )
    print(f"{report} in {time.perf_counter() - started:.0f} s")
    now = max(df.index[-1] for df in frames.values()) + pd.Timedelta("1h")
    acc = accuracy(ledger, "ALL", "1h", args.days, now)
    print(f"scored {acc['scored']} forecasts, {acc['from']} .. {acc['to']}")
    print("| hour | n | cov80 | cov90 | cov80 raw | cov90 raw | crps skill | crps/drift |")
    print("|---|---|---|---|---|---|---|---|")
    for s in acc["steps"]:
        print(
            f"| {s['hour']} | {s['n']} | {s['coverage80']:.3f} | {s['coverage90']:.3f} | "
            f"{s['coverage80Raw']:.3f} | {s['coverage90Raw']:.3f} | {s['crpsSkill']:.3f} | "
            f"{s['crps'] / s['crpsDrift']:.3f} |"
        )
    mean = {k: np.mean([s[k] for s in acc["steps"]]) for k in ("coverage80", "coverage90")}
    mean |= {k: np.mean([s[k] for s in acc["steps"]]) for k in ("coverage80Raw", "coverage90Raw")}
    print("mean over steps:", {k: round(float(v), 3) for k, v in mean.items()})
    conf = acc["confidence"]
    print(f"confidence ECE {conf['ece']:.3f} (raw {conf['eceRaw']:.3f})")


if __name__ == "__main__":
    main()
