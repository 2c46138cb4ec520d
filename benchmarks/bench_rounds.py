"""Benchmark scheduled rounds: forecasts per core-hour at Kronos-small size on CPU, by the
number of series sent per runner call (LEDGER_CHUNK_SYMBOLS) (not a test).

Usage, from the repository root:
    python -m benchmarks.bench_rounds [--symbols 16] [--chunks 1,8,16] [--threads N]
Random weights of Kronos-small's official sizes (`bench_generate.build`, float32), the runner
core in this process (no HTTP), the files source over copies of the shared hourly candles under
`symbols` names (ASSETS=all), a fresh SQLite ledger per chunk size and one upkeep round with
LEDGER_SCHEDULE=1h and the default parameters (30 paths, 24 steps, 400 candles of context).
Prints a markdown table: chunk size, runner calls, round seconds (wall and this process's CPU),
forecasts per wall hour, per core-hour of wall time (cores = torch threads) and per CPU-hour the
process used (the figure that holds on a machine shared with other work). bfloat16 is tried
only where the CPU has AVX512-BF16/AMX.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import tempfile
import time
from pathlib import Path

from benchmarks.bench_generate import CASES, OHLCV, build
from data_sources import MarketDataSettings
from forecast_api.app import build_services
from forecast_api.settings import ServiceSettings
from kronos_runner.packing import cpu_has_bf16
from kronos_runner.runner import RunnerCore
from kronos_runner.threads import set_process_threads
from kronos_runner.wire import RunnerItem, RunnerResult, RunnerStatus

CASE = CASES["1x30"]  # Kronos-small, Tokenizer-base, 400 candles of context


class InProcessRunner:
    """The API's runner client over a `RunnerCore` in this process, counting its calls."""

    def __init__(self, core: RunnerCore) -> None:
        self.core = core
        self.calls: list[int] = []

    async def forecast(self, items: list[RunnerItem]) -> list[RunnerResult]:
        """One batch in a worker thread."""
        self.calls.append(len(items))
        return await asyncio.to_thread(self.core.forecast, items)

    async def status(self) -> RunnerStatus:
        """The core's state."""
        return self.core.status()


def market_dir(directory: Path, count: int) -> None:
    """`count` hourly candle files S00, S01, ... copied from the shared ones in turn."""
    sources = sorted(OHLCV.glob("*_1h.csv"))
    for i in range(count):
        shutil.copy(sources[i % len(sources)], directory / f"S{i:02d}_1h.csv")


async def one_round(core: RunnerCore, directory: Path, chunk: int) -> tuple[int, int, float, float]:
    """(forecasts made, runner calls, wall seconds, CPU seconds) of one upkeep round on a fresh
    ledger."""
    settings = ServiceSettings(
        _env_file=None,
        kronos_model=CASE.model,
        ledger_url=f"sqlite:///{directory / f'ledger-{chunk}.db'}",
        ledger_schedule=["1h"],
        ledger_chunk_symbols=chunk,
        kronos_timeout=3600.0,
        market=MarketDataSettings(
            _env_file=None, market_data_source="files", market_data_dir=directory, assets="all"
        ),
    )
    runner = InProcessRunner(core)
    services = build_services(settings, runner)
    assert services.ledger is not None
    began, cpu = time.perf_counter(), time.process_time()
    await services.ledger.round()
    elapsed, cpu = time.perf_counter() - began, time.process_time() - cpu
    if services.ledger.state.last_error:
        raise SystemExit(f"round failed: {services.ledger.state.last_error}")
    await services.ledger.link.writer.flush()
    await services.health.monitor.stop()
    return services.ledger.state.scheduled, len(runner.calls), elapsed, cpu


def main() -> None:
    """One round per chunk size; the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--symbols", type=int, default=16)
    parser.add_argument("--chunks", default="1,8,16")
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    args = parser.parse_args()
    cores = set_process_threads(args.threads)
    dtypes = ["float32", *(["bfloat16"] if cpu_has_bf16() else [])]
    print(f"{cores} torch threads; bfloat16: {'yes' if len(dtypes) > 1 else 'n/a on this CPU'}")
    print(
        "| dtype | chunk | symbols | runner calls | round s | CPU s | forecasts / h "
        "| per core-hour | per CPU-hour |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        market_dir(directory, args.symbols)
        for dtype in dtypes:
            status = RunnerStatus(loaded=True, modelId=CASE.model, tokenizerId=CASE.tokenizer)
            core = RunnerCore(build(CASE, dtype), status)
            for chunk in (int(c) for c in args.chunks.split(",")):
                made, calls, seconds, cpu = asyncio.run(one_round(core, directory, chunk))
                rate = made / seconds * 3600
                print(
                    f"| {dtype} | {chunk} | {made} | {calls} | {seconds:.1f} | {cpu:.1f} | "
                    f"{rate:.0f} | {rate / cores:.0f} | {made / cpu * 3600:.0f} |"
                )


if __name__ == "__main__":
    main()
