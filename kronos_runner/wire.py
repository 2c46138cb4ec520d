"""What travels between the API service and the Kronos runner service (torch-free).

A `RunnerItem` carries one series' candles as columns (timestamps in Unix ms), its horizon, seed
and sampling parameters; a `RunnerResult` carries the sample paths back, or an error with its
kind: `invalid` (the series cannot be forecast: a client error), `not_loaded`, `failed`,
`non_finite` or `non_positive` (the model's fault: the API serves the fallback), or `expired`
(the item's `deadline` passed before the runner reached it: the API no longer waits for it).
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, Field

from forecasting.forecast import FEATURES, PRICES, Forecast

ErrorKind = Literal["invalid", "failed", "not_loaded", "non_finite", "non_positive", "expired"]


def forecast_problem(forecast: Forecast) -> tuple[ErrorKind, str] | None:
    """Why a model forecast cannot be served: non-finite values, or prices that are not all
    positive (the model's de-normalisation can go below zero); None when it can."""
    if not np.isfinite(forecast.paths).all():
        return "non_finite", "the model returned non-finite values"
    if not (forecast.paths[:, :, : len(PRICES)] > 0).all():
        return "non_positive", "the model returned non-positive prices"
    return None


class SamplingParams(BaseModel):
    """Sampling parameters; items with equal parameters share one generation pass."""

    samples: int = Field(ge=1)
    temperature: float = Field(1.0, gt=0)
    top_k: int = Field(0, ge=0)
    top_p: float = Field(0.9, gt=0, le=1)


class RunnerItem(BaseModel):
    """One series to forecast: columns of candles (timestamps in Unix ms), horizon, sampling."""

    timestamps: list[int]
    open: list[float]
    high: list[float]
    low: list[float]
    close: list[float]
    volume: list[float] | None = None
    amount: list[float] | None = None
    horizon: int
    seed: int | None = None
    sampling: SamplingParams
    deadline: float | None = None  # Unix time (s) after which the API no longer waits for it
    model: str | None = None  # a KRONOS_CHALLENGERS name; None: the main model

    @classmethod
    def from_frame(
        cls, df: pd.DataFrame, horizon: int, sampling: SamplingParams, seed: int | None
    ) -> RunnerItem:
        """Build an item from a candle DataFrame (timestamp column, OHLC[VA])."""
        columns = {name: df[name].astype(float).tolist() for name in FEATURES if name in df.columns}
        stamps = pd.DatetimeIndex(pd.to_datetime(df["timestamp"], utc=True))
        return cls(
            timestamps=stamps.as_unit("ms").asi8.tolist(),
            horizon=horizon,
            seed=seed,
            sampling=sampling,
            **columns,
        )

    def frame(self) -> pd.DataFrame:
        """The item's candles as a DataFrame for `KronosPipeline.predict`."""
        data = {"timestamp": pd.to_datetime(self.timestamps, unit="ms", utc=True)}
        for name in FEATURES:
            values = getattr(self, name)
            if values is not None:
                data[name] = values
        return pd.DataFrame(data)


class RunnerResult(BaseModel):
    """One item's outcome: paths (samples x horizon x 6, FEATURES order) or an error."""

    ok: bool
    error: str | None = None
    error_kind: ErrorKind | None = None
    timestamps: list[int] = []
    paths: list[list[list[float]]] = []
    trained_weights: bool | None = None  # False: the checkpoint says its weights are random

    @classmethod
    def from_forecast(cls, forecast: Forecast, trained_weights: bool = True) -> RunnerResult:
        """Wrap a forecast; an unusable one (`forecast_problem`) becomes an error."""
        problem = forecast_problem(forecast)
        if problem is not None:
            return cls.failure(*problem)
        return cls(
            ok=True,
            timestamps=forecast.timestamps.as_unit("ms").asi8.tolist(),
            paths=forecast.paths.astype(float).tolist(),
            trained_weights=trained_weights,
        )

    @classmethod
    def failure(cls, kind: ErrorKind, message: str) -> RunnerResult:
        """A per-item error."""
        return cls(ok=False, error_kind=kind, error=message)

    def forecast(self) -> Forecast:
        """The result as a `kronos_runner.Forecast`."""
        return Forecast(
            timestamps=pd.DatetimeIndex(pd.to_datetime(self.timestamps, unit="ms", utc=True)),
            paths=np.asarray(self.paths, dtype=np.float64),
        )


class ModelState(BaseModel):
    """One loaded (or failed) checkpoint pair: ids, digest, whether its weights were trained."""

    loaded: bool
    modelId: str
    tokenizerId: str
    error: str | None = None
    checkpointDigest: str | None = Field(
        None, description="SHA-256 prefixes of the model's and the tokenizer's weights, m+t"
    )
    trainedWeights: bool | None = Field(
        None, description="false when a checkpoint marks its weights untrained (random init)"
    )
    provenance: dict[str, Any] | None = Field(
        None, description="the predictor checkpoint's record: base, data range, steps, val loss"
    )


class ChallengerState(ModelState):
    """A KRONOS_CHALLENGERS checkpoint, by the name a `RunnerItem.model` uses."""

    name: str


class RunnerStatus(ModelState):
    """The runner's main model state (`loaded` false: `error` says why, or `loading` is true),
    and its challengers'."""

    loading: bool = False
    device: str | None = None
    maxContext: int | None = None
    challengers: list[ChallengerState] = []
