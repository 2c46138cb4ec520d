"""Split-conformal calibration of a forecaster's central bands, per horizon step.

For a stated level ``l`` the raw band is the sample quantiles ``(1 - l) / 2`` and ``(1 + l) / 2``
of the forecast paths, with half-width ``w``. On held-out windows the conformity score of the
truth ``y`` is ``s = max(low - y, y - high) / w``: how far outside the band the truth fell
(negative: how far inside), in half-widths. Per step ``h`` the adjustment ``q_h`` is the
``ceil((n + 1) l)``-th smallest of the ``n`` scores, and the calibrated band is
``[low - q_h w, high + q_h w]``. Under exchangeability of the calibration and future windows it
covers ``y`` with probability at least ``l`` (and at most ``l + 1 / (n + 1)``).
A negative ``q`` narrows an over-wide band; it is never below -1, so bands never invert.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from forecasting.forecast import FEATURES, Forecast
from forecasting.metrics import central_band

METHOD = "split-conformal, score = distance outside the raw band / band half-width, per step"
# Degenerate (zero-width) bands, e.g. from a single sample path, are scaled by this fraction of
# the band centre instead: the calibrated band is then a relative-error interval.
_RELATIVE_WIDTH_FLOOR = 1e-6


def _half_width(low: np.ndarray, high: np.ndarray) -> np.ndarray:
    centre = (low + high) / 2.0
    return np.maximum((high - low) / 2.0, _RELATIVE_WIDTH_FLOOR * np.abs(centre) + 1e-12)


@dataclass
class BandCalibration:
    """Per-level, per-step band adjustments in units of the raw band half-width."""

    adjustments: dict[float, np.ndarray]
    feature: str = "close"
    n_windows: int = 0
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def levels(self) -> tuple[float, ...]:
        """The stated band levels this calibration was fitted for, ascending."""
        return tuple(sorted(self.adjustments))

    @property
    def horizon(self) -> int:
        """Number of horizon steps fitted; later steps reuse the last step's adjustment."""
        return len(next(iter(self.adjustments.values())))

    @classmethod
    def fit(
        cls,
        paths: np.ndarray,
        truth: np.ndarray,
        levels: Sequence[float] = (0.8, 0.9),
        feature: str = "close",
        metadata: dict[str, Any] | None = None,
    ) -> BandCalibration:
        """Fit from held-out forecasts: ``paths`` (windows, samples, horizon), ``truth``
        (windows, horizon), both of ``feature``."""
        paths = np.asarray(paths, dtype=float)
        truth = np.asarray(truth, dtype=float)
        if paths.ndim != 3 or truth.shape != (paths.shape[0], paths.shape[2]):
            raise ValueError(
                f"need paths (windows, samples, horizon) and truth (windows, horizon), "
                f"got {paths.shape} and {truth.shape}"
            )
        n = truth.shape[0]
        if n < 1:
            raise ValueError("need at least one calibration window")
        adjustments = {}
        for level in levels:
            low, high = central_band(paths, level)
            scores = np.sort(np.maximum(low - truth, truth - high) / _half_width(low, high), axis=0)
            rank = min(math.ceil((n + 1) * level), n)  # k > n would need an infinite band
            adjustments[float(level)] = scores[rank - 1]
        return cls(adjustments, feature=feature, n_windows=n, metadata=dict(metadata or {}))

    def adjust(
        self, low: np.ndarray, high: np.ndarray, level: float
    ) -> tuple[np.ndarray, np.ndarray]:
        """Widen/narrow raw bands (..., horizon) of the stated ``level``."""
        if level not in self.adjustments:
            raise ValueError(f"no calibration for level {level}; fitted levels: {self.levels}")
        q = self.adjustments[level]
        steps = low.shape[-1]
        q = np.concatenate([q, np.full(max(steps - len(q), 0), q[-1])])[:steps]
        w = _half_width(low, high)
        return low - q * w, high + q * w

    def band(
        self, forecast: Forecast, level: float = 0.8, feature: str = "close"
    ) -> tuple[np.ndarray, np.ndarray]:
        """The calibrated band (low, high), each (horizon,), of one forecast."""
        if feature != self.feature:
            raise ValueError(f"calibration was fitted on {self.feature!r}, not {feature!r}")
        low, high = central_band(forecast.paths[:, :, FEATURES.index(feature)], level)
        return self.adjust(low, high, level)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "method": METHOD,
            "feature": self.feature,
            "levels": list(self.levels),
            "n_windows": self.n_windows,
            "adjustments": {str(k): self.adjustments[k].tolist() for k in self.levels},
            "metadata": self.metadata,
        }

    def save(self, path: str | Path) -> None:
        """Write the calibration as JSON."""
        Path(path).write_text(json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> BandCalibration:
        """Read a calibration written by :meth:`save`."""
        data = json.loads(Path(path).read_text())
        return cls(
            {float(k): np.asarray(v, dtype=float) for k, v in data["adjustments"].items()},
            feature=data["feature"],
            n_windows=int(data["n_windows"]),
            metadata=data.get("metadata", {}),
        )
