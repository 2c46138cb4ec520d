"""Request and response models shared by the routes, and those of `/api/predict` and its batch.

The response models keep every field of the original specification's API (`../shared/seed/`:
same names and types) and only add fields. `POST /api/forecast`'s are in `forecast_schemas`,
history's and assets' in `market_schemas`, the distribution's, the blend's and `/health`'s in
their own modules.
"""

from __future__ import annotations

import re
import time
from datetime import datetime
from typing import Annotated, Literal

import pandas as pd
from pydantic import AfterValidator, BaseModel, Field

from forecast_api.http.blend_schemas import BlendInfo, Weights
from forecast_api.http.distribution_schemas import (
    AboveProbability,
    DistributionCalibration,
    IntervalBand,
)

Trend = Literal["bullish", "bearish", "neutral"]

SYMBOL_MAX_LENGTH = 20
INTEGER = re.compile(r"-?[0-9]+")
MAX_SEED = 2**63 - 1  # the model's generators take seeds in [0, 2**63)


def not_blank(text: str) -> str:
    """`text`, refused when it is only whitespace."""
    if not text.strip():
        raise ValueError("must not be blank")
    return text


def digits_only(value: object) -> object:
    """A query integer as plain digits (`true`, `2.0`, `1_0` are refused, not read as ints)."""
    if isinstance(value, str) and not INTEGER.fullmatch(value):
        raise ValueError("must be a whole number written in digits")
    return value


Symbol = Annotated[
    str, Field(min_length=1, max_length=SYMBOL_MAX_LENGTH), AfterValidator(not_blank)
]
Seed = Annotated[int | None, Field(ge=0, le=MAX_SEED)]


ISO_UTC = "%Y-%m-%dT%H:%M:%SZ"


def now_iso() -> str:
    """The current UTC time in the specification's format (as `iso_utc` writes it)."""
    return time.strftime(ISO_UTC, time.gmtime())


def iso_utc(ts: datetime | pd.Timestamp) -> str:
    """`2025-10-15T12:00:00Z`: the specification's timestamp format (UTC, seconds)."""
    stamp = pd.Timestamp(ts)
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    return stamp.strftime(ISO_UTC)


class ErrorResponse(BaseModel):
    """Every error the API returns: a stable code and a human-readable message."""

    error: str = Field(examples=["unknown_symbol"])
    message: str


# ---- forecasts -------------------------------------------------------------------------------


class CalibrationInfo(BaseModel):
    """How the ledger's rolling calibration adjusted a forecast (README: calibration maths)."""

    method: str = Field(description="quantile-recalibration of each step's close CDF")
    version: str = Field(description="method and settings, as recorded in the ledger")
    window: int = Field(description="most recent scored forecasts per step it is fitted on")
    scored: int = Field(description="fewest scored forecasts any step was fitted on")
    calibratedSteps: list[int] = Field(description="steps served calibrated (others raw)")
    fittedAt: str | None = Field(description="when it was fitted: only steps scored before count")
    reason: str | None = Field(None, description="why some or all steps are served raw")


class PredictionPoint(BaseModel):
    """One forecast step. `price` is the mean close over the sample paths (the blend's mean
    where the step is blended)."""

    hour: int = Field(description="steps ahead of the last closed candle (steps of `interval`)")
    price: float
    timestamp: str = Field(description="when the price applies: the forecast candle's close time")
    median: float
    low: float = Field(description="lower band edge (10% quantile unless calibrated)")
    high: float = Field(description="upper band edge (90% quantile unless calibrated)")
    openTime: str = Field(description="open time of the forecast candle (timestamp - interval)")
    lowRaw: float | None = Field(None, description="the model's own 10% quantile (uncalibrated)")
    highRaw: float | None = Field(None, description="the model's own 90% quantile (uncalibrated)")
    quantiles: dict[str, float] | None = Field(
        None, description="requested quantiles of the close, keyed like '0.05' (null: none asked)"
    )
    intervals: list[IntervalBand] | None = Field(None, description="requested central intervals")
    above: list[AboveProbability] | None = Field(None, description="requested P(close > price)")
    priceRaw: float | None = Field(None, description="the model's own mean close at this step")
    blend: Weights | None = Field(
        None,
        description="forecaster -> weight of the blend served at this step (null: not blended)",
    )


class Prediction(BaseModel):
    """The specification's `prediction` object plus band, probability and provenance fields."""

    price_24h: float = Field(description="mean predicted close at step min(24, horizon)")
    confidence: float = Field(ge=0, le=1, description="share of paths agreeing with `trend`")
    trend: Trend
    predictions: list[PredictionPoint]
    model: Literal["kronos", "fallback"]
    modelId: str
    tokenizerId: str | None
    fallbackReason: str | None = None
    upProbability: float = Field(ge=0, le=1, description="share of paths above the last close")
    bandLevels: tuple[float, float] = (0.1, 0.9)
    calibrated: bool = False
    horizon: int
    samples: int
    seed: int | None = None
    gapsFilled: int = Field(
        0,
        ge=0,
        description="missing candles the gap rule filled (flat at the previous close, zero "
        "volume) in the series this forecaster saw",
    )
    distributionCalibrated: DistributionCalibration | None = Field(
        None, description="per requested distribution field: calibrated or raw (null: none asked)"
    )
    trainedWeights: bool | None = Field(
        True,
        description="false when the forecast came from a checkpoint marked untrained (random "
        "weights, e.g. from `kronos-forecast init-checkpoint`): its numbers are noise; null when "
        "no model weights produced it (the statistical fallback)",
    )
    confidenceRaw: float | None = Field(
        None, ge=0, le=1, description="share of paths agreeing with `trend` (before calibration)"
    )
    upProbabilityRaw: float | None = Field(
        None, ge=0, le=1, description="share of paths above the last close (before calibration)"
    )
    calibration: CalibrationInfo | None = Field(
        None, description="the ledger's rolling calibration in force (null: no ledger)"
    )
    priceRaw: float | None = Field(
        None, description="the model's own mean close at step min(24, horizon) (`price_24h`'s)"
    )
    blend: Weights | None = Field(
        None, description="forecaster -> weight at step min(24, horizon) (null: not blended)"
    )
    blendReason: str | None = Field(None, description="why the reference step is not blended")
    blendInfo: BlendInfo | None = Field(
        None, description="the blend in force (null: none: fallback, blend off or no ledger)"
    )


class PredictResponse(BaseModel):
    """`GET /api/predict`: the specification's shape plus cache/staleness/provenance fields."""

    symbol: str
    currentPrice: float
    change24h: float | None = Field(
        description="% change over 24 hours; null when a day of data is not there"
    )
    volume24h: float
    prediction: Prediction
    timestamp: str
    dataSource: str = Field(description="where the candles came from: binance, coingecko or files")
    lastCandle: str = Field(description="open time of the last closed candle the forecast used")
    cached: bool = False
    stale: bool = False
    dataAgeSeconds: float = 0.0
    generatedAt: str
    interval: str = Field("1h", description="candle interval; `horizon` counts its steps")
    validUntil: str | None = Field(
        None, description="when the next candle closes and this forecast is superseded"
    )
    cache: Literal["miss", "hit", "shared"] = Field(
        "miss",
        description="miss: computed for this request; hit: this worker's cache; shared: "
        "computed by another worker or replica (REDIS_URL)",
    )


class BatchPredictRequest(BaseModel):
    """`POST /api/predict/batch`."""

    symbols: list[Symbol] = Field(min_length=1)
    horizon: int | None = Field(None, ge=1)
    samples: int | None = Field(None, ge=1)
    seed: Seed = None
    interval: str | None = Field(None, description="15m, 1h (default), 4h, 1d")
    quantiles: list[float] | None = Field(None, description="e.g. [0.05, 0.5, 0.95]")
    levels: list[float] | None = Field(None, description="central intervals in %, e.g. [80, 95]")
    above: list[float] | None = Field(None, description="prices for P(close > price)")
    blend: str | None = Field(None, max_length=8, description="off: the model alone")


class BatchEntry(BaseModel):
    """One symbol of a batch: either `data` or `error` + `message`."""

    symbol: str
    ok: bool
    data: PredictResponse | None = None
    error: str | None = None
    message: str | None = None


class BatchPredictResponse(BaseModel):
    """`POST /api/predict/batch`: one entry per requested symbol, in order."""

    results: list[BatchEntry]
    count: int
    timestamp: str
