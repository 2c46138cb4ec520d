"""What one forecast records: built from its close paths, the origin and the calibration in force.

Per step h (1-based) of a forecast with last close c_0 and trend threshold tau:
- `mean`, `median`: of the close over the sample paths; `quantiles`: the raw 99-percentile grid
  of the close over the paths (``forecasting.scoring.QUANTILE_LEVELS``).
- raw bands 80/90: the grid's 10/90 and 5/95 percentiles; calibrated bands: from the
  recalibrated distribution (``forecasting.recalibration``), the raw ones where a step is not.
- `trend`: bullish / bearish / neutral from the mean return at that step against tau (the
  service's rule at its reference step); `confidence_raw`: the share of paths agreeing;
  `up_probability_raw`: the share of paths above c_0; calibrated values from the calibrated CDF.
- the drift baseline's (mu, sigma): of the one-step log returns of the context the model saw.
- with a blend (``forecasting.blend``): the steps it covers serve the blend of the model's grid,
  its baselines (closed form from c_0, mu, sigma) and any challengers; `mean` is then the blend's
  point forecast (the same mix of the model's mean, the random walk's c_0, ...), `median` and the
  trend the blend's (the model's own mean is `mean_raw`), the raw bands the model's, and the
  calibration is applied to the blend's grid.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import numpy as np

from forecasting.blend import MODEL, Blend, baseline_grids, baseline_points
from forecasting.candles import interval_seconds
from forecasting.recalibration import Calibration, derive
from forecasting.scoring import QUANTILE_LEVELS, drift_parameters, quantiles_at, sample_quantiles


def to_epoch(t: datetime | Any) -> int:
    """UTC epoch seconds of a datetime (naive ones are UTC) or pandas Timestamp."""
    if isinstance(t, (int, np.integer)):
        return int(t)
    if t.tzinfo is None:
        t = t.replace(tzinfo=timezone.utc)
    return int(t.timestamp())


def from_epoch(seconds: int) -> datetime:
    """The UTC datetime of epoch seconds."""
    return datetime.fromtimestamp(int(seconds), tz=timezone.utc)


def derive_seed(symbol: str, interval: str, origin: datetime | int) -> int:
    """A seed fixed by symbol, interval and origin (63 bits of a SHA-256)."""
    digest = hashlib.sha256(f"{symbol}|{interval}|{to_epoch(origin)}".encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1


@dataclass(frozen=True)
class RecordMeta:
    """Who made a forecast, how, and for what."""

    symbol: str
    interval: str
    kind: str  # scheduled | requested | replay
    model_kind: str  # kronos | fallback
    model_id: str
    samples: int
    seed: int | None = None
    sampler: dict[str, Any] = field(default_factory=dict)
    tokenizer_id: str | None = None
    revision: str | None = None
    checkpoint_digest: str | None = None
    fallback_reason: str | None = None


@dataclass
class StepRecord:
    """One step of a forecast as served."""

    step: int
    candle_open: int
    closes_at: int
    mean: float
    median: float
    quantiles: np.ndarray
    quantiles_cal: np.ndarray | None
    bands_raw: dict[float, tuple[float, float]]
    bands: dict[float, tuple[float, float]]
    trend: str
    confidence_raw: float
    confidence: float
    confidence_dist: float  # P(trend true) from the (calibrated) distribution, before M
    up_probability_raw: float
    up_probability: float
    mean_raw: float | None = None  # the model's own mean (None: the same as `mean`)
    quantiles_blend: np.ndarray | None = None  # the blend's grid before calibration, if blended


@dataclass
class ForecastRecord:
    """A forecast as recorded in the ledger."""

    meta: RecordMeta
    origin: int
    issued_at: int
    horizon: int
    last_close: float
    trend_threshold: float
    drift_mu: float
    drift_sigma: float
    calibration: dict[str, Any] | None
    calibration_version: str | None
    steps: list[StepRecord]
    uid: str = field(default_factory=lambda: uuid.uuid4().hex)
    blend: dict[str, Any] | None = None  # the blend's info (weights per step), None: not blended
    blend_version: str | None = None

    @property
    def reference_step(self) -> int:
        """The step the response's trend and confidence refer to: min(24, horizon)."""
        return min(24, self.horizon)


def step_trends(mean: np.ndarray, last_close: float, threshold: float) -> np.ndarray:
    """Trend per step from the mean return (the service's rule, applied at every step)."""
    r = mean / last_close - 1.0
    return np.where(r > threshold, "bullish", np.where(r < -threshold, "bearish", "neutral"))


def raw_confidence(closes: np.ndarray, last_close: float, trend: np.ndarray, tau: float):
    """Share of paths agreeing with each step's trend: closes (S, H) -> (H,)."""
    r = closes / last_close - 1.0
    agree = np.where(
        trend == "bullish", r > tau, np.where(trend == "bearish", r < -tau, np.abs(r) <= tau)
    )
    return agree.mean(axis=0)


def _grid_index(tau: float) -> int:
    """Index of a level on the quantile grid."""
    return int(np.argmin(np.abs(QUANTILE_LEVELS - tau)))


BAND_LEVELS = (0.8, 0.9)
_BAND_INDEX = {lvl: (_grid_index((1 - lvl) / 2), _grid_index((1 + lvl) / 2)) for lvl in BAND_LEVELS}


def _bands(grid: np.ndarray, h: int) -> dict[float, tuple[float, float]]:
    """Raw 80/90 bands of step h: the grid's 10/90 and 5/95 percentiles."""
    return {lvl: (float(grid[h, lo]), float(grid[h, hi])) for lvl, (lo, hi) in _BAND_INDEX.items()}


def blend_components(
    grid: np.ndarray,
    mean: np.ndarray,
    last_close: float,
    mu: float,
    sigma: float,
    challengers: Mapping[str, np.ndarray],
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Quantile grids (H, K) and point forecasts (H,) of every component: the model's (its
    mean), the closed-form baselines', and each challenger's close paths (samples, H)."""
    steps = np.arange(1, grid.shape[0] + 1)
    grids = {MODEL: grid, **baseline_grids(last_close, mu, sigma, steps)}
    points = {MODEL: mean, **baseline_points(last_close, mu, sigma, steps)}
    for name, paths in challengers.items():
        closes = np.asarray(paths, dtype=float)
        grids[name], points[name] = sample_quantiles(closes.T), closes.mean(axis=0)
    return grids, points


def build_record(
    meta: RecordMeta,
    close_paths: np.ndarray,
    *,
    origin: datetime | int,
    issued_at: datetime | int,
    last_close: float,
    context_closes: Sequence[float],
    trend_threshold: float,
    calibration: Calibration | None,
    blend: Blend | None = None,
    challengers: Mapping[str, np.ndarray] | None = None,
) -> ForecastRecord:
    """The ledger record of one forecast: close_paths is (samples, horizon).

    With a blend, the steps it covers serve the blend of the model, the baselines and the
    `challengers` (close paths by name), calibrated by `calibration` (fitted on the blend's
    PITs); `mean` (the point forecast: the blend of the components' points), `median` and the
    trend are the blend's, the `...raw` values the model's.
    """
    closes = np.asarray(close_paths, dtype=float)
    horizon, step_s, start = closes.shape[1], interval_seconds(meta.interval), to_epoch(origin)
    grid = sample_quantiles(closes.T)
    mean_raw, median = closes.mean(axis=0), np.median(closes, axis=0)
    mu, sigma = drift_parameters(np.asarray(context_closes, dtype=float))
    blended = np.zeros(horizon, dtype=bool)
    base, mean = grid, mean_raw
    if blend is not None:
        grids, means = blend_components(grid, mean_raw, last_close, mu, sigma, challengers or {})
        blended = np.array([blend.weights(h + 1) is not None for h in range(horizon)])
        base, mean = blend.combine(grids), blend.combine(means)
        median = np.where(blended, quantiles_at(base, np.array([0.5]))[:, 0], median)
    trend = step_trends(mean, last_close, trend_threshold)
    conf_raw = raw_confidence(closes, last_close, trend, trend_threshold)
    up_raw = (closes > last_close).mean(axis=0)
    cal = derive(base, last_close, list(trend), trend_threshold, calibration)
    steps = []
    for h in range(horizon):
        on = bool(cal.calibrated[h])
        raw_bands = _bands(grid, h)
        served = {lvl: (float(lo[h]), float(hi[h])) for lvl, (lo, hi) in cal.bands.items()}
        steps.append(
            StepRecord(
                step=h + 1,
                candle_open=start + (h + 1) * step_s,
                closes_at=start + (h + 2) * step_s,
                mean=float(mean[h]),
                median=float(median[h]),
                quantiles=grid[h],
                quantiles_cal=cal.quantiles[h] if on else None,
                bands_raw=raw_bands,
                bands=served if on else _bands(base, h),
                trend=str(trend[h]),
                confidence_raw=float(conf_raw[h]),
                confidence=float(cal.confidence[h]) if on else float(conf_raw[h]),
                confidence_dist=float(cal.confidence_dist[h]),
                up_probability_raw=float(up_raw[h]),
                up_probability=float(cal.up_probability[h]) if on else float(up_raw[h]),
                mean_raw=float(mean_raw[h]),
                quantiles_blend=base[h] if blended[h] else None,
            )
        )
    return ForecastRecord(
        meta=meta,
        origin=start,
        issued_at=to_epoch(issued_at),
        horizon=horizon,
        last_close=float(last_close),
        trend_threshold=float(trend_threshold),
        drift_mu=mu,
        drift_sigma=sigma,
        calibration=None if calibration is None else _json_info(calibration),
        calibration_version=None if calibration is None else calibration.version,
        steps=steps,
        blend=None if blend is None else _json_info(blend),
        blend_version=None if blend is None else blend.version,
    )


def _json_info(fitted: Calibration | Blend) -> dict[str, Any]:
    """A calibration's or blend's info with its time as epoch seconds (JSON-safe)."""
    info = fitted.info()
    at = info.get("fittedAt")
    info["fittedAt"] = None if at is None else to_epoch(at)
    return info
