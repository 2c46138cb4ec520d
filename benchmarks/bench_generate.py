"""Benchmark KV-cached vs no-cache generation with random Kronos-small weights (not a test).

Usage, from the repository root:
    python -m benchmarks.bench_generate [--repeats 5] [--nocache-repeats 1] [--threads N]
Prints a markdown table of median seconds per predict call, speedup and peak RSS.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from kronos_runner import Kronos, KronosPipeline, KronosTokenizer
from kronos_runner.threads import set_process_threads

REFERENCE = Path(__file__).resolve().parents[1] / ".." / "shared" / "kronos-reference"
SMALL = "NeoQuasar/Kronos-small"
TOKENIZER = "NeoQuasar/Kronos-Tokenizer-base"
# Used when the shared reference facts are absent: the official config.json values.
SMALL_CONFIG = {
    "attn_dropout_p": 0.1,
    "d_model": 512,
    "ff_dim": 1024,
    "ffn_dropout_p": 0.25,
    "learn_te": True,
    "n_heads": 8,
    "n_layers": 8,
    "resid_dropout_p": 0.25,
    "s1_bits": 10,
    "s2_bits": 10,
    "token_dropout_p": 0.1,
}
TOKENIZER_CONFIG = {
    "attn_dropout_p": 0.0,
    "beta": 0.05,
    "d_in": 6,
    "d_model": 256,
    "ff_dim": 512,
    "ffn_dropout_p": 0.0,
    "gamma": 1.1,
    "gamma0": 1.0,
    "group_size": 4,
    "n_dec_layers": 4,
    "n_enc_layers": 4,
    "n_heads": 4,
    "resid_dropout_p": 0.0,
    "s1_bits": 10,
    "s2_bits": 10,
    "zeta": 0.05,
}


def configs() -> tuple[dict, dict]:
    """Official Kronos-small and Kronos-Tokenizer-base configs."""
    facts = REFERENCE / "official_checkpoints.json"
    if facts.exists():
        data = json.loads(facts.read_text())
        return data[SMALL]["config.json"], data[TOKENIZER]["config.json"]
    return SMALL_CONFIG, TOKENIZER_CONFIG


def candles(n: int, seed: int) -> pd.DataFrame:
    """A random-walk hourly OHLCV frame of n rows."""
    rng = np.random.default_rng(seed)
    close = 40000 * np.exp(np.cumsum(rng.normal(0, 0.005, n)))
    open_ = np.concatenate([[close[0]], close[:-1]])
    spread = np.abs(rng.normal(0, 0.003, n)) * close
    volume = rng.lognormal(5, 0.5, n)
    return pd.DataFrame(
        {
            "timestamp": pd.date_range("2024-01-01", periods=n, freq="h", tz="UTC"),
            "open": open_,
            "high": np.maximum(open_, close) + spread,
            "low": np.minimum(open_, close) - spread,
            "close": close,
            "volume": volume,
            "amount": volume * close,
        }
    )


def median_seconds(fn: Callable[[], None], repeats: int, warmup: bool = True) -> float:
    """Median wall time of fn() over ``repeats`` calls (after one warm-up call if asked)."""
    if warmup:
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--nocache-repeats", type=int, default=1)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()

    set_process_threads(args.threads)
    torch.manual_seed(0)
    model_cfg, tok_cfg = configs()
    pipe = KronosPipeline.from_pretrained(
        Kronos(**model_cfg), KronosTokenizer(**tok_cfg), device="cpu"
    )
    one = [candles(400, 0)]
    mixed = [candles(n, i) for i, n in enumerate(np.linspace(100, 480, 8).astype(int))]
    cases = [("1 series, 400 -> 24 x 5 paths", one), ("8 series, 100..480 -> 24 x 5 paths", mixed)]

    outputs: dict[tuple[str, bool], list[np.ndarray]] = {}

    def run(name: str, series: list[pd.DataFrame], use_cache: bool) -> None:
        forecasts = pipe.predict(series, 24, samples=5, seed=0, use_cache=use_cache)
        outputs[name, use_cache] = [f.paths for f in forecasts]

    cached, rss = {}, {}
    for name, series in cases:
        cached[name] = median_seconds(lambda n=name, s=series: run(n, s, True), args.repeats)
        rss[name] = peak_rss_mb()
    rows = []
    for name, series in cases:
        full = median_seconds(
            lambda n=name, s=series: run(n, s, False), args.nocache_repeats, warmup=False
        )
        same = all(
            np.allclose(a, b, rtol=1e-4, atol=1e-3)
            for a, b in zip(outputs[name, True], outputs[name, False], strict=True)
        )
        rows.append((name, cached[name], full, rss[name], same))

    print(
        f"torch threads: {torch.get_num_threads()}; cached: median of {args.repeats} after a "
        f"warm-up; no cache: median of {args.nocache_repeats}; "
        f"1-min load average at the end: {os.getloadavg()[0]:.2f}\n"
    )
    print(
        "| case | cached median s | no-cache median s | speedup | peak RSS (cached) | same paths |"
    )
    print("| --- | --- | --- | --- | --- | --- |")
    for name, c, f, mem, same in rows:
        print(f"| {name} | {c:.3f} | {f:.2f} | {f / c:.1f}x | {mem:.0f} MiB | {same} |")


if __name__ == "__main__":
    main()
