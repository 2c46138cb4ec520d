"""Calibration that follows the market: rolling quantile recalibration of each step's close CDF.

The maths (Kuleshov, Fenner & Ermon 2018, "Accurate uncertainties for deep learning using
calibrated regression", applied per forecast step over a rolling window):

- The model's raw predictive CDF of the close h steps ahead is F (a quantile grid, see
  :mod:`forecasting.scoring`). If F were calibrated its PIT values p = F(y) would be uniform on
  [0, 1]. A rolling window of the n most recent PIT values of step h (forecasts *realised and
  scored before* the forecast being adjusted) estimates their real distribution.
- G_hat is the empirical CDF of those PITs, made continuous by linear interpolation through the
  plotting positions (p_(i), (i - 1/2) / n) and the end points (0, 0), (1, 1).
- Smoothing: G = (n G_hat + k U) / (n + k), a mixture with the identity U(u) = u weighted by k
  pseudo-observations (``prior``). Small windows stay close to the raw model, G is strictly
  increasing, and G -> G_hat as n grows.
- The calibrated CDF is F_cal(x) = G(F(x)); the calibrated quantile at level a is
  F_cal^-1(a) = F^-1(G^-1(a)). Both maps are non-decreasing, so calibrated quantiles never cross.
- Derived from F_cal: the central band at level L is (F_cal^-1((1 - L)/2), F_cal^-1((1 + L)/2));
  upProbability = P(close_h > last close) = 1 - F_cal(last); a threshold probability
  P(close_h > x) = 1 - F_cal(x); confidence = P(the stated trend comes true) with tau the trend
  threshold: bullish 1 - F_cal(last (1 + tau)), bearish F_cal(last (1 - tau)), neutral
  F_cal(last (1 + tau)) - F_cal(last (1 - tau)).
- With fewer than ``min_scored`` PITs for a step, that step is served raw and the calibration
  says why.

If the recent past is calibrated in distribution (PITs uniform), G is the identity and nothing
changes; when the market's volatility shifts, the window fills with PITs of the new regime within
``window`` scored forecasts and the bands follow.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np

from forecasting.scoring import QUANTILE_LEVELS, cdf_from_quantiles, quantiles_at

METHOD = "quantile-recalibration"


@dataclass(frozen=True)
class RecalibrationSettings:
    """Window length, minimum count and smoothing of the rolling recalibration."""

    window: int = 500
    min_scored: int = 50
    prior: float = 20.0

    def version(self) -> str:
        """A short id of the method and its settings, recorded with every forecast."""
        return f"qr1-w{self.window}-m{self.min_scored}-k{self.prior:g}"


DEFAULT_SETTINGS = RecalibrationSettings()


@dataclass(frozen=True)
class PitMap:
    """G: the smoothed empirical CDF of one step's recent PIT values (piecewise linear)."""

    knots: np.ndarray  # u values, non-decreasing, from 0 to 1
    values: np.ndarray  # G(u) at the knots, strictly increasing from 0 to 1

    @classmethod
    def fit(cls, pits: np.ndarray, prior: float) -> PitMap:
        """G = (n G_hat + k u) / (n + k) through the plotting positions of the sorted PITs."""
        p = np.sort(np.clip(np.asarray(pits, dtype=float), 0.0, 1.0))
        n = p.size
        knots = np.concatenate([[0.0], p, [1.0]])
        empirical = np.concatenate([[0.0], (np.arange(n) + 0.5) / n, [1.0]])
        values = (n * empirical + prior * knots) / (n + prior)
        return cls(knots=knots, values=values)

    def __call__(self, u: np.ndarray) -> np.ndarray:
        """G(u)."""
        return np.interp(u, self.knots, self.values)

    def inverse(self, alpha: np.ndarray) -> np.ndarray:
        """G^-1(alpha)."""
        return np.interp(alpha, self.values, self.knots)


@dataclass(frozen=True)
class Calibration:
    """A fitted rolling recalibration: one PIT map per forecast step that had enough PITs."""

    settings: RecalibrationSettings
    maps: Mapping[int, PitMap]  # step (1-based) -> G
    counts: Mapping[int, int]  # step -> PITs in its window
    fitted_at: datetime | None
    reason: str | None = None
    method: str = METHOD

    @property
    def version(self) -> str:
        """The settings' version string."""
        return self.settings.version()

    def info(self) -> dict:
        """What the response says about how it was calibrated."""
        return {
            "method": self.method,
            "version": self.version,
            "window": self.settings.window,
            "scored": int(min(self.counts.values(), default=0)),
            "calibratedSteps": sorted(self.maps),
            "fittedAt": self.fitted_at,
            "reason": self.reason,
        }


def fit_calibration(
    pits_by_step: Mapping[int, Sequence[float]],
    horizon: int,
    settings: RecalibrationSettings = DEFAULT_SETTINGS,
    fitted_at: datetime | None = None,
) -> Calibration:
    """Fit G per step from its most recent PITs (callers pass them newest first)."""
    maps, counts, short = {}, {}, []
    for step in range(1, horizon + 1):
        pits = np.asarray(pits_by_step.get(step, ()), dtype=float)[: settings.window]
        pits = pits[np.isfinite(pits)]
        counts[step] = int(pits.size)
        if pits.size >= settings.min_scored:
            maps[step] = PitMap.fit(pits, settings.prior)
        else:
            short.append(step)
    reason = None
    if short:
        fewest = min(counts[s] for s in short)
        reason = (
            f"too few scored forecasts: {len(short)} of {horizon} steps have fewer than "
            f"{settings.min_scored} (fewest {fewest}); those steps are served raw"
        )
    return Calibration(settings, maps, counts, fitted_at, reason)


@dataclass
class CalibratedSteps:
    """Per-step values derived from a (calibrated where possible) close distribution."""

    calibrated: np.ndarray  # (H,) bool: step recalibrated
    quantiles: np.ndarray  # (H, K) on QUANTILE_LEVELS
    bands: dict[float, tuple[np.ndarray, np.ndarray]]  # level -> (low, high), each (H,)
    up_probability: np.ndarray  # (H,)
    confidence: np.ndarray  # (H,) P(stated trend at that step comes true)
    above: np.ndarray  # (H, T) P(close > threshold)
    extra: dict[float, np.ndarray] = field(default_factory=dict)  # level -> (H,) quantile


def _cdf(raw: np.ndarray, x: np.ndarray, maps: Sequence[PitMap | None]) -> np.ndarray:
    """F_cal(x) per step: raw (H, K), x (H, T) -> (H, T)."""
    u = cdf_from_quantiles(raw[:, None, :], x)
    return np.stack([u[h] if g is None else g(u[h]) for h, g in enumerate(maps)])


def _quantiles(raw: np.ndarray, alphas: np.ndarray, maps: Sequence[PitMap | None]) -> np.ndarray:
    """F_cal^-1(alpha) per step: raw (H, K), alphas (A,) -> (H, A)."""
    levels = np.stack([alphas if g is None else g.inverse(alphas) for g in maps])
    return quantiles_at(raw, levels)


def trend_probability(cdf_low: np.ndarray, cdf_high: np.ndarray, trend: np.ndarray) -> np.ndarray:
    """P(trend true) from F(last (1 - tau)) and F(last (1 + tau)) per step."""
    trend = np.asarray(trend)
    return np.where(
        trend == "bullish",
        1.0 - cdf_high,
        np.where(trend == "bearish", cdf_low, cdf_high - cdf_low),
    )


def derive(
    raw: np.ndarray,
    last_close: float,
    trend: Sequence[str],
    trend_threshold: float,
    calibration: Calibration | None,
    *,
    band_levels: Sequence[float] = (0.8, 0.9),
    quantile_levels: Sequence[float] = (),
    thresholds: Sequence[float] = (),
) -> CalibratedSteps:
    """Calibrated quantiles, bands, upProbability, confidence and P(close > x) per step.

    ``raw`` is the raw quantile grid (H, K); without a calibration (or for a step without a map)
    the values are those of the raw distribution.
    """
    horizon = raw.shape[0]
    maps = [None if calibration is None else calibration.maps.get(h + 1) for h in range(horizon)]
    grid = _quantiles(raw, QUANTILE_LEVELS, maps)
    bands = {}
    for level in band_levels:
        low, high = _quantiles(raw, np.array([(1 - level) / 2, (1 + level) / 2]), maps).T
        bands[float(level)] = (np.maximum(low, 0.0), high)
    extra_levels = np.asarray(quantile_levels, dtype=float)
    extra = _quantiles(raw, extra_levels, maps) if extra_levels.size else np.empty((horizon, 0))
    points = [last_close, last_close * (1 - trend_threshold), last_close * (1 + trend_threshold)]
    cdf = _cdf(raw, np.tile(np.array(points + list(thresholds)), (horizon, 1)), maps)
    return CalibratedSteps(
        calibrated=np.array([g is not None for g in maps]),
        quantiles=grid,
        bands=bands,
        up_probability=1.0 - cdf[:, 0],
        confidence=trend_probability(cdf[:, 1], cdf[:, 2], trend),
        above=1.0 - cdf[:, 3:],
        extra={float(a): extra[:, i] for i, a in enumerate(extra_levels)},
    )
