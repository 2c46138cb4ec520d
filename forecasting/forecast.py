"""The forecast value: sample paths of candles over a horizon, and the feature order."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

FEATURES = ("open", "high", "low", "close", "volume", "amount")
PRICES = FEATURES[:4]
CLOSE = FEATURES.index("close")


@dataclass(frozen=True)
class Forecast:
    """Sample paths of one series' horizon, in the series' units, in FEATURES order."""

    timestamps: pd.DatetimeIndex  # (horizon,), UTC open times of the forecast candles
    paths: np.ndarray  # (samples, horizon, 6), finite

    @property
    def closes(self) -> np.ndarray:
        """(samples, horizon) float64: the close of every path and step."""
        return np.asarray(self.paths, dtype=np.float64)[:, :, CLOSE]

    @property
    def mean(self) -> pd.DataFrame:
        """Mean over sample paths: index timestamps, columns FEATURES."""
        return pd.DataFrame(self.paths.mean(axis=0), index=self.timestamps, columns=list(FEATURES))

    def quantiles(
        self, levels: Sequence[float] = (0.1, 0.5, 0.9), feature: str = "close"
    ) -> pd.DataFrame:
        """Per-step quantiles over sample paths of one feature: index timestamps, columns levels."""
        if feature not in FEATURES:
            raise ValueError(f"unknown feature {feature!r}; expected one of {FEATURES}")
        levels = [float(q) for q in levels]
        if not levels or any(not 0.0 <= q <= 1.0 for q in levels):
            raise ValueError(f"quantile levels must be in [0, 1], got {levels}")
        values = np.quantile(self.paths[:, :, FEATURES.index(feature)], levels, axis=0)
        return pd.DataFrame(values.T, index=self.timestamps, columns=levels)
