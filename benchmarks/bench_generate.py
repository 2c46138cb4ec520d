"""Benchmark Kronos generation with random weights of the official sizes (not a test).

Usage, from the repository root:
    python -m benchmarks.bench_generate [--repeats 5] [--threads N] [--cases 1x30,8x30,...]
        [--dtypes float32,bfloat16] [--max-rows 128]
Prints the hardware probe (matmul GFLOP/s, memory GB/s) and a markdown table: per case and
dtype the min and median wall seconds per predict call, a floor estimate (per phase the max of
FLOPs / peak and bytes / bandwidth, summed), peak RSS and whether the same seed gave the same
paths twice.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from data_sources.candle_files import read_candle_file as read_candles
from kronos_runner.model import Kronos
from kronos_runner.packing import cpu_has_bf16, pack_for_inference
from kronos_runner.pipeline import KronosPipeline
from kronos_runner.threads import set_process_threads
from kronos_runner.tokenizer import KronosTokenizer

SHARED = Path(__file__).resolve().parents[1] / ".." / "shared"
REFERENCE = SHARED / "kronos-reference" / "official_checkpoints.json"
OHLCV = SHARED / "data" / "ohlcv"
HORIZON, SAMPLES = 24, 30


@dataclass(frozen=True)
class Case:
    """One benchmark case: model size, series count and context length."""

    name: str
    model: str  # official checkpoint id (its config.json gives the sizes)
    tokenizer: str
    series: int
    context: int
    max_context: int = 512


CASES = {
    "1x30": Case("small 1 x 400 -> 24 x 30", "NeoQuasar/Kronos-small", "Tokenizer-base", 1, 400),
    "8x30": Case("small 8 x 400 -> 24 x 30", "NeoQuasar/Kronos-small", "Tokenizer-base", 8, 400),
    "mini": Case(
        "mini 1 x 2000 -> 24 x 30", "NeoQuasar/Kronos-mini", "Tokenizer-2k", 1, 2000, 2048
    ),
    "base": Case("base 1 x 400 -> 24 x 30", "NeoQuasar/Kronos-base", "Tokenizer-base", 1, 400),
}


def series_for(case: Case) -> list[pd.DataFrame]:
    """The last ``context`` candles of ``series`` different symbols from the shared data."""
    files = sorted(OHLCV.glob("*_1h.csv"))[: case.series]
    if len(files) < case.series:
        raise SystemExit(f"need {case.series} candle files in {OHLCV}")
    return [read_candles(f).iloc[-case.context :].reset_index(drop=True) for f in files]


def build(case: Case, dtype: str, max_rows: int | None = None) -> KronosPipeline:
    """Random weights of the case's official sizes, loaded as the runner loads them."""
    facts = json.loads(REFERENCE.read_text())
    torch.manual_seed(0)
    model = Kronos(**facts[case.model]["config.json"])
    tokenizer = KronosTokenizer(**facts[f"NeoQuasar/Kronos-{case.tokenizer}"]["config.json"])
    return KronosPipeline.from_pretrained(
        model,
        tokenizer,
        device="cpu",
        dtype=dtype,
        max_context=case.max_context,
        release_weights=True,
        max_rows=max_rows,
    )


def timed(fn: Callable[[], object], repeats: int) -> list[float]:
    """Wall seconds of ``repeats`` calls of fn after one warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@dataclass(frozen=True)
class Hardware:
    """Measured peaks: matmul FLOP/s per dtype and memory bandwidth (bytes/s)."""

    flops: dict[str, float]
    bandwidth: float


def linear_flops(dtype: torch.dtype) -> float:
    """Best FLOP/s of a 256 x 512 -> 2048 Linear, its weight packed as the runner packs it."""
    lin = torch.nn.Linear(512, 2048, bias=False).eval().to(dtype)
    pack_for_inference(lin)
    x = torch.randn(256, 512, dtype=dtype)
    with torch.inference_mode():
        best = min(timed(lambda: [lin(x) for _ in range(10)], 5)) / 10
    return 2 * 256 * 512 * 2048 / best


def probe(dtypes: list[str]) -> Hardware:
    """Linear FLOP/s per dtype and the best read+write rate of copying 256 MiB."""
    flops = {name: linear_flops(getattr(torch, name)) for name in dtypes}
    src = torch.empty(64 * 2**20)
    dst = torch.empty_like(src)
    best = min(timed(lambda: dst.copy_(src), 5))
    return Hardware(flops, 2 * src.numel() * 4 / best)


def linear_params(module: torch.nn.Module) -> int:
    """Weights of the Linear layers (those a forward multiplies by for every token)."""
    return sum(m.weight.numel() for m in module.modules() if isinstance(m, torch.nn.Linear))


def floor_seconds(pipe: KronosPipeline, case: Case, dtype: str, hw: Hardware) -> float:
    """Per phase max(FLOPs / peak, bytes / bandwidth), summed: tokenizer encode, prefill, the
    decode steps (every row one token; all weights and the KV cache read once per step) and
    tokenizer decode. Attention over the context is counted; norms, sampling and op overhead
    are not, so this is a lower bound."""
    size = 2 if dtype == "bfloat16" else 4
    peak = hw.flops[dtype]
    model, tok = pipe.model, pipe.tokenizer
    p_model, p_tok = linear_params(model), linear_params(tok)
    d, layers = model.d_model, len(model.transformer)
    n, t, rows = case.series, min(case.context, case.max_context), case.series * SAMPLES

    def phase(flops: float, nbytes: float) -> float:
        return max(flops / peak, nbytes / hw.bandwidth)

    encode = phase(2 * p_tok / 2 * n * case.context, p_tok * size)  # encoder half of the weights
    prefill = phase(n * (2 * p_model * t + layers * 2 * t * t * d), p_model * size)
    kv = layers * 2 * (n * t + rows * HORIZON / 2) * d * size  # keys + values read per step
    step_flops = rows * (2 * p_model + layers * 4 * (t + HORIZON / 2) * d)
    decode = HORIZON * phase(step_flops, p_model * size + kv)
    detok = phase(2 * p_tok / 2 * (n * t + rows * HORIZON), p_tok * size)
    return encode + prefill + decode + detok


def run_case(
    case: Case, dtype: str, repeats: int, hw: Hardware, max_rows: int | None = None
) -> str:
    """One table row: load seconds, min/median wall seconds, floor, peak RSS, same paths."""
    if dtype == "bfloat16" and not cpu_has_bf16():
        return f"| {case.name} | {dtype} | n/a: this CPU has no AVX512-BF16/AMX | | | | | |"
    began = time.perf_counter()
    pipe = build(case, dtype, max_rows)
    load = time.perf_counter() - began
    series = series_for(case)
    paths: list[np.ndarray] = []

    def call() -> None:
        out = pipe.predict(series, HORIZON, samples=SAMPLES, seed=list(range(len(series))))
        paths.append(np.stack([f.paths for f in out]))

    times = timed(call, repeats)
    same = all(np.array_equal(paths[0], p) for p in paths[1:])
    floor = floor_seconds(pipe, case, dtype, hw)
    return (
        f"| {case.name} | {dtype} | {load:.2f} | {min(times):.3f} | "
        f"{statistics.median(times):.3f} | {floor:.3f} | {peak_rss_mb():.0f} MiB | {same} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--cases", default="1x30,8x30,mini,base", help=",".join(CASES))
    parser.add_argument("--dtypes", default="float32,bfloat16")
    parser.add_argument("--max-rows", type=int, default=None, help="rows per pass (default 128)")
    args = parser.parse_args()
    threads = set_process_threads(args.threads)
    dtypes = args.dtypes.split(",")
    hw = probe([d for d in dtypes if d == "float32" or cpu_has_bf16()])
    print(
        f"torch {torch.__version__}, {threads} threads, CPU capability "
        f"{torch.backends.cpu.get_cpu_capability()}, bf16 native: {cpu_has_bf16()}; probe: "
        + ", ".join(f"{k} {v / 1e9:.0f} GFLOP/s" for k, v in hw.flops.items())
        + f", memory {hw.bandwidth / 1e9:.1f} GB/s; {args.repeats} calls after a warm-up; "
        f"1-min load average at the start: {os.getloadavg()[0]:.2f}\n"
    )
    print(
        "| case | dtype | load s (incl. packing) | min s | median s | floor s "
        "| peak RSS so far | same seed, same paths |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for key in args.cases.split(","):
        for dtype in dtypes:
            print(run_case(CASES[key], dtype, args.repeats, hw, args.max_rows), flush=True)
    print(f"\n1-min load average at the end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
