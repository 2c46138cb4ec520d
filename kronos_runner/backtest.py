"""Rolling-origin backtests of forecasters on candle files, with conformal band calibration.

Every forecaster shares one protocol, ``predict(series, horizon, *, samples, seed)`` returning
one :class:`~kronos_runner.Forecast` per series. Windows whose origin (first forecast candle)
falls before ``calibrate_until`` fit a :class:`BandCalibration` per forecaster; the later ones
are scored, raw and calibrated. Run ``python -m kronos_runner.backtest --help``.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from data_sources.candle_files import load_candle_dir
from forecasting.baselines import Drift, FallbackForecaster, Forecaster, NaiveLastPrice
from forecasting.forecast import Forecast
from forecasting.gaps import DEFAULT_MAX_FILL
from kronos_runner.backtest_report import confidence_table, to_markdown, write_outputs
from kronos_runner.backtest_scoring import run_backtest
from kronos_runner.pipeline import KronosPipeline
from kronos_runner.threads import set_process_threads


@dataclass
class KronosForecaster:
    """A :class:`KronosPipeline` behind the backtest protocol, with fixed sampling settings."""

    pipeline: KronosPipeline
    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 0.9

    def forecast(
        self, series: list[pd.DataFrame], horizon: int, *, samples: int, seed: int | None
    ) -> list[Forecast]:
        """Sample paths from the pipeline."""
        return self.pipeline.predict(
            series,
            horizon,
            samples=samples,
            seed=seed,
            temperature=self.temperature,
            top_k=self.top_k,
            top_p=self.top_p,
        )


def build_forecasters(args: argparse.Namespace) -> dict[str, Forecaster]:
    """The forecasters named by ``--forecasters``."""
    forecasters: dict[str, Forecaster] = {}
    for name in args.forecasters:
        if name == "kronos":
            pipeline = KronosPipeline.from_pretrained(
                args.model,
                args.tokenizer,
                device=args.device,
                max_context=args.max_context,
                dtype=args.dtype,
            )
            forecasters[name] = KronosForecaster(pipeline, args.temperature, args.top_k, args.top_p)
        elif name == "fallback":
            forecasters[name] = FallbackForecaster()
        elif name == "naive":
            forecasters[name] = NaiveLastPrice()
        elif name == "drift":
            forecasters[name] = Drift()
        else:
            raise SystemExit(f"unknown forecaster {name!r}")
    return forecasters


def _csv_list(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def build_parser(
    prog: str = "python -m kronos_runner.backtest", epilog: str | None = None
) -> argparse.ArgumentParser:
    """The command-line options (``check_args`` validates them once parsed)."""
    p = argparse.ArgumentParser(
        prog=prog,
        description=__doc__,
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--data", required=True, help="directory of <SYMBOL>_<interval> candle files")
    p.add_argument("--interval", default="1h")
    p.add_argument("--symbols", type=_csv_list, default=None, help="e.g. BTC,ETH (default all)")
    p.add_argument(
        "--forecasters",
        type=_csv_list,
        default=["kronos", "fallback", "naive", "drift"],
        help="comma list of kronos, fallback, naive, drift",
    )
    p.add_argument("--model", help="Kronos checkpoint: hub id or save_pretrained directory")
    p.add_argument("--tokenizer", help="tokenizer checkpoint: hub id or directory")
    p.add_argument("--device", default="auto")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default 1)")
    p.add_argument("--dtype", default=None, help="float32 (default) or bfloat16")
    p.add_argument("--max-context", type=int, default=None)
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument("--top-k", type=int, default=0)
    p.add_argument("--top-p", type=float, default=0.9)
    p.add_argument("--start", required=True, help="first forecast origin (UTC date or time)")
    p.add_argument(
        "--calibrate-until",
        default=None,
        help="windows whose truth ends before this calibrate the bands; "
        "windows from it on are scored",
    )
    p.add_argument("--lookback", type=int, default=256, help="context candles per forecast")
    p.add_argument("--horizon", type=int, default=24)
    p.add_argument("--stride", type=int, default=24, help="candles between forecast origins")
    p.add_argument("--samples", type=int, default=20, help="sample paths per forecast")
    p.add_argument(
        "--max-fill",
        type=int,
        default=DEFAULT_MAX_FILL,
        help="missing candles filled per context (flat at the previous close, zero volume)",
    )
    p.add_argument(
        "--min-context",
        type=int,
        default=None,
        help="shortest regular context used past --max-fill (default lookback // 2)",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch-size", type=int, default=16, help="series per predict call")
    p.add_argument(
        "--trend-threshold",
        type=float,
        default=0.005,
        help="the service's TREND_THRESHOLD, for the confidence check (negative: skip it)",
    )
    p.add_argument(
        "--report-steps", type=lambda s: [int(x) for x in _csv_list(s)], default=[1, 6, 24]
    )
    p.add_argument("--plot-window", type=int, default=-1, help="index of the fan-chart window")
    p.add_argument("--out", type=Path, required=True, help="output directory")
    return p


def check_args(p: argparse.ArgumentParser, args: argparse.Namespace) -> argparse.Namespace:
    """Refuse option combinations that cannot run (``p.error`` exits with status 2)."""
    if "kronos" in args.forecasters and not (args.model and args.tokenizer):
        p.error("the kronos forecaster needs --model and --tokenizer")
    return args


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = build_parser()
    return check_args(parser, parser.parse_args(argv))


def main(argv: Sequence[str] | None = None) -> None:
    """Run the backtest and write the table, CSV/JSON, calibrations and plots."""
    run(parse_args(argv))


def run(args: argparse.Namespace) -> None:
    """The backtest ``args`` asks for (see ``build_parser``), its outputs and tables."""
    set_process_threads(args.threads)
    frames = load_candle_dir(args.data, args.interval, args.symbols)
    began = time.perf_counter()
    result = run_backtest(
        build_forecasters(args),
        frames,
        start=pd.Timestamp(args.start, tz="UTC"),
        calibrate_until=pd.Timestamp(args.calibrate_until, tz="UTC")
        if args.calibrate_until
        else None,
        lookback=args.lookback,
        horizon=args.horizon,
        stride=args.stride,
        samples=args.samples,
        seed=args.seed,
        batch_size=args.batch_size,
        trend_threshold=args.trend_threshold if args.trend_threshold >= 0 else None,
        max_fill=args.max_fill,
        min_context=args.min_context,
    )
    for calibration in result.calibrations.values():  # the API applies it at this interval only
        calibration.metadata["interval"] = args.interval
    config = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
    config["seconds_total"] = round(time.perf_counter() - began, 1)
    table = write_outputs(result, args.out, config, args.report_steps)
    print(
        f"{len(result.windows)} scored windows ({result.filled} with filled candles), "
        f"{len(result.skipped)} skipped for gaps; seconds per forecaster: "
        + ", ".join(f"{k} {v:.0f}" for k, v in result.seconds.items())
    )
    print(to_markdown(table))
    if result.confidence:
        print("\nStated confidence vs. hit rate of the trend call (scored windows):")
        print(to_markdown(confidence_table(result)))
    print(f"outputs in {args.out}")


if __name__ == "__main__":
    main()
