"""What a replay forecasts with: the model (however it is reached) or a baseline, as the
`forecast_many` and `meta_for` that `ledger.replay.replay` takes.

Every forecaster sees each context after the service's gap rule (`forecasting.gaps.regularise`)
with the seed fixed by symbol, interval and origin (`ledger.records.derive_seed`), so the CLI's
replay and a backtest job of the same window record the same forecasts.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from forecasting.baselines import Drift, FallbackForecaster, NaiveLastPrice, RandomWalk
from forecasting.gaps import regularise
from ledger.records import RecordMeta, derive_seed
from ledger.replay import ForecastMany, MetaFor

# regular series (oldest first, a `timestamp` column), horizon, seeds -> (samples, horizon) closes
Predict = Callable[[list[pd.DataFrame], int, list[int]], Sequence[np.ndarray]]
BASELINES = {
    "naive": NaiveLastPrice,
    "drift": Drift,
    "random_walk": RandomWalk,
    "fallback": FallbackForecaster,
}


@dataclass(frozen=True)
class ReplayForecaster:
    """A forecaster for replays, and the provenance its records carry."""

    model_kind: str  # kronos | naive | drift | fallback
    model_id: str
    samples: int
    predict: Predict
    sampler: dict[str, Any] = field(default_factory=dict)
    tokenizer_id: str | None = None
    revision: str | None = None

    def forecast_many(self, interval: str, *, max_fill: int, min_length: int) -> ForecastMany:
        """Close paths per context (indexed by open time, `attrs["symbol"]` set)."""

        def forecast_many(frames: list[pd.DataFrame], horizon: int) -> Sequence[np.ndarray]:
            regular = [
                regularise(f.reset_index(), max_fill=max_fill, min_length=min_length)[0]
                for f in frames
            ]
            seeds = [derive_seed(f.attrs["symbol"], interval, f.index[-1]) for f in frames]
            return self.predict(regular, horizon, seeds)

        return forecast_many

    def meta_for(self, interval: str) -> MetaFor:
        """The record metadata of a replayed forecast of `symbol` at `origin`."""

        def meta_for(symbol: str, origin: int) -> RecordMeta:
            return RecordMeta(
                symbol=symbol,
                interval=interval,
                kind="replay",
                model_kind=self.model_kind,
                model_id=self.model_id,
                tokenizer_id=self.tokenizer_id,
                revision=self.revision,
                samples=self.samples,
                seed=derive_seed(symbol, interval, origin),
                sampler=self.sampler,
            )

        return meta_for


def baseline(name: str, samples: int) -> ReplayForecaster:
    """The baseline `name` (naive, drift or fallback) with `samples` paths per forecast."""
    if name not in BASELINES:
        raise ValueError(f"unknown baseline {name!r}; use one of {', '.join(BASELINES)}")
    forecaster = BASELINES[name]()

    def predict(series: list[pd.DataFrame], horizon: int, seeds: list[int]) -> list[np.ndarray]:
        return [
            forecaster.forecast([s], horizon, samples=samples, seed=seed)[0].closes
            for s, seed in zip(series, seeds, strict=True)
        ]

    paths = 1 if name == "naive" else samples  # the naive forecast is one path
    return ReplayForecaster(name, f"baseline:{name}", paths, predict)
