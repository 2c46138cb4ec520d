"""Rolling-origin backtests of forecasters on candle files, with conformal band calibration.

Every forecaster shares one protocol, ``predict(series, horizon, *, samples, seed)`` returning
one :class:`~kronos_runner.Forecast` per series. Windows whose origin (first forecast candle)
falls before ``calibrate_until`` fit a :class:`BandCalibration` per forecaster; the later ones
are scored, raw and calibrated. Run ``python -m kronos_runner.backtest --help``.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from tqdm.auto import tqdm

from data_sources.candle_files import load_candle_dir
from forecasting.baselines import Drift, FallbackForecaster, Forecaster, NaiveLastPrice
from forecasting.calibration import BandCalibration
from forecasting.candles import candle_timestamps, future_index
from forecasting.forecast import CLOSE, Forecast
from forecasting.gaps import DEFAULT_MAX_FILL, infer_step, regularise
from forecasting.metrics import (
    absolute_error,
    absolute_percentage_error,
    central_band,
    covered,
    crps_from_samples,
    direction_hits,
)
from forecasting.summary import classify_trend, reference_step
from kronos_runner.pipeline import KronosPipeline
from kronos_runner.threads import set_process_threads

LEVELS = (0.8, 0.9)


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


@dataclass
class Window:
    """One forecast origin: the context before it (regularised by the gap rule, ``filled``
    candles filled) and the true closes after it."""

    symbol: str
    origin: pd.Timestamp
    truth_end: pd.Timestamp
    context: pd.DataFrame
    truth: np.ndarray
    last: float
    filled: int = 0


@dataclass(frozen=True)
class SkippedWindow:
    """An origin that was not forecast, and why."""

    symbol: str
    origin: pd.Timestamp
    reason: str


class Windows(list):
    """The windows of a backtest (a list of :class:`Window`) and the origins ``skipped``."""

    def __init__(self, windows: Sequence[Window] = (), skipped: Sequence[SkippedWindow] = ()):
        super().__init__(windows)
        self.skipped = list(skipped)

    @property
    def filled(self) -> int:
        """How many windows had candles filled in their context."""
        return sum(1 for w in self if w.filled)


@dataclass(frozen=True)
class GapRule:
    """The gap rule's limits for one series (``forecasting.gaps``) and its candle spacing."""

    step: pd.Timedelta
    max_fill: int
    min_length: int


def _window(
    symbol: str, df: pd.DataFrame, origin: int, lookback: int, horizon: int, gap_rule: GapRule
) -> Window | SkippedWindow:
    """The window at row ``origin``, or why it is skipped: truth spanning a gap (never scored
    against shifted candles), or a context the gap rule cannot make regular."""
    ts = df["timestamp"]
    step = gap_rule.step
    expected = ts.iloc[origin - 1] + step * np.arange(1, horizon + 1)
    truth_ts = pd.DatetimeIndex(ts.iloc[origin : origin + horizon])
    if not truth_ts.equals(pd.DatetimeIndex(expected)):
        missing = int((truth_ts[-1] - expected[-1]) / step) if len(truth_ts) else horizon
        return SkippedWindow(
            symbol, ts.iloc[origin], f"truth spans a gap ({missing} candle(s) missing)"
        )
    context, result = regularise(
        df.iloc[origin - lookback : origin],
        max_fill=gap_rule.max_fill,
        min_length=gap_rule.min_length,
        step=step,
    )
    if not result.ok:
        return SkippedWindow(symbol, ts.iloc[origin], f"context: {result.reason}")
    close = df["close"].to_numpy(dtype=float)
    return Window(
        symbol=symbol,
        origin=ts.iloc[origin],
        truth_end=ts.iloc[origin + horizon - 1],
        context=context,
        truth=close[origin : origin + horizon],
        last=close[origin - 1],
        filled=result.filled,
    )


def rolling_windows(
    frames: dict[str, pd.DataFrame],
    start: pd.Timestamp,
    lookback: int,
    horizon: int,
    stride: int,
    end: pd.Timestamp | None = None,
    *,
    max_fill: int = DEFAULT_MAX_FILL,
    min_context: int | None = None,
) -> Windows:
    """Origins every ``stride`` candles from ``start`` (to ``end``), each with ``lookback``
    candles of context and ``horizon`` candles of truth inside the file.

    Contexts with gaps are regularised by the gap rule (at most ``max_fill`` filled candles,
    else the recent regular stretch if it has ``min_context`` candles, default ``lookback``
    // 2); origins whose truth spans a gap or whose context cannot be used are skipped.
    """
    min_length = max(1, lookback // 2) if min_context is None else min_context
    windows = Windows()
    for symbol, df in frames.items():
        ts = df["timestamp"]
        rule = GapRule(infer_step(ts), max_fill, min(min_length, lookback))
        first = max(int(np.searchsorted(ts, start)), lookback)
        last = len(df) - horizon if end is None else int(np.searchsorted(ts, end))
        for origin in range(first, min(last, len(df) - horizon) + 1, stride):
            window = _window(symbol, df, origin, lookback, horizon, rule)
            (windows if isinstance(window, Window) else windows.skipped).append(window)
    return windows


def run_forecaster(
    forecaster: Forecaster,
    windows: Sequence[Window],
    horizon: int,
    *,
    samples: int,
    seed: int,
    batch_size: int = 16,
    desc: str = "",
    inspect: Callable[[Window, Forecast], Any] | None = None,
) -> tuple[np.ndarray, list[Any]]:
    """Close paths (windows, samples, horizon) of one forecaster over all windows, in batches,
    and ``inspect(window, forecast)`` of each forecast when given."""
    out, inspected = [], []
    starts = range(0, len(windows), batch_size)
    for i, b in enumerate(tqdm(starts, desc=desc, unit="batch", leave=False)):
        batch = windows[b : b + batch_size]
        try:
            forecasts = forecaster.forecast(
                [w.context for w in batch], horizon, samples=samples, seed=seed + i
            )
        except Exception as exc:
            where = ", ".join(f"{w.symbol} {w.origin:%Y-%m-%d %H:%M}" for w in batch)
            raise RuntimeError(
                f"{desc or 'forecast'} failed for the windows at {where}: {exc}"
            ) from exc
        out.extend(np.asarray(f.paths)[:, :, CLOSE] for f in forecasts)
        if inspect is not None:
            inspected.extend(inspect(w, f) for w, f in zip(batch, forecasts, strict=True))
    return np.stack(out), inspected


def step_metrics(
    paths: np.ndarray,
    truth: np.ndarray,
    last: np.ndarray,
    calibration: BandCalibration | None = None,
    levels: Sequence[float] = LEVELS,
) -> dict[str, np.ndarray]:
    """Per-step means over windows: mae, mape, direction, crps, and for each level coverage
    and width (percent of the last close), raw and (when given a calibration) calibrated."""
    point = paths.mean(axis=1)
    result = {
        "mae": absolute_error(point, truth).mean(axis=0),
        "mape": absolute_percentage_error(point, truth).mean(axis=0),
        "direction": direction_hits(point, truth, last).mean(axis=0),
        "crps": crps_from_samples(paths, truth).mean(axis=0),
    }
    for level in levels:
        pct = round(100 * level)
        bands = {"raw": central_band(paths, level)}
        if calibration is not None:
            bands["cal"] = calibration.adjust(*bands["raw"], level)
        for kind, (low, high) in bands.items():
            result[f"cov{pct}_{kind}"] = covered(low, high, truth).mean(axis=0)
            result[f"width{pct}_{kind}"] = (100 * (high - low) / last[:, None]).mean(axis=0)
    return result


def confidence_buckets(
    confidence: np.ndarray,
    hit: np.ndarray,
    edges: Sequence[float] = (0.0, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 1.0),
) -> list[dict[str, float]]:
    """Forecasts bucketed by stated confidence: count, mean confidence and hit rate per bucket."""
    confidence = np.asarray(confidence, dtype=float)
    hit = np.asarray(hit, dtype=float)
    index = np.clip(np.digitize(confidence, edges[1:-1]), 0, len(edges) - 2)
    rows = []
    for b in range(len(edges) - 1):
        mask = index == b
        rows.append(
            {
                "bucket": f"{edges[b]:.2f}-{edges[b + 1]:.2f}",
                "n": int(mask.sum()),
                "mean_confidence": float(confidence[mask].mean()) if mask.any() else math.nan,
                "hit_rate": float(hit[mask].mean()) if mask.any() else math.nan,
            }
        )
    return rows


def service_confidence(threshold: float, window: Window, forecast: Forecast) -> tuple[float, float]:
    """The service's stated ``confidence`` for a forecast (the share of paths agreeing with its
    trend call, ``forecasting.summary``) and 1.0 if that trend call came true."""
    closes = np.asarray(forecast.paths)[:, :, CLOSE]
    step = reference_step(closes.shape[1])
    trend, confidence = classify_trend(closes[:, step], window.last, threshold)
    actual, _ = classify_trend(window.truth[step : step + 1], window.last, threshold)
    return confidence, float(trend == actual)


@dataclass
class BacktestResult:
    """Everything a backtest produced: the scored windows, paths and per-step metric rows."""

    windows: list[Window]
    paths: dict[str, np.ndarray]
    calibrations: dict[str, BandCalibration]
    rows: list[dict[str, Any]]
    confidence: dict[str, list[dict[str, float]]]
    seconds: dict[str, float]
    skipped: list[SkippedWindow] = field(default_factory=list)

    @property
    def filled(self) -> int:
        """How many scored windows had candles filled in their context."""
        return sum(1 for w in self.windows if w.filled)


def run_backtest(
    forecasters: dict[str, Forecaster],
    frames: dict[str, pd.DataFrame],
    *,
    start: pd.Timestamp,
    calibrate_until: pd.Timestamp | None = None,
    lookback: int = 256,
    horizon: int = 24,
    stride: int = 24,
    samples: int = 20,
    seed: int = 0,
    batch_size: int = 16,
    levels: Sequence[float] = LEVELS,
    trend_threshold: float | None = None,
    max_fill: int = DEFAULT_MAX_FILL,
    min_context: int | None = None,
) -> BacktestResult:
    """Forecast every window with every forecaster, calibrate bands on the windows whose truth
    ends before ``calibrate_until`` and score the windows from ``calibrate_until`` on.

    With ``trend_threshold`` the service's stated confidence is checked too: forecasts are
    bucketed by it and each bucket's hit rate of the trend call reported. Gaps: see
    :func:`rolling_windows` (``result.skipped`` lists the origins left out and why).
    """
    every = rolling_windows(
        frames, start, lookback, horizon, stride, max_fill=max_fill, min_context=min_context
    )
    if calibrate_until is None:
        calib, scored = [], every
    else:
        calib = [w for w in every if w.truth_end < calibrate_until]
        scored = [w for w in every if w.origin >= calibrate_until]
    if not scored:
        raise ValueError("no windows to score: check --start/--calibrate-until against the data")
    truth = np.stack([w.truth for w in scored])
    last = np.array([w.last for w in scored])
    result = BacktestResult(scored, {}, {}, [], {}, {}, every.skipped)
    for name, forecaster in forecasters.items():
        began = time.perf_counter()
        if calib:
            cal_paths, _ = run_forecaster(
                forecaster,
                calib,
                horizon,
                samples=samples,
                seed=seed,
                batch_size=batch_size,
                desc=f"{name} (calibration)",
            )
            result.calibrations[name] = BandCalibration.fit(
                cal_paths,
                np.stack([w.truth for w in calib]),
                levels,
                metadata={
                    "forecaster": name,
                    "samples": samples,
                    "lookback": lookback,
                    "first_origin": str(calib[0].origin),
                    "calibrate_until": str(calibrate_until),
                },
            )
        paths, confidence = run_forecaster(
            forecaster,
            scored,
            horizon,
            samples=samples,
            seed=seed + 10**6,
            batch_size=batch_size,
            desc=name,
            inspect=None
            if trend_threshold is None
            else partial(service_confidence, trend_threshold),
        )
        result.seconds[name] = time.perf_counter() - began
        result.paths[name] = paths
        if confidence:
            result.confidence[name] = confidence_buckets(*np.array(confidence).T)
        symbols = np.array([w.symbol for w in scored])
        for symbol in ["ALL", *sorted(set(symbols))]:
            mask = np.ones(len(scored), bool) if symbol == "ALL" else symbols == symbol
            metrics = step_metrics(
                paths[mask], truth[mask], last[mask], result.calibrations.get(name), levels
            )
            for step in range(horizon):
                result.rows.append(
                    {
                        "forecaster": name,
                        "symbol": symbol,
                        "step": step + 1,
                        "n_windows": int(mask.sum()),
                    }
                    | {k: float(v[step]) for k, v in metrics.items()}
                )
    return result


def summary_table(result: BacktestResult, steps: Sequence[int] = (1, 6, 24)) -> pd.DataFrame:
    """The headline table: all symbols together, the chosen horizon steps."""
    df = pd.DataFrame(result.rows)
    df = df[(df["symbol"] == "ALL") & df["step"].isin(steps)]
    columns = ["forecaster", "step", "mae", "mape", "direction", "crps"]
    columns += [c for c in df.columns if c.startswith("cov")]
    return df[columns].reset_index(drop=True)


def confidence_table(result: BacktestResult) -> pd.DataFrame:
    """The confidence check of every forecaster as one table."""
    return pd.DataFrame(
        [{"forecaster": name} | row for name, rows in result.confidence.items() for row in rows]
    )


def to_markdown(df: pd.DataFrame, digits: int = 3) -> str:
    """A GitHub markdown table of a DataFrame (floats to ``digits`` significant digits)."""

    def cell(v: Any) -> str:
        return f"{v:.{digits}g}" if isinstance(v, float) else str(v)

    lines = ["| " + " | ".join(df.columns) + " |", "|" + " --- |" * len(df.columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join(lines)


def plot_fan_chart(result: BacktestResult, index: int, path: Path, history: int = 72) -> None:
    """One window: the last ``history`` closes, the truth, and each forecaster's median with
    raw 80%/90% bands (shaded) and calibrated 90% band (dashed)."""
    window = result.windows[index]
    past = window.context.tail(history)
    future = future_index(candle_timestamps(window.context), len(window.truth))
    names = list(result.paths)
    fig = Figure(figsize=(10, 3 * len(names)))
    axes = fig.subplots(len(names), 1, squeeze=False)
    for ax, name in zip(axes[:, 0], names, strict=True):
        paths = result.paths[name][index][None]
        ax.plot(past["timestamp"], past["close"], color="black", lw=1, label="history")
        ax.plot(future, window.truth, color="black", lw=1.5, ls=":", label="actual")
        ax.plot(future, np.median(paths[0], axis=0), color="C0", label="median")
        for level, alpha in ((0.9, 0.15), (0.8, 0.3)):
            low, high = central_band(paths, level)
            ax.fill_between(future, low[0], high[0], color="C0", alpha=alpha, label=f"{level:.0%}")
        if name in result.calibrations and 0.9 in result.calibrations[name].levels:
            low, high = result.calibrations[name].adjust(*central_band(paths, 0.9), 0.9)
            ax.plot(future, low[0], "C3--", lw=1, label="90% calibrated")
            ax.plot(future, high[0], "C3--", lw=1)
        ax.set_title(f"{name}: {window.symbol} from {window.origin:%Y-%m-%d %H:%M} UTC")
        ax.legend(loc="upper left", fontsize=7, ncol=3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def plot_coverage(result: BacktestResult, path: Path, levels: Sequence[float] = LEVELS) -> None:
    """Empirical coverage by horizon step, raw (solid) and calibrated (dashed), per level."""
    df = pd.DataFrame(result.rows)
    df = df[df["symbol"] == "ALL"]
    fig = Figure(figsize=(6 * len(levels), 4))
    axes = fig.subplots(1, len(levels), squeeze=False)
    for ax, level in zip(axes[0], levels, strict=True):
        pct = round(100 * level)
        for i, (name, group) in enumerate(df.groupby("forecaster", sort=False)):
            ax.plot(group["step"], group[f"cov{pct}_raw"], color=f"C{i}", label=f"{name} raw")
            if f"cov{pct}_cal" in group and group[f"cov{pct}_cal"].notna().all():
                ax.plot(
                    group["step"],
                    group[f"cov{pct}_cal"],
                    color=f"C{i}",
                    ls="--",
                    label=f"{name} calibrated",
                )
        ax.axhline(level, color="grey", lw=1)
        ax.set(title=f"{pct}% band", xlabel="horizon step", ylabel="coverage", ylim=(0, 1.02))
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def write_outputs(
    result: BacktestResult, out: Path, config: dict[str, Any], steps: Sequence[int]
) -> pd.DataFrame:
    """metrics.csv, metrics.json, calibration_<forecaster>.json and the two plots into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(result.rows).to_csv(out / "metrics.csv", index=False)
    table = summary_table(result, steps)
    report = {
        "config": config,
        "n_windows": len(result.windows),
        "filled_windows": result.filled,
        "skipped_windows": len(result.skipped),
        "skipped": [
            {"symbol": w.symbol, "origin": str(w.origin), "reason": w.reason}
            for w in result.skipped
        ],
        "seconds": result.seconds,
        "calibration_windows": {k: c.n_windows for k, c in result.calibrations.items()},
        "summary": table.to_dict(orient="records"),
        "confidence": result.confidence,
        "rows": result.rows,
    }
    (out / "metrics.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
    for name, cal in result.calibrations.items():
        cal.save(out / f"calibration_{name}.json")
    plot_fan_chart(result, config["plot_window"], out / "fan_chart.png")
    plot_coverage(result, out / "coverage.png")
    return table


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
