"""A backtest run: every forecaster over every window, bands calibrated on the early windows
(conformal, `BandCalibration`), the later ones scored per step, raw and calibrated."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from forecasting.baselines import Forecaster
from forecasting.calibration import BandCalibration
from forecasting.forecast import CLOSE, Forecast
from forecasting.gaps import DEFAULT_MAX_FILL
from forecasting.metrics import (
    absolute_error,
    absolute_percentage_error,
    central_band,
    covered,
    crps_from_samples,
    direction_hits,
)
from forecasting.summary import classify_trend, reference_step
from kronos_runner.backtest_windows import SkippedWindow, Window, rolling_windows

LEVELS = (0.8, 0.9)


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
