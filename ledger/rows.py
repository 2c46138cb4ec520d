"""A forecast record as the ledger's database rows: its `forecasts` row, and per step its
`forecast_steps` row and its `step_quantiles` row (quantile grids packed as float64 bytes)."""

from __future__ import annotations

import numpy as np

from ledger.records import ForecastRecord, StepRecord


def pack(values: np.ndarray) -> bytes:
    """A quantile grid as little-endian float64 bytes."""
    return np.asarray(values, dtype="<f8").tobytes()


def unpack(blob: bytes) -> np.ndarray:
    """The quantile grid stored by :func:`pack`."""
    return np.frombuffer(blob, dtype="<f8")


def forecast_values(r: ForecastRecord) -> dict:
    """The `forecasts` row of a record."""
    m = r.meta
    return {
        "uid": r.uid,
        "symbol": m.symbol,
        "interval": m.interval,
        "origin": r.origin,
        "issued_at": r.issued_at,
        "kind": m.kind,
        "horizon": r.horizon,
        "reference_step": r.reference_step,
        "samples": m.samples,
        "seed": m.seed,
        "sampler": m.sampler,
        "model_kind": m.model_kind,
        "fallback_reason": m.fallback_reason,
        "model_id": m.model_id,
        "tokenizer_id": m.tokenizer_id,
        "revision": m.revision,
        "checkpoint_digest": m.checkpoint_digest,
        "calibration_version": r.calibration_version,
        "calibration": r.calibration,
        "blend_version": r.blend_version,
        "blend": r.blend,
        "last_close": r.last_close,
        "trend_threshold": r.trend_threshold,
        "drift_mu": r.drift_mu,
        "drift_sigma": r.drift_sigma,
    }


def quantile_values(forecast_id: int, s: StepRecord) -> dict:
    """The `step_quantiles` row of a step."""
    cal = None if s.quantiles_cal is None else pack(s.quantiles_cal)
    blend = None if s.quantiles_blend is None else pack(s.quantiles_blend)
    return {
        "forecast_id": forecast_id,
        "step": s.step,
        "raw": pack(s.quantiles),
        "calibrated": cal,
        "blend": blend,
    }


def step_values(forecast_id: int, s: StepRecord) -> dict:
    """The `forecast_steps` row of a step."""
    return {
        "forecast_id": forecast_id,
        "step": s.step,
        "candle_open": s.candle_open,
        "closes_at": s.closes_at,
        "mean": s.mean,
        "mean_raw": s.mean if s.mean_raw is None else s.mean_raw,
        "median": s.median,
        "calibrated": s.quantiles_cal is not None,
        "low80_raw": s.bands_raw[0.8][0],
        "high80_raw": s.bands_raw[0.8][1],
        "low90_raw": s.bands_raw[0.9][0],
        "high90_raw": s.bands_raw[0.9][1],
        "low80": s.bands[0.8][0],
        "high80": s.bands[0.8][1],
        "low90": s.bands[0.9][0],
        "high90": s.bands[0.9][1],
        "trend": s.trend,
        "confidence_raw": s.confidence_raw,
        "confidence": s.confidence,
        "confidence_dist": s.confidence_dist,
        "up_probability_raw": s.up_probability_raw,
        "up_probability": s.up_probability,
        "status": "pending",
    }
