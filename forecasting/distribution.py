"""The forecast distribution per step: quantiles, central intervals and threshold probabilities.

All three come from the same sample paths of the close (samples, horizon):

- quantile ``q`` at step h: the sample quantile of the close (numpy's default linear rule);
- central interval of level ``l`` (a fraction): the quantiles ``(1 - l) / 2`` and ``(1 + l) / 2``;
- with a :class:`BandCalibration` fitted for a level ``l``, the quantile pair ``(1 - l) / 2``,
  ``(1 + l) / 2`` is widened or narrowed by the calibration (``calibration.adjust``); quantiles
  whose central level is not fitted stay raw and are reported as uncalibrated;
- after any calibration the quantile grid is rearranged (sorted along the probability axis), so
  quantiles never cross and intervals are nested; no edge is below 0;
- ``P(close > x)`` at step h: the share of paths whose close exceeds ``x``, a path exactly at
  ``x`` counting one half (so the sample median has probability 0.5 when the closes are
  distinct). It is never calibrated.
- where the ledger's blend serves a step (``blend``: the blend's quantile grid per step, NaN rows
  where a step serves the model), every value of that step comes from the blend's grid (and the
  rolling calibration applied to it), not from the model's paths.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from forecasting.calibration import BandCalibration
from forecasting.recalibration import (
    Calibration,
    calibrated_cdf,
    calibrated_quantiles,
    step_maps,
)
from forecasting.scoring import sample_quantiles

_DIGITS = 9  # probabilities and levels are matched after rounding to this many digits


@dataclass(frozen=True)
class QuantileGrid:
    """Per-step quantiles of the close at ascending probabilities, and which are calibrated."""

    probabilities: tuple[float, ...]  # ascending, distinct, in (0, 1)
    values: np.ndarray  # (len(probabilities), horizon), non-decreasing along axis 0
    calibrated: tuple[bool, ...]

    def at(self, probability: float) -> np.ndarray:
        """(horizon,) quantile at one of the grid's probabilities."""
        return self.values[self.probabilities.index(_key(probability))]

    def is_calibrated(self, probability: float) -> bool:
        """Whether the quantile at `probability` was adjusted by a calibration."""
        return self.calibrated[self.probabilities.index(_key(probability))]


def _key(value: float) -> float:
    return round(float(value), _DIGITS)


def interval_edges(level: float) -> tuple[float, float]:
    """The probabilities (low, high) of the central interval of `level` (a fraction)."""
    return _key((1.0 - level) / 2.0), _key((1.0 + level) / 2.0)


def quantile_grid(
    closes: np.ndarray,
    probabilities: Sequence[float] = (),
    levels: Sequence[float] = (),
    calibration: BandCalibration | None = None,
) -> QuantileGrid:
    """The quantiles at `probabilities` and at the edges of the central intervals of `levels`
    (fractions), calibrated where `calibration` has the level, rearranged so none cross."""
    wanted = {_key(p) for p in probabilities}
    wanted.update(edge for level in levels for edge in interval_edges(level))
    grid = tuple(sorted(wanted))
    if not grid or grid[0] <= 0.0 or grid[-1] >= 1.0:
        raise ValueError(f"quantile probabilities must lie in (0, 1), got {grid}")
    closes = np.asarray(closes, dtype=np.float64)
    values = np.quantile(closes, grid, axis=0)
    calibrated = [False] * len(grid)
    fitted = {_key(level): level for level in (calibration.levels if calibration else ())}
    for i, p in enumerate(grid):
        level = fitted.get(_key(abs(2.0 * p - 1.0)))
        if level is None:
            continue
        low_p, high_p = interval_edges(level)
        raw = np.quantile(closes, [low_p, high_p], axis=0)
        low, high = calibration.adjust(raw[0], raw[1], level)
        values[i] = low if p < 0.5 else high
        calibrated[i] = True
    values = np.sort(np.maximum(values, 0.0), axis=0)  # rearrangement: no crossing
    return QuantileGrid(grid, values, tuple(calibrated))


def central_intervals(
    grid: QuantileGrid, levels: Sequence[float]
) -> list[tuple[float, np.ndarray, np.ndarray, bool]]:
    """(level, low, high, calibrated) per level (a fraction), from a grid holding its edges."""
    out = []
    for level in levels:
        low_p, high_p = interval_edges(level)
        calibrated = grid.is_calibrated(low_p) and grid.is_calibrated(high_p)
        out.append((float(level), grid.at(low_p), grid.at(high_p), calibrated))
    return out


def _served_grid(
    closes: np.ndarray, calibration: Calibration | None, blend: np.ndarray | None
) -> tuple[list, np.ndarray, np.ndarray, np.ndarray]:
    """(maps, calibrated steps, steps from the grid, the grid (H, K)): the paths' quantile grid,
    the blend's rows where it serves a step."""
    raw = sample_quantiles(np.asarray(closes, dtype=np.float64).T)
    maps = step_maps(calibration, raw.shape[0])
    calibrated = np.array([g is not None for g in maps])
    blended = np.zeros_like(calibrated) if blend is None else np.isfinite(blend).all(axis=1)
    if blended.any():
        raw = np.where(blended[:, None], blend, raw)
    return maps, calibrated, calibrated | blended, raw


def recalibrated_grid(
    grid: QuantileGrid,
    closes: np.ndarray,
    calibration: Calibration | None,
    blend: np.ndarray | None = None,
) -> QuantileGrid:
    """`grid` with the steps a rolling calibration or the blend covers taken from the served
    CDF, F^-1(G^-1(p)) (`forecasting.recalibration`; F the blend's where it serves a step); a
    probability is calibrated when every step is (by either calibration)."""
    maps, calibrated, on, raw = _served_grid(closes, calibration, blend)
    if not on.any():
        return grid
    rolled = calibrated_quantiles(raw, np.array(grid.probabilities), maps).T  # (P, H)
    values = np.sort(np.maximum(np.where(on, rolled, grid.values), 0.0), axis=0)
    mixed = bool((on & ~calibrated).any())
    flags = tuple(bool(calibrated.all()) or (flag and not mixed) for flag in grid.calibrated)
    return QuantileGrid(grid.probabilities, values, flags)


def recalibrated_above(
    above: np.ndarray,
    closes: np.ndarray,
    prices: Sequence[float],
    calibration: Calibration | None,
    blend: np.ndarray | None = None,
) -> tuple[np.ndarray, bool]:
    """(len(prices), horizon) P(close > price): 1 - F_cal(price) on the steps a rolling
    calibration or the blend covers, `above` (the share of paths) elsewhere; and whether every
    step was calibrated."""
    maps, calibrated, on, raw = _served_grid(closes, calibration, blend)
    if not on.any() or not len(prices):
        return above, False
    x = np.tile(np.asarray(prices, dtype=np.float64), (len(maps), 1))
    rolled = 1.0 - calibrated_cdf(raw, x, maps).T  # (T, H)
    return np.where(on, rolled, above), bool(calibrated.all())


def probability_above(closes: np.ndarray, prices: Sequence[float]) -> np.ndarray:
    """(len(prices), horizon): share of paths whose close exceeds each price, ties counting
    one half."""
    closes = np.asarray(closes, dtype=np.float64)[None, :, :]
    levels = np.asarray(prices, dtype=np.float64)[:, None, None]
    above = (closes > levels).mean(axis=1)
    ties = (closes == levels).mean(axis=1)
    return above + 0.5 * ties
