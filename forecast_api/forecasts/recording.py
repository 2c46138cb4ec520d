"""A served forecast as a ledger record, and the ledger's rolling calibration applied to it.

Every forecast the API computes from market data (Kronos or fallback, requested or scheduled)
becomes a `ledger.records.ForecastRecord`: its close paths summarised per step, raw and as
calibrated by the ledger's rolling calibration (`forecasting.recalibration`, Kronos only). The
response then serves the calibrated bands, `confidence` and `upProbability` for the steps the
calibration covers and keeps the model's own values in `lowRaw`/`highRaw`, `confidenceRaw` and
`upProbabilityRaw`; `calibration` says how it was calibrated, or why a step is served raw.
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from typing import Protocol

import numpy as np
import pandas as pd

from forecast_api.http.schemas import CalibrationInfo, Prediction, iso_utc
from forecasting.recalibration import Calibration, RecalibrationSettings
from ledger.records import ForecastRecord, RecordMeta, build_record

BAND = 0.8  # the response's low/high: the central 80% band


class Recorder(Protocol):
    """Where served forecasts go, and the calibration in force per interval."""

    def calibration(self, interval: str) -> Calibration | None:
        """The rolling calibration for a forecast issued now (None: none in force)."""

    def submit(self, record: ForecastRecord) -> None:
        """Queue a record for the ledger; never blocks, never raises."""


def record_of(
    prediction: Prediction,
    closes: np.ndarray,
    context: pd.DataFrame,
    *,
    symbol: str,
    interval: str,
    kind: str,
    sampler: dict,
    revision: str | None,
    checkpoint_digest: str | None,
    trend_threshold: float,
    calibration: Calibration | None,
    issued_at: float,
) -> ForecastRecord:
    """The ledger record of a forecast made from `context` (the candles its model saw)."""
    meta = RecordMeta(
        symbol=symbol,
        interval=interval,
        kind=kind,
        model_kind=prediction.model,
        model_id=prediction.modelId,
        samples=prediction.samples,
        seed=prediction.seed,
        sampler=sampler if prediction.model == "kronos" else {},
        tokenizer_id=prediction.tokenizerId,
        revision=revision if prediction.model == "kronos" else None,
        checkpoint_digest=checkpoint_digest if prediction.model == "kronos" else None,
        fallback_reason=prediction.fallbackReason,
    )
    return build_record(
        meta,
        closes,
        origin=pd.Timestamp(context["timestamp"].iat[-1]),
        issued_at=int(issued_at),
        last_close=float(context["close"].iat[-1]),
        context_closes=context["close"].to_numpy(),
        trend_threshold=trend_threshold,
        calibration=calibration,
    )


def as_kind(record: ForecastRecord, kind: str) -> ForecastRecord:
    """The same forecast recorded again under another kind (a new record id)."""
    return replace(record, meta=replace(record.meta, kind=kind), uid=uuid.uuid4().hex)


def calibration_info(calibration: Calibration) -> CalibrationInfo:
    """What the response says about a rolling calibration."""
    info = calibration.info()
    fitted = info.pop("fittedAt")
    return CalibrationInfo(**info, fittedAt=None if fitted is None else iso_utc(fitted))


def served(
    prediction: Prediction, record: ForecastRecord, calibration: Calibration | None
) -> Prediction:
    """`prediction` with the record's calibrated values where its steps are calibrated and the
    model's own values kept beside them (`...Raw`)."""
    points = []
    for point, step in zip(prediction.predictions, record.steps, strict=True):
        raw_low, raw_high = step.bands_raw[BAND]
        low, high = step.bands[BAND] if step.quantiles_cal is not None else (point.low, point.high)
        points.append(
            point.model_copy(
                update={"low": low, "high": high, "lowRaw": raw_low, "highRaw": raw_high}
            )
        )
    reference = record.steps[record.reference_step - 1]
    update = {
        "predictions": points,
        "confidenceRaw": round(reference.confidence_raw, 4),
        "upProbabilityRaw": round(reference.up_probability_raw, 4),
        "calibration": None if calibration is None else calibration_info(calibration),
    }
    if reference.quantiles_cal is not None:
        update |= {
            "confidence": round(reference.confidence, 4),
            "upProbability": round(reference.up_probability, 4),
            "calibrated": True,
        }
    return prediction.model_copy(update=update)


def not_fitted(settings: RecalibrationSettings, reason: str) -> Calibration:
    """A calibration with no calibrated step, saying why (served raw)."""
    return Calibration(settings, {}, {}, None, reason=reason)
