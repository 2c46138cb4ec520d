"""A backtest's outputs: the summary and confidence tables, markdown, the fan chart and
coverage plots, and the files written (metrics CSV/JSON, calibrations, plots)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from forecasting.candles import candle_timestamps, future_index
from forecasting.metrics import central_band
from kronos_runner.backtest_scoring import LEVELS, BacktestResult


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
