"""`POST /api/forecast`: the caller's own candles in, the path summary for them out."""

from __future__ import annotations

import math
from datetime import datetime

import numpy as np
import pandas as pd
from pandas.errors import OutOfBoundsDatetime
from pydantic import BaseModel, Field, field_validator, model_validator

from forecast_api.http.schemas import Prediction, Seed


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
