"""A served forecast as a ledger record, and the ledger's rolling calibration applied to it.

Every forecast the API computes from market data (Kronos or fallback, requested or scheduled)
becomes a `ledger.records.ForecastRecord`: its close paths summarised per step, raw and as
calibrated by the ledger's rolling calibration (`forecasting.recalibration`, Kronos only). The
response then serves the calibrated bands, `confidence` and `upProbability` for the steps the
calibration covers and keeps the model's own values in `lowRaw`/`highRaw`, `confidenceRaw` and
`upProbabilityRaw`; `calibration` says how it was calibrated, or why a step is served raw.
With the ledger's blend (`forecasting.blend`) the steps it covers serve the blend of the model,
the baselines and the challengers that forecast: `price`, `median` and the bands are the blend's
(calibrated), the model's own mean is `priceRaw`; `blend` gives the weights, `blendInfo` the
fit, and `blendReason` why a forecast is not blended.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import replace
from typing import Protocol

import numpy as np
import pandas as pd

from forecast_api.http.blend_schemas import BlendInfo
from forecast_api.http.schemas import CalibrationInfo, Prediction, iso_utc
from forecasting.blend import BASELINES, MODEL, Blend, restricted
from forecasting.recalibration import Calibration, RecalibrationSettings
from kronos_runner.wire import ChallengerState
from ledger.blending import CHALLENGER
from ledger.records import ForecastRecord, RecordMeta, build_record

BAND = 0.8  # the response's low/high: the central 80% band


class Recorder(Protocol):
    """Where served forecasts go, and the calibration in force per interval."""

    def calibration(self, interval: str, blended: bool = True) -> Calibration | None:
        """The rolling calibration for a forecast issued now, of the blend's PITs or (not
        `blended`) the model's (None: none in force)."""

    def blend(self, interval: str) -> Blend | None:
        """The blend for a forecast issued now (None: LEDGER_BLEND=off)."""

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
    blend: Blend | None = None,
    challengers: dict[str, np.ndarray] | None = None,
) -> ForecastRecord:
    """The ledger record of a forecast made from `context` (the candles its model saw), served
    blended with the `challengers`' close paths where `blend` covers a step."""
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
    return _built(
        meta,
        closes,
        context,
        trend_threshold,
        issued_at,
        calibration=calibration,
        blend=blend,
        challengers=challengers,
    )


def blend_choice(
    recorder: Recorder | None, from_model: bool, interval: str, wanted: bool
) -> tuple[Blend | None, str | None]:
    """The blend a forecast is served with (before `blend_of`), or None and why."""
    if recorder is None:
        return None, "no forecast ledger (LEDGER_URL is empty): the model alone"
    if not from_model:
        return None, "a fallback forecast is served alone, never blended"
    if not wanted:
        return None, "blend=off: the model alone was asked for"
    blend = recorder.blend(interval)
    return blend, None if blend is not None else "LEDGER_BLEND=off: the model alone"


def blend_of(blend: Blend | None, challengers: Collection[str]) -> Blend | None:
    """The blend a forecast serves: `blend` over the model, the baselines and the challengers
    that forecast it (`challengers`)."""
    return None if blend is None else restricted(blend, {MODEL, *BASELINES, *challengers})


def challenger_record(
    state: ChallengerState,
    closes: np.ndarray,
    context: pd.DataFrame,
    *,
    symbol: str,
    interval: str,
    seed: int,
    sampler: dict,
    trend_threshold: float,
    issued_at: float,
) -> ForecastRecord:
    """A challenger's forecast as its own forecaster's record (kind "challenger", its name as
    model id): the raw distribution of its paths, neither calibrated nor blended."""
    meta = RecordMeta(
        symbol=symbol,
        interval=interval,
        kind=CHALLENGER,
        model_kind="kronos",
        model_id=state.name,
        samples=int(closes.shape[0]),
        seed=seed,
        sampler=sampler,
        tokenizer_id=state.tokenizerId,
        checkpoint_digest=state.checkpointDigest,
    )
    return _built(meta, closes, context, trend_threshold, issued_at, calibration=None)


def _built(
    meta: RecordMeta,
    closes: np.ndarray,
    context: pd.DataFrame,
    trend_threshold: float,
    issued_at: float,
    **served_by: object,
) -> ForecastRecord:
    """`build_record` of paths forecast from `context`, issued at `issued_at`."""
    return build_record(
        meta,
        closes,
        origin=pd.Timestamp(context["timestamp"].iat[-1]),
        issued_at=int(issued_at),
        last_close=float(context["close"].iat[-1]),
        context_closes=context["close"].to_numpy(),
        trend_threshold=trend_threshold,
        **served_by,
    )


def as_kind(record: ForecastRecord, kind: str) -> ForecastRecord:
    """The same forecast recorded again under another kind (a new record id)."""
    return replace(record, meta=replace(record.meta, kind=kind), uid=uuid.uuid4().hex)


def calibration_info(calibration: Calibration) -> CalibrationInfo:
    """What the response says about a rolling calibration."""
    info = calibration.info()
    fitted = info.pop("fittedAt")
    return CalibrationInfo(**info, fittedAt=None if fitted is None else iso_utc(fitted))


def blend_info(blend: Blend) -> BlendInfo:
    """What the response says about the blend in force."""
    info = blend.info()
    fitted = info["fittedAt"]
    return BlendInfo(
        **{k: info[k] for k in ("method", "version", "window", "scored", "components", "reason")},
        blendedSteps=sorted(blend.step_weights),
        fittedAt=None if fitted is None else iso_utc(fitted),
    )


def _weights(record: ForecastRecord, step: int) -> dict[str, float] | None:
    """The recorded blend's weights at `step` (None: the step serves the model)."""
    weights = (record.blend or {}).get("weights", {}).get(str(step))
    return None if weights is None else {k: round(v, 4) for k, v in weights.items()}


def served(
    prediction: Prediction,
    record: ForecastRecord,
    calibration: Calibration | None,
    blend: Blend | None = None,
    unblended: str | None = None,
) -> Prediction:
    """`prediction` with the record's blended and calibrated values where its steps are, the
    model's own values kept beside them (`...Raw`); `blend` is the record's (`blend_of`),
    `unblended` says why it is None."""
    points = []
    for point, step in zip(prediction.predictions, record.steps, strict=True):
        raw_low, raw_high = step.bands_raw[BAND]
        weights = _weights(record, step.step)
        update = {"lowRaw": raw_low, "highRaw": raw_high, "priceRaw": step.mean_raw}
        update |= {"blend": weights}
        if step.quantiles_cal is not None or weights is not None:
            update |= dict(zip(("low", "high"), step.bands[BAND], strict=True))
        if weights is not None:
            update |= {"price": step.mean, "median": step.median}
        points.append(point.model_copy(update=update))
    reference = record.steps[record.reference_step - 1]
    weights = _weights(record, reference.step)
    reason = unblended if blend is None else blend.reason or "the reference step is not blended"
    update = {
        "predictions": points,
        "confidenceRaw": round(reference.confidence_raw, 4),
        "upProbabilityRaw": round(reference.up_probability_raw, 4),
        "calibration": None if calibration is None else calibration_info(calibration),
        "priceRaw": reference.mean_raw,
        "blend": weights,
        "blendReason": None if weights is not None else reason,
        "blendInfo": None if blend is None else blend_info(blend),
    }
    if weights is not None:
        update |= {"price_24h": reference.mean, "trend": reference.trend}
        update |= {"confidence": round(reference.confidence, 4)}
        update |= {"upProbability": round(reference.up_probability, 4)}
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
