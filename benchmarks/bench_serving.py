"""Serving benchmark (not a test): concurrent distinct-symbol forecasts, batching on vs off.

Against a running server:
    python benchmarks/bench_serving.py --url http://127.0.0.1:5000
Or let it start `bentoml serve` twice (KRONOS_BATCHING=true, then false) on the files source
with random weights of the official Kronos-small / Tokenizer-base sizes:
    python benchmarks/bench_serving.py --serve --random-small /tmp/kronos-small-random \
        --data-dir ../shared/data/ohlcv

Each round sends one uncached request per client at once (distinct symbols, a fresh seed per
round so nothing is served from the prediction cache) and waits for all. It prints the median
round time, throughput and p50/p95/p99 request latency, the latency of single requests, the
p50 of a repeated (cached) /api/predict, and the runner worker's peak RSS (VmHWM) when the
server runs on this machine. The default of 30 paths is the service's own default.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np

REPO = Path(__file__).absolute().parents[1]
SYMBOLS = ("BTC", "ETH", "BNB", "SOL", "XRP", "ADA", "DOGE", "DOT")


@dataclass
class Result:
    """Figures of one server configuration."""

    label: str
    round_median_s: float
    throughput_rps: float
    latencies_s: list[float]
    single_median_s: float
    cached_p50_ms: float
    runner_peak_mib: float


def make_random_small(out: Path, reference: Path) -> tuple[Path, Path]:
    """Save random weights of the official Kronos-small and Kronos-Tokenizer-base configs."""
    import torch

    from kronos_runner.model import Kronos
    from kronos_runner.tokenizer import KronosTokenizer

    facts = json.loads((reference / "official_checkpoints.json").read_text())
    torch.manual_seed(0)
    model_dir, tokenizer_dir = out / "model", out / "tokenizer"
    if not (model_dir / "config.json").exists():
        Kronos(**facts["NeoQuasar/Kronos-small"]["config.json"]).save_pretrained(model_dir)
    if not (tokenizer_dir / "config.json").exists():
        config = facts["NeoQuasar/Kronos-Tokenizer-base"]["config.json"]
        KronosTokenizer(**config).save_pretrained(tokenizer_dir)
    return model_dir, tokenizer_dir


async def request(
    client: httpx.AsyncClient, symbol: str, seed: int, args: argparse.Namespace
) -> float:
    """One /api/predict; returns its latency in seconds (fails on errors or fallback answers)."""
    params = {"symbol": symbol, "seed": seed, "horizon": args.horizon, "samples": args.samples}
    start = time.perf_counter()
    response = await client.get("/api/predict", params=params)
    elapsed = time.perf_counter() - start
    response.raise_for_status()
    prediction = response.json()["prediction"]
    if prediction["model"] != "kronos":
        raise RuntimeError(f"fallback answer: {prediction['fallbackReason']}")
    return elapsed


def runner_peak_mib(url: str) -> float:
    """Peak RSS (VmHWM, MiB) of the server's runner worker; NaN when it is not on this machine."""
    from tests.local_server import service_workers

    peaks = []
    for worker in service_workers(url, "kronos_runner"):
        with open(f"/proc/{worker.pid}/status") as f:
            fields = dict(line.split(":", 1) for line in f)
        peaks.append(int(fields["VmHWM"].split()[0]) / 1024)
    return max(peaks, default=float("nan"))


async def measure(url: str, label: str, args: argparse.Namespace) -> Result:
    """Warm up, then concurrent rounds, single requests and cached requests."""
    symbols = SYMBOLS[: args.clients]
    seed = 1_000
    async with httpx.AsyncClient(base_url=url, timeout=600) as client:
        for _ in range(args.warmup):
            seed += 1
            await asyncio.gather(*(request(client, s, seed, args) for s in symbols))
        rounds, latencies = [], []
        for _ in range(args.rounds):
            seed += 1
            start = time.perf_counter()
            latencies += await asyncio.gather(*(request(client, s, seed, args) for s in symbols))
            rounds.append(time.perf_counter() - start)
        singles = []
        for _ in range(args.singles):
            seed += 1
            singles.append(await request(client, "BTC", seed, args))
        cached = [await request(client, "BTC", seed, args) for _ in range(args.cached)]
    return Result(
        label=label,
        round_median_s=statistics.median(rounds),
        throughput_rps=len(latencies) / sum(rounds),
        latencies_s=latencies,
        single_median_s=statistics.median(singles),
        cached_p50_ms=1000 * statistics.median(cached),
        runner_peak_mib=runner_peak_mib(url),
    )


def table(results: Sequence[Result], args: argparse.Namespace) -> str:
    """A markdown table of the results (and the batching/no-batching ratio when both ran)."""
    lines = [
        f"{args.clients} concurrent clients x {args.rounds} rounds, horizon {args.horizon}, "
        f"{args.samples} paths, warm-up {args.warmup} rounds; load: {os.getloadavg()[0]:.2f}",
        "",
        "| mode | round median (s) | throughput (req/s) | p50 (s) | p95 (s) | p99 (s) "
        "| single request (s) | cached p50 (ms) | runner peak RSS (MiB) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in results:
        p50, p95, p99 = np.percentile(r.latencies_s, [50, 95, 99])
        lines.append(
            f"| {r.label} | {r.round_median_s:.2f} | {r.throughput_rps:.2f} | {p50:.2f} "
            f"| {p95:.2f} | {p99:.2f} | {r.single_median_s:.2f} | {r.cached_p50_ms:.1f} "
            f"| {r.runner_peak_mib:.0f} |"
        )
    if len(results) == 2:
        ratio = results[0].round_median_s / results[1].round_median_s
        lines += ["", f"batching on / off round time: {ratio:.2f}x"]
    return "\n".join(lines)


def serve_and_measure(args: argparse.Namespace) -> list[Result]:
    """Start the service with batching on, then off, and measure each."""
    from tests.local_server import bentoml_server

    model_dir, tokenizer_dir = make_random_small(args.random_small, args.reference)
    results = []
    for batching in ("true", "false"):
        env = {
            "MARKET_DATA_SOURCE": "files",
            "MARKET_DATA_DIR": str(args.data_dir),
            "KRONOS_MODEL": str(model_dir),
            "KRONOS_TOKENIZER": str(tokenizer_dir),
            "KRONOS_BATCHING": batching,
            "KRONOS_MAX_BATCH_SIZE": str(max(args.clients, 1)),
            "DEVICE": "cpu",
        }
        log = Path(tempfile.gettempdir()) / f"bench-serving-{batching}.log"
        with bentoml_server(env, cwd=REPO, log=log, timeout=300) as url:
            label = "adaptive batching" if batching == "true" else "no batching"
            results.append(asyncio.run(measure(url, label, args)))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--url", help="a running server, e.g. http://127.0.0.1:5000")
    target.add_argument("--serve", action="store_true", help="start servers, batching on and off")
    parser.add_argument("--label", default="server", help="row label with --url")
    parser.add_argument("--random-small", type=Path, default=Path("/tmp/kronos-small-random"))
    parser.add_argument(
        "--reference", type=Path, default=REPO / ".." / "shared" / "kronos-reference"
    )
    parser.add_argument("--data-dir", type=Path, default=REPO / ".." / "shared" / "data" / "ohlcv")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--singles", type=int, default=3)
    parser.add_argument("--cached", type=int, default=50)
    parser.add_argument("--horizon", type=int, default=24)
    parser.add_argument("--samples", type=int, default=30)
    args = parser.parse_args()
    os.environ.setdefault("BENTOML_DO_NOT_TRACK", "true")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    results = (
        serve_and_measure(args)
        if args.serve
        else [asyncio.run(measure(args.url, args.label, args))]
    )
    print(table(results, args))


if __name__ == "__main__":
    main()
