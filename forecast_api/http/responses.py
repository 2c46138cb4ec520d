"""Response objects from forecasts: the market figures beside one, the `prediction` object
and the `/api/predict` body.

Definitions of the figures (the README repeats them) are in `forecasting.summary`; here they are
put into the specification's response shape together with who produced the forecast.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

import numpy as np
import pandas as pd

from forecast_api.http.schemas import Prediction, PredictionPoint, PredictResponse, iso_utc, now_iso
from forecasting.calibration import BandCalibration
from forecasting.forecast import Forecast
from forecasting.recalibration import Calibration
from forecasting.summary import BAND_LEVELS, summarize
from ledger.records import ForecastRecord


@dataclass(frozen=True)
class Snapshot:
    """Market figures shown next to a forecast: price, 24h change %, 24h volume, and the source
    of the candles the forecast was made from."""

    price: float
    change_24h: float | None
    volume_24h: float
    source: str
    stale: bool = False
    age_seconds: float = 0.0

    def aged(self, seconds: float) -> Snapshot:
        """The same figures served `seconds` later from a cache, labelled stale."""
        return replace(self, stale=True, age_seconds=self.age_seconds + seconds)


@dataclass(frozen=True)
class ForecastMeta:
    """Who produced a forecast and with which request parameters."""

    model: Literal["kronos", "fallback"]
    model_id: str
    tokenizer_id: str | None
    samples: int
    seed: int | None
    reason: str | None = None
    gaps_filled: int = 0
    trained_weights: bool | None = True  # False: checkpoint marked untrained; None: no weights


def prediction_from(
    forecast: Forecast,
    last_close: float,
    meta: ForecastMeta,
    *,
    step: pd.Timedelta,
    trend_threshold: float,
    calibration: BandCalibration | None = None,
) -> Prediction:
    """The response's `prediction` object; the band calibration applies to Kronos only.

    Each step is stamped with the close time of its candle (open time + `step`, the instant the
    price applies, as in `/api/history`) and carries the open time as `openTime`."""
    summary = summarize(
        forecast,
        last_close,
        trend_threshold=trend_threshold,
        calibration=calibration if meta.model == "kronos" else None,
    )
    points = [
        PredictionPoint(
            hour=h + 1,
            price=float(summary.mean[h]),
            timestamp=iso_utc(summary.timestamps[h] + step),
            median=float(summary.median[h]),
            low=float(summary.low[h]),
            high=float(summary.high[h]),
            openTime=iso_utc(summary.timestamps[h]),
        )
        for h in range(summary.horizon)
    ]
    return Prediction(
        price_24h=summary.price_24h,
        confidence=summary.confidence,
        trend=summary.trend,
        predictions=points,
        model=meta.model,
        modelId=meta.model_id,
        tokenizerId=meta.tokenizer_id,
        fallbackReason=meta.reason,
        upProbability=summary.up_probability,
        bandLevels=BAND_LEVELS,
        calibrated=summary.calibrated,
        horizon=summary.horizon,
        samples=summary.samples,
        seed=meta.seed,
        gapsFilled=meta.gaps_filled,
        trainedWeights=meta.trained_weights,
    )


@dataclass(frozen=True)
class CachedForecast:
    """A summarised forecast as kept in the prediction cache, with the market figures it saw."""

    prediction: Prediction
    generated_at: str
    last_candle: str
    snapshot: Snapshot
    closes: np.ndarray | None = None  # (samples, horizon): for the distribution fields
    calibration: BandCalibration | None = None  # the one the prediction's bands used
    interval: str = "1h"
    valid_until: str | None = None
    symbol: str = ""
    record: ForecastRecord | None = None  # as recorded in the ledger
    rolling: Calibration | None = None  # the ledger's calibration its summary used


def predict_response(
    symbol: str, value: CachedForecast, origin: str, snap: Snapshot
) -> PredictResponse:
    """The `GET /api/predict` body for a forecast from `origin` (miss: computed for this
    request, hit: this worker's cache, shared: another worker's) and its market figures."""
    return PredictResponse(
        symbol=symbol,
        currentPrice=snap.price,
        change24h=snap.change_24h,
        volume24h=snap.volume_24h,
        prediction=value.prediction,
        timestamp=now_iso(),
        dataSource=snap.source,
        lastCandle=value.last_candle,
        cached=origin != "miss",
        stale=snap.stale,
        dataAgeSeconds=round(snap.age_seconds, 3),
        generatedAt=value.generated_at,
        interval=value.interval,
        validUntil=value.valid_until,
        cache=origin,
    )
