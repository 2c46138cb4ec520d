"""Forecast accuracy metrics on sample paths, vectorised over windows and horizon steps.

Shapes used throughout: ``paths`` (windows, samples, horizon) of one feature (close),
``truth`` and point forecasts (windows, horizon), ``last`` (windows,) the last observed value
before each forecast window. Every function returns one value per window and step; average
over axis 0 for a per-step table.
"""

from __future__ import annotations

import numpy as np

from forecasting.scoring import crps_samples


def absolute_error(point: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """|point - truth|."""
    return np.abs(np.asarray(point, dtype=float) - np.asarray(truth, dtype=float))


def absolute_percentage_error(point: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """100 x |point - truth| / |truth| (percent; truth must be non-zero)."""
    truth = np.asarray(truth, dtype=float)
    return 100.0 * absolute_error(point, truth) / np.abs(truth)


def direction_hits(point: np.ndarray, truth: np.ndarray, last: np.ndarray) -> np.ndarray:
    """1 where the forecast move from ``last`` has the sign of the true move, else 0.

    A forecast of no move (e.g. the naive last price) scores 0.5: it states no direction.
    """
    last = np.asarray(last, dtype=float)[:, None]
    predicted = np.sign(np.asarray(point, dtype=float) - last)
    actual = np.sign(np.asarray(truth, dtype=float) - last)
    return np.where(predicted == 0, 0.5, (predicted == actual).astype(float))


def crps_from_samples(paths: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """CRPS of the empirical distribution of the samples (``forecasting.scoring.crps_samples``
    on the samples axis): one sample gives |x - y|, the absolute error."""
    return crps_samples(np.moveaxis(np.asarray(paths, dtype=float), 1, -1), truth)


def central_band(paths: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    """The sample quantiles (1 - level) / 2 and (1 + level) / 2 over axis -2 (the samples)."""
    if not 0.0 < level < 1.0:
        raise ValueError(f"band level must be in (0, 1), got {level}")
    low, high = np.quantile(
        np.asarray(paths, dtype=float), [(1.0 - level) / 2.0, (1.0 + level) / 2.0], axis=-2
    )
    return low, high


def covered(low: np.ndarray, high: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """1.0 where low <= truth <= high, else 0.0."""
    truth = np.asarray(truth, dtype=float)
    return ((truth >= low) & (truth <= high)).astype(float)
