"""Scores of a probabilistic forecast against the realised value, vectorised (numpy only).

A predictive distribution of one value (a step's close) is held as a *quantile grid*: the values
``q_k = F^-1(tau_k)`` at the fixed levels :data:`QUANTILE_LEVELS` (tau_k = k / 100, k = 1..99).
Arrays broadcast: ``quantiles`` is ``(..., K)`` and ``y`` is ``(...)``.

- CRPS(F, y) = integral (F(x) - 1{y <= x})^2 dx = 2 * integral_0^1 rho_tau(y - F^-1(tau)) dtau,
  with the pinball loss rho_tau(u) = u (tau - 1{u < 0}). On the grid the integral is the mean
  over the K levels, ``crps = (2 / K) sum_k rho_tau_k(y - q_k)``; because the grid is symmetric
  (sum of tau_k = K / 2) this is exact for a point mass (CRPS = |y - c|), and for a Gaussian it is
  within 1% of the closed form (checked in the tests).
- PIT(F, y) = F(y), with F linear between the grid's points and Gaussian tails beyond its ends
  (see :func:`cdf_from_quantiles`), so a too-narrow forecast still gets PIT values that tell how
  far out the truth fell, which the recalibration needs to widen it. A grid read off a few
  samples says nothing beyond its extreme sample, and with tied samples (the tokenizer's discrete
  prices, 20 paths, one hour ahead) its last grid steps have no spread at all; so a tail is never
  thinner than the Gaussian of the grid's interquartile range.
- The drift baseline: a random walk with drift in log price, log C_h ~ N(log c_0 + h mu,
  h sigma^2) with mu, sigma the mean and standard deviation of the context's one-step log returns
  (the same maths as ``forecasting.baselines.Drift``, here in closed form: a lognormal CRPS).
- The random walk baseline: the drift baseline without its mu term, log C_h ~ N(log c_0,
  h sigma^2): median at the last close, the volatility of the context's returns.
- The naive baseline: the last close c_0 as a point forecast, so its CRPS equals its absolute
  error |y - c_0|.
"""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np

QUANTILE_LEVELS: np.ndarray = np.round(np.arange(1, 100) / 100.0, 2)
"""The 99 percentiles: every band level in whole percent is on the grid (80%, 90%, 95%...)."""

_erfc = np.vectorize(math.erfc, otypes=[float])
_inv_cdf = np.vectorize(NormalDist().inv_cdf, otypes=[float])


def normal_cdf(z: np.ndarray) -> np.ndarray:
    """Standard normal CDF, elementwise (through erfc: accurate far into the lower tail)."""
    return 0.5 * _erfc(-np.asarray(z, dtype=float) / math.sqrt(2.0))


def normal_pdf(z: np.ndarray) -> np.ndarray:
    """Standard normal density, elementwise."""
    z = np.asarray(z, dtype=float)
    return np.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)


def sample_quantiles(samples: np.ndarray, levels: np.ndarray = QUANTILE_LEVELS) -> np.ndarray:
    """Quantile grid of samples on the last axis: ``(..., S)`` -> ``(..., K)``."""
    grid = np.quantile(np.asarray(samples, dtype=float), levels, axis=-1)
    return np.moveaxis(grid, 0, -1)


def pinball(quantiles: np.ndarray, y: np.ndarray, levels: np.ndarray = QUANTILE_LEVELS):
    """Pinball loss per level: ``(..., K)`` for ``y`` of shape ``(...)``."""
    diff = np.asarray(y, dtype=float)[..., None] - np.asarray(quantiles, dtype=float)
    return np.maximum(levels * diff, (levels - 1.0) * diff)


def crps_quantiles(
    quantiles: np.ndarray, y: np.ndarray, levels: np.ndarray = QUANTILE_LEVELS
) -> np.ndarray:
    """CRPS from a quantile grid: twice the mean pinball loss over the levels."""
    return 2.0 * pinball(quantiles, y, levels).mean(axis=-1)


#: midpoints of 1000 equal slices of (0, 1): the quadrature of :func:`crps_grid`
FINE_LEVELS = (np.arange(1000) + 0.5) / 1000


def crps_grid(
    quantiles: np.ndarray, y: np.ndarray, levels: np.ndarray = QUANTILE_LEVELS, rows: int = 4096
) -> np.ndarray:
    """CRPS of the distribution a quantile grid defines (its interpolation and tails, as
    :func:`cdf_from_quantiles`), by the midpoint rule on :data:`FINE_LEVELS`. The 99 grid
    levels alone under-count it (a random walk scores 1.0096x its closed form on them, 1.001x
    here), which would hand closed-form baselines an edge of about 1%."""
    q = np.asarray(quantiles, dtype=float)
    y = np.broadcast_to(np.asarray(y, dtype=float), q.shape[:-1])
    flat_q, flat_y = q.reshape(-1, q.shape[-1]), y.reshape(-1)
    out = np.empty(flat_y.shape)
    for a in range(0, flat_y.size, rows):  # bounded memory: (rows, 1000) at a time
        fine = quantiles_at(flat_q[a : a + rows], FINE_LEVELS, levels)
        out[a : a + rows] = crps_quantiles(fine, flat_y[a : a + rows], FINE_LEVELS)
    return out.reshape(y.shape)


def crps_samples(samples: np.ndarray, y: np.ndarray) -> np.ndarray:
    """CRPS of the empirical distribution of samples on the last axis: E|X-y| - E|X-X'|/2."""
    x = np.sort(np.asarray(samples, dtype=float), axis=-1)
    m = x.shape[-1]
    to_truth = np.abs(x - np.asarray(y, dtype=float)[..., None]).mean(axis=-1)
    # sum_{i,j} |x_i - x_j| = 2 sum_i (2i - m + 1) x_(i) over the sorted samples (i from 0).
    pairwise = 2.0 * (x * (2.0 * np.arange(m) - m + 1.0)).sum(axis=-1)
    return to_truth - pairwise / (2.0 * m * m)


def crps_normal(mu: np.ndarray, sigma: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Closed-form CRPS of N(mu, sigma^2): sigma (z (2 Phi(z) - 1) + 2 phi(z) - 1/sqrt(pi))."""
    sigma = np.asarray(sigma, dtype=float)
    z = (np.asarray(y, dtype=float) - mu) / sigma
    return sigma * (
        z * (2.0 * normal_cdf(z) - 1.0) + 2.0 * normal_pdf(z) - 1.0 / math.sqrt(math.pi)
    )


def crps_lognormal(m: np.ndarray, s: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Closed-form CRPS of LN(m, s^2) at y > 0 (Baran & Lerch 2015).

    CRPS = y (2 Phi(z) - 1) - 2 exp(m + s^2/2) (Phi(z - s) + Phi(s / sqrt 2) - 1),
    z = (log y - m) / s. With s = 0 it is the point mass at exp(m): |y - exp(m)|.
    """
    m, s, y = np.broadcast_arrays(*(np.asarray(a, dtype=float) for a in (m, s, y)))
    point = np.abs(y - np.exp(m))
    safe = np.where(s > 0, s, 1.0)
    z = (np.log(y) - m) / safe
    spread = (
        2.0
        * np.exp(m + safe**2 / 2.0)
        * (normal_cdf(z - safe) + normal_cdf(safe / math.sqrt(2.0)) - 1.0)
    )
    return np.where(s > 0, y * (2.0 * normal_cdf(z) - 1.0) - spread, point)


def drift_parameters(closes: np.ndarray) -> tuple[float, float]:
    """(mu, sigma): mean and standard deviation of the one-step log returns of ``closes``."""
    returns = np.diff(np.log(np.asarray(closes, dtype=float)))
    if returns.size == 0:
        return 0.0, 0.0
    return float(returns.mean()), float(returns.std())


def drift_distribution(last: np.ndarray, mu: np.ndarray, sigma: np.ndarray, step: np.ndarray):
    """(m, s) of the drift baseline's lognormal close at ``step`` steps ahead of ``last``."""
    step = np.asarray(step, dtype=float)
    return np.log(np.asarray(last, dtype=float)) + step * mu, np.asarray(sigma) * np.sqrt(step)


def drift_mean(last: np.ndarray, mu: np.ndarray, sigma: np.ndarray, step: np.ndarray):
    """Mean of the drift baseline's close: exp(m + s^2 / 2) (its point forecast for the MAE)."""
    m, s = drift_distribution(last, mu, sigma, step)
    return np.exp(m + np.asarray(s, dtype=float) ** 2 / 2.0)


def random_walk_distribution(last: np.ndarray, sigma: np.ndarray, step: np.ndarray):
    """(m, s) of the random walk baseline's lognormal close: the drift baseline with mu = 0."""
    return drift_distribution(last, 0.0, sigma, step)


def random_walk_point(last: np.ndarray) -> np.ndarray:
    """The random walk's point forecast (for the MAE and direction): its median, the last close.

    Its lognormal mean c_0 exp(h sigma^2 / 2) sits above the last close only through the
    distribution's skew, and scored 0.06% worse than the last close in MAE on the replay.
    """
    return np.asarray(last, dtype=float)


def lognormal_quantiles(m: np.ndarray, s: np.ndarray, levels: np.ndarray = QUANTILE_LEVELS):
    """Quantiles exp(m + s Phi^-1(tau)) of LN(m, s^2): ``(...)`` -> ``(..., len(levels))``."""
    z = _probit(np.asarray(levels, dtype=float))
    return np.exp(np.asarray(m, dtype=float)[..., None] + np.asarray(s, dtype=float)[..., None] * z)


_TAIL_SPAN = 4  # the tails' scale comes from the quantiles 4 grid steps in from each end


def _probit(tau: np.ndarray) -> np.ndarray:
    """Phi^-1, elementwise, for tau in (0, 1)."""
    return _inv_cdf(np.clip(np.asarray(tau, dtype=float), 1e-12, 1.0 - 1e-12))


def _where(mask: np.ndarray, f, x: np.ndarray) -> np.ndarray:
    """f(x) where mask holds, 0 elsewhere; f (a slow elementwise function) runs on the mask only."""
    out = np.zeros(mask.shape)
    out[mask] = f(np.broadcast_to(x, mask.shape)[mask])
    return out


def _tails(q: np.ndarray, levels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Scales of the Gaussian tails beyond each end of a (monotone) grid: (lower, upper).

    Each is the spread of the last few grid steps in probit space, at least the interquartile
    range's (q_75 - q_25) / (z_75 - z_25) where the grid spans both quartiles.
    """
    k = min(_TAIL_SPAN, levels.size - 1)
    z = _probit(levels[[0, k, -1 - k, -1]])
    lower = (q[..., k] - q[..., 0]) / (z[1] - z[0])
    upper = (q[..., -1] - q[..., -1 - k]) / (z[3] - z[2])
    quartiles = np.flatnonzero(np.isin(levels, (0.25, 0.75)))
    if quartiles.size == 2:
        i25, i75 = quartiles
        body = (q[..., i75] - q[..., i25]) / float(np.diff(_probit(levels[quartiles]))[0])
        lower, upper = np.maximum(lower, body), np.maximum(upper, body)
    return lower, upper


def cdf_from_quantiles(
    quantiles: np.ndarray, x: np.ndarray, levels: np.ndarray = QUANTILE_LEVELS
) -> np.ndarray:
    """F(x) of the distribution the quantile grid describes, for ``x`` of shape ``(...)``.

    Linear between the grid's points; beyond its ends Gaussian tails, F(x) = Phi(z_end +
    (x - q_end) / scale) with the scale of the last few grid steps in probit space (a point mass
    where that scale is 0), so F is continuous and every PIT value lies strictly inside (0, 1).
    """
    q = np.maximum.accumulate(np.asarray(quantiles, dtype=float), axis=-1)
    x = np.asarray(x, dtype=float)
    x, q = np.broadcast_arrays(x[..., None], q)
    x = x[..., 0]
    upper = (q <= x[..., None]).sum(axis=-1)
    hi = np.clip(upper, 1, q.shape[-1] - 1)
    q_lo = np.take_along_axis(q, (hi - 1)[..., None], -1)[..., 0]
    q_hi = np.take_along_axis(q, hi[..., None], -1)[..., 0]
    width = q_hi - q_lo
    frac = np.where(width > 0, (x - q_lo) / np.where(width > 0, width, 1.0), 1.0)
    inside = levels[hi - 1] + np.clip(frac, 0.0, 1.0) * (levels[hi] - levels[hi - 1])
    lower, upper_scale = _tails(q, levels)
    z = _probit(levels[[0, -1]])
    below = np.where(lower > 0, (x - q[..., 0]) / np.where(lower > 0, lower, 1.0), -np.inf)
    above = np.where(
        upper_scale > 0, (x - q[..., -1]) / np.where(upper_scale > 0, upper_scale, 1.0), np.inf
    )
    low_tail, high_tail = x < q[..., 0], x > q[..., -1]
    inside = np.where(low_tail, _where(low_tail, normal_cdf, z[0] + below), inside)
    return np.where(high_tail, _where(high_tail, normal_cdf, z[-1] + above), inside)


def quantiles_at(
    quantiles: np.ndarray, alphas: np.ndarray, levels: np.ndarray = QUANTILE_LEVELS
) -> np.ndarray:
    """F^-1(alpha), the inverse of :func:`cdf_from_quantiles`: ``(..., K)`` -> ``(..., A)``.

    ``alphas`` is ``(A,)`` or ``(..., A)``; the result is non-decreasing in alpha.
    """
    q = np.maximum.accumulate(np.asarray(quantiles, dtype=float), axis=-1)
    alphas = np.asarray(alphas, dtype=float)
    shape = np.broadcast_shapes(q.shape[:-1], alphas.shape[:-1])
    q = np.broadcast_to(q, (*shape, q.shape[-1]))
    alphas = np.broadcast_to(alphas, (*shape, alphas.shape[-1]))
    idx = np.clip(np.searchsorted(levels, alphas, side="right"), 1, levels.size - 1)
    frac = np.clip((alphas - levels[idx - 1]) / (levels[idx] - levels[idx - 1]), 0.0, 1.0)
    lo = np.take_along_axis(q, idx - 1, -1)
    inside = lo + frac * (np.take_along_axis(q, idx, -1) - lo)
    lower, upper = _tails(q, levels)
    low_tail, high_tail = alphas < levels[0], alphas > levels[-1]
    z, za = _probit(levels[[0, -1]]), _where(low_tail | high_tail, _probit, alphas)
    below = q[..., :1] + (za - z[0]) * lower[..., None]
    above = q[..., -1:] + (za - z[-1]) * upper[..., None]
    return np.where(low_tail, below, np.where(high_tail, above, inside))


def band_hit(low: np.ndarray, high: np.ndarray, y: np.ndarray) -> np.ndarray:
    """1.0 where low <= y <= high, else 0.0."""
    y = np.asarray(y, dtype=float)
    return ((y >= low) & (y <= high)).astype(float)


def absolute_error(point: np.ndarray, y: np.ndarray) -> np.ndarray:
    """|point - y|."""
    return np.abs(np.asarray(point, dtype=float) - np.asarray(y, dtype=float))


def percentage_error(point: np.ndarray, y: np.ndarray) -> np.ndarray:
    """100 |point - y| / |y| (percent)."""
    return 100.0 * absolute_error(point, y) / np.abs(np.asarray(y, dtype=float))


def direction_hit(point: np.ndarray, y: np.ndarray, last: np.ndarray) -> np.ndarray:
    """1 where the forecast move from ``last`` has the sign of the realised move, else 0.

    A forecast of no move states no direction and scores 0.5.
    """
    last = np.asarray(last, dtype=float)
    predicted = np.sign(np.asarray(point, dtype=float) - last)
    actual = np.sign(np.asarray(y, dtype=float) - last)
    return np.where(predicted == 0, 0.5, (predicted == actual).astype(float))


def realised_trend(y: np.ndarray, last: np.ndarray, threshold: float) -> np.ndarray:
    """The trend that came true: bullish if y/last - 1 > tau, bearish if < -tau, else neutral."""
    r = np.asarray(y, dtype=float) / np.asarray(last, dtype=float) - 1.0
    return np.where(r > threshold, "bullish", np.where(r < -threshold, "bearish", "neutral"))


def trend_hit(trend: np.ndarray, y: np.ndarray, last: np.ndarray, threshold: float) -> np.ndarray:
    """1.0 where the stated trend came true (same rule as the stated confidence), else 0.0."""
    return (np.asarray(trend) == realised_trend(y, last, threshold)).astype(float)
