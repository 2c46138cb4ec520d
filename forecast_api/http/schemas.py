"""Request and response models.

The response models keep every field of the original specification's API (`../shared/seed/`:
same names and types) and only add fields.
"""

from __future__ import annotations

import math
import re
import time
from datetime import datetime
from typing import Annotated, Literal

import numpy as np
import pandas as pd
from pandas.errors import OutOfBoundsDatetime
from pydantic import AfterValidator, BaseModel, Field, field_validator, model_validator

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


class Candle(BaseModel):
    """One caller-supplied candle for `POST /api/forecast`."""

    timestamp: datetime
    open: float = Field(gt=0)
    high: float = Field(gt=0)
    low: float = Field(gt=0)
    close: float = Field(gt=0)
    volume: float | None = Field(None, ge=0)
    amount: float | None = Field(None, ge=0)

    @model_validator(mode="after")
    def _check(self) -> Candle:
        """Finite values, and high/low enclosing open/close."""
        values = [self.open, self.high, self.low, self.close, self.volume or 0, self.amount or 0]
        if not all(math.isfinite(v) for v in values):
            raise ValueError("candle values must be finite")
        if self.high < max(self.open, self.close) or self.low > min(self.open, self.close):
            raise ValueError("high/low must enclose open and close")
        return self


def candle_stamps(candles: list[Candle]) -> pd.DatetimeIndex:
    """The candles' timestamps in UTC nanoseconds (no zone given: UTC); ValueError when a
    timestamp lies outside the years 1677-2262 that nanosecond time stamps can hold."""
    try:
        return pd.DatetimeIndex([pd.Timestamp(c.timestamp) for c in candles], tz="UTC").as_unit(
            "ns"
        )
    except (OutOfBoundsDatetime, OverflowError) as exc:
        raise ValueError(
            f"candle timestamps must lie between {pd.Timestamp.min} and {pd.Timestamp.max}"
        ) from exc


class ForecastRequest(BaseModel):
    """`POST /api/forecast`: the caller's own candles, oldest first, regularly spaced."""

    candles: list[Candle] = Field(min_length=2)
    horizon: int | None = Field(None, ge=1)
    samples: int | None = Field(None, ge=1)
    seed: Seed = None

    @field_validator("candles")
    @classmethod
    def _ordered(cls, candles: list[Candle]) -> list[Candle]:
        """Strictly increasing timestamps with one regular spacing, within pandas' range."""
        steps = np.diff(candle_stamps(candles).asi8)
        if (steps <= 0).any():
            raise ValueError("candle timestamps must be strictly increasing")
        if (steps != steps[0]).any():
            raise ValueError("candles must be regularly spaced")
        return candles

    def frame(self) -> pd.DataFrame:
        """The candles as a DataFrame in the `data_sources` candle layout."""
        rows = [c.model_dump() for c in self.candles]
        df = pd.DataFrame(rows)
        df["timestamp"] = candle_stamps(self.candles)
        for column in ("volume", "amount"):
            if df[column].isna().any():
                df = df.drop(columns=column)
        return df


class ForecastResponse(BaseModel):
    """`POST /api/forecast`: the path summary for the caller's candles."""

    prediction: Prediction
    lastClose: float
    lastCandle: str
    intervalSeconds: float
    timestamp: str
    generatedAt: str


# ---- history, assets, health ----------------------------------------------------------------


class HistoryData(BaseModel):
    """The specification's `data` object: `[[ms, value], ...]` series."""

    prices: list[tuple[int, float]]
    volumes: list[tuple[int, float]]
    marketCaps: list[tuple[int, float]]


class HistoryResponse(BaseModel):
    """`GET /api/history`."""

    symbol: str
    days: int
    data: HistoryData
    timestamp: str
    dataSource: str
    stale: bool = False


class AssetEntry(BaseModel):
    """One supported asset (`name` is the CoinGecko id, as in the specification; for a pair of
    the exchange's universe with no known CoinGecko id, its lower-case symbol)."""

    symbol: str
    name: str
    supported: bool = True
    coingeckoId: str | None = None  # None: quote and history derived from the pair's candles
    pair: str | None = None  # the Binance spot pair its candles come from


class AssetsResponse(BaseModel):
    """`GET /api/assets`."""

    assets: list[AssetEntry]
    count: int
    intervals: list[str] = Field(
        default_factory=list,
        description="the candle intervals forecast with this market data (`interval=`)",
    )
