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
- Confidence, second stage: a calibrated marginal distribution does not make the trend
  probability calibrated *conditionally on its stated value* (the reliability diagram). So per
  step the stated values c_i = P_cal(trend_i true) of the `confidence_window` most recent scored
  forecasts and their outcomes o_i (trend hit, 0/1) fit a histogram-binning map M (ten
  equal-width bins of c; in bin b
  M_b = (sum of o_i + k' c_b) / (n_b + k') with c_b the bin's mean stated value and k'
  ``confidence_prior`` pseudo-observations, made
  non-decreasing by pooling adjacent violators, linear between bin means). The served confidence
  is M(P_cal(trend true)); the value before M is kept as `confidence_dist`.
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
    """Window lengths, minimum count and smoothing of the rolling recalibration.

    `window` PITs per step fit G; the confidence map M, ten bins of (stated, hit) pairs, has
    more parameters to estimate and reads the longer `confidence_window`. The defaults were
    chosen on the small model's replay before the last 60 days (see the README).
    """

    window: int = 1000
    min_scored: int = 50
    prior: float = 5.0
    confidence_window: int = 2000
    confidence_prior: float = 5.0

    def version(self) -> str:
        """A short id of the method and its settings, recorded with every forecast."""
        w, c, m, k = self.window, self.confidence_window, self.min_scored, self.prior
        return f"qr5-w{w}-c{c}-m{m}-k{k:g}-ck{self.confidence_prior:g}"


DEFAULT_SETTINGS = RecalibrationSettings()  # of the model's own grid: sharp, far from calibrated
# Of the blend's grid, close to calibrated already: a long window, heavily smoothed towards the
# identity, so the map's noise costs less CRPS than it saves (docs/forecast-skill.md).
BLEND_SETTINGS = RecalibrationSettings(window=4000, prior=2000.0)


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


def pool_adjacent_violators(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """The weighted least-squares non-decreasing fit of `values`."""
    blocks: list[list[float]] = []  # [value, weight, count]
    for v, w in zip(values, weights, strict=True):
        blocks.append([float(v), float(w), 1])
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
            v2, w2, n2 = blocks.pop()
            v1, w1, n1 = blocks.pop()
            blocks.append([(v1 * w1 + v2 * w2) / (w1 + w2), w1 + w2, n1 + n2])
    return np.concatenate([np.full(n, v) for v, _, n in blocks])


@dataclass(frozen=True)
class ConfidenceMap:
    """M: stated trend probability -> observed hit rate (monotone histogram binning)."""

    centers: np.ndarray  # mean stated value per bin, increasing
    values: np.ndarray  # calibrated hit rate per bin, non-decreasing

    @classmethod
    def fit(cls, stated: np.ndarray, hits: np.ndarray, prior: float, bins: int = 10):
        """Fit from recent (stated, hit) pairs, each bin shrunk towards its stated value."""
        stated = np.clip(np.asarray(stated, dtype=float), 0.0, 1.0)
        b = np.minimum((stated * bins).astype(int), bins - 1)
        n = np.bincount(b, minlength=bins).astype(float)
        mean = np.bincount(b, weights=stated, minlength=bins) / np.maximum(n, 1.0)
        centers = np.where(n > 0, mean, (np.arange(bins) + 0.5) / bins)
        hit = np.bincount(b, weights=np.asarray(hits, dtype=float), minlength=bins)
        values = (hit + prior * centers) / (n + prior)
        return cls(centers, pool_adjacent_violators(values, n + prior))

    def __call__(self, c: np.ndarray) -> np.ndarray:
        """M(c)."""
        return np.interp(c, self.centers, self.values)


@dataclass(frozen=True)
class Calibration:
    """A fitted rolling recalibration: one PIT map per forecast step that had enough PITs."""

    settings: RecalibrationSettings
    maps: Mapping[int, PitMap]  # step (1-based) -> G
    counts: Mapping[int, int]  # step -> PITs in its window
    fitted_at: datetime | None
    reason: str | None = None
    method: str = METHOD
    confidence_maps: Mapping[int, ConfidenceMap] = field(default_factory=dict)

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
    confidence_by_step: Mapping[int, tuple[Sequence[float], Sequence[float]]] | None = None,
) -> Calibration:
    """Fit G per step from its most recent PITs (callers pass them newest first), and M from
    the same forecasts' (stated confidence, trend hit) pairs where given."""
    maps, counts, short, cmaps = {}, {}, [], {}
    for step in range(1, horizon + 1):
        pits = np.asarray(pits_by_step.get(step, ()), dtype=float)[: settings.window]
        pits = pits[np.isfinite(pits)]
        counts[step] = int(pits.size)
        if pits.size < settings.min_scored:
            short.append(step)
            continue
        maps[step] = PitMap.fit(pits, settings.prior)
        stated, hits = (confidence_by_step or {}).get(step, ((), ()))
        if len(stated) >= settings.min_scored:
            window = slice(0, settings.confidence_window)
            cmaps[step] = ConfidenceMap.fit(stated[window], hits[window], settings.confidence_prior)
    reason = None
    if short:
        fewest = min(counts[s] for s in short)
        reason = (
            f"too few scored forecasts: {len(short)} of {horizon} steps have fewer than "
            f"{settings.min_scored} (fewest {fewest}); those steps are served raw"
        )
    return Calibration(settings, maps, counts, fitted_at, reason, confidence_maps=cmaps)


@dataclass
class CalibratedSteps:
    """Per-step values derived from a (calibrated where possible) close distribution."""

    calibrated: np.ndarray  # (H,) bool: step recalibrated
    quantiles: np.ndarray  # (H, K) on QUANTILE_LEVELS
    bands: dict[float, tuple[np.ndarray, np.ndarray]]  # level -> (low, high), each (H,)
    up_probability: np.ndarray  # (H,)
    confidence: np.ndarray  # (H,) M(confidence_dist) where a confidence map exists
    confidence_dist: np.ndarray  # (H,) P(stated trend at that step comes true) from F_cal
    above: np.ndarray  # (H, T) P(close > threshold)
    extra: dict[float, np.ndarray] = field(default_factory=dict)  # level -> (H,) quantile


def step_maps(calibration: Calibration | None, horizon: int) -> list[PitMap | None]:
    """G per step (1..horizon) where the calibration has one, else None (served raw)."""
    return [None if calibration is None else calibration.maps.get(h + 1) for h in range(horizon)]


def calibrated_cdf(raw: np.ndarray, x: np.ndarray, maps: Sequence[PitMap | None]) -> np.ndarray:
    """F_cal(x) per step: raw (H, K), x (H, T) -> (H, T)."""
    u = cdf_from_quantiles(raw[:, None, :], x)
    return np.stack([u[h] if g is None else g(u[h]) for h, g in enumerate(maps)])


def calibrated_quantiles(
    raw: np.ndarray, alphas: np.ndarray, maps: Sequence[PitMap | None]
) -> np.ndarray:
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
    maps = step_maps(calibration, horizon)
    grid = calibrated_quantiles(raw, QUANTILE_LEVELS, maps)
    bands = {}
    for level in band_levels:
        low, high = calibrated_quantiles(raw, np.array([(1 - level) / 2, (1 + level) / 2]), maps).T
        bands[float(level)] = (np.maximum(low, 0.0), high)
    extra_levels = np.asarray(quantile_levels, dtype=float)
    extra = (
        calibrated_quantiles(raw, extra_levels, maps)
        if extra_levels.size
        else np.empty((horizon, 0))
    )
    points = [last_close, last_close * (1 - trend_threshold), last_close * (1 + trend_threshold)]
    cdf = calibrated_cdf(raw, np.tile(np.array(points + list(thresholds)), (horizon, 1)), maps)
    conf_dist = trend_probability(cdf[:, 1], cdf[:, 2], trend)
    cmaps = {} if calibration is None else calibration.confidence_maps
    confidence = np.array(
        [cmaps[h + 1](c) if h + 1 in cmaps else c for h, c in enumerate(conf_dist)]
    )
    return CalibratedSteps(
        calibrated=np.array([g is not None for g in maps]),
        quantiles=grid,
        bands=bands,
        up_probability=1.0 - cdf[:, 0],
        confidence=confidence,
        confidence_dist=conf_dist,
        above=1.0 - cdf[:, 3:],
        extra={float(a): extra[:, i] for i, a in enumerate(extra_levels)},
    )
