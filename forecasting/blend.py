"""The served forecast as a blend the track record learns: quantile averaging of forecasters.

The maths (quantile averaging, "Vincentisation"; Lichtendahl, Grushka-Cockayne & Winkler 2013):

- Each component c (the model's raw grid "kronos", the closed-form "random_walk" baseline,
  optionally "drift", challengers by name) gives step h's close as a quantile grid q_c on
  :data:`forecasting.scoring.QUANTILE_LEVELS`. The blend's grid is sum_c w_c q_c with the weights
  w (per interval and step) on the simplex: quantiles never cross, its median is the same mix of
  the components' medians. Its point forecast is the same mix of the components' point
  forecasts (the model's mean, the random walk's last close, drift's mean).
- Fit, per step: the weights minimising the mean pinball loss (the grid CRPS) of the blend over
  the most recent `window` scored steps, pooled over symbols, in scale-free values (every grid
  and realised close divided by the forecast's last close, so BTC does not outweigh DOGE). The
  pinball loss is read at the levels 5%, 10%, ..., 95% of the grid (:data:`FIT_LEVELS`).
  Minimised exactly enough by projected gradient steps on the simplex, each with an exact line
  search (the loss is convex and piecewise linear along a line: its minimum is a weighted
  quantile of the breakpoints). Deterministic: no random start, no sampling.
- Stability: the fitted weights w_hat of a step with n scored rows are shrunk towards the best
  single component over the same rows (e_b, all weight on the lowest pinball loss) by `prior`
  pseudo-observations, w = (n w_hat + k e_b) / (n + k): a component earns weight only against
  the best one alone, and one without skill keeps next to none. Then smoothed across
  adjacent steps, w_h <- (1 - s) w_h + s mean(w_{h-1}, w_{h+1}), so noise in one step's window
  does not swing its weights.
- Steps with fewer than `min_scored` scored rows are not blended: they serve the model (and the
  blend says why).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

import numpy as np

from forecasting.recalibration import BLEND_SETTINGS, RecalibrationSettings
from forecasting.scoring import (
    QUANTILE_LEVELS,
    drift_distribution,
    drift_mean,
    lognormal_quantiles,
    pinball,
    random_walk_distribution,
    random_walk_point,
)

METHOD = "quantile-averaging"
MODEL = "kronos"  # the component that is served where a step is not blended
BASELINES = ("random_walk", "drift")
# drift is left out by default: its mu term earned weight in trending months and cost CRPS after
# (docs/forecast-skill.md); add it with BlendSettings(components=...) or a challenger.
COMPONENTS = (MODEL, "random_walk")
FIT_LEVELS = QUANTILE_LEVELS[4::5]  # 0.05, 0.10, ..., 0.95: the fit's pinball levels
_FIT_INDEX = np.arange(4, QUANTILE_LEVELS.size, 5)
SWITCH_VALUES = {"on": True, "off": False}


@dataclass(frozen=True)
class BlendSettings:
    """Window, minimum count, shrinkage and smoothing of the blend fit, and the calibration
    applied to the blend's grid after it."""

    window: int = 2000
    min_scored: int = 200
    prior: float = 200.0  # pseudo-observations of the best single component
    smooth: float = 0.5  # share of the adjacent steps' mean in a step's weights
    components: tuple[str, ...] = COMPONENTS
    calibration: RecalibrationSettings = BLEND_SETTINGS

    def version(self) -> str:
        """A short id of the method and its settings, recorded with every forecast."""
        names = "+".join(self.components)
        w, m, k, s = self.window, self.min_scored, self.prior, self.smooth
        return f"qa3-w{w}-m{m}-k{k:g}-s{s:g}-{names}"


DEFAULT_BLEND = BlendSettings()


def blend_switch(value: str | None) -> bool:
    """Whether the blend is on for a LEDGER_BLEND value ("on" or "off"; unset is on)."""
    key = "on" if value is None or not value.strip() else value.strip().lower()
    if key not in SWITCH_VALUES:
        raise ValueError(f"LEDGER_BLEND must be 'on' or 'off', got {value!r}")
    return SWITCH_VALUES[key]


def baseline_grids(last, mu, sigma, step, levels: np.ndarray = QUANTILE_LEVELS) -> dict:
    """The closed-form baselines' quantile grids ``(..., len(levels))`` by component name."""
    return {
        "random_walk": lognormal_quantiles(*random_walk_distribution(last, sigma, step), levels),
        "drift": lognormal_quantiles(*drift_distribution(last, mu, sigma, step), levels),
    }


def baseline_points(last, mu, sigma, step) -> dict:
    """The closed-form baselines' point forecasts by component name."""
    return {
        "random_walk": random_walk_point(np.broadcast_to(last, np.shape(step * sigma))),
        "drift": drift_mean(last, mu, sigma, step),
    }


@dataclass(frozen=True)
class Blend:
    """A fitted blend: weights over `components` per step that had enough scored rows."""

    settings: BlendSettings
    step_weights: Mapping[int, np.ndarray]  # step (1-based) -> weights in components order
    counts: Mapping[int, int]  # step -> scored rows in its window
    fitted_at: datetime | None
    reason: str | None = None
    method: str = METHOD

    @property
    def version(self) -> str:
        """The settings' version string."""
        return self.settings.version()

    @property
    def components(self) -> tuple[str, ...]:
        """The forecasters blended, in the weights' order."""
        return self.settings.components

    def weights(self, step: int) -> dict[str, float] | None:
        """Forecaster -> weight at `step` (1-based); None where the step serves the model."""
        w = self.step_weights.get(step)
        return None if w is None else dict(zip(self.components, map(float, w), strict=True))

    def info(self) -> dict:
        """What a response and the ledger say about the blend (JSON-ready but `fittedAt`)."""
        return {
            "method": self.method,
            "version": self.version,
            "window": self.settings.window,
            "scored": int(min(self.counts.values(), default=0)),
            "components": list(self.components),
            "weights": {str(h): self.weights(h) for h in sorted(self.step_weights)},
            "fittedAt": self.fitted_at,
            "reason": self.reason,
        }

    def combine(self, values: Mapping[str, np.ndarray]) -> np.ndarray:
        """The blend of per-step component values ``(H, ...)`` (quantile grids or means).

        A step without weights takes the model's value; a component absent from `values` (a
        challenger that did not forecast) has its weight spread over the others in proportion.
        """
        model = np.asarray(values[MODEL], dtype=float)
        out = model.copy()
        for h in range(model.shape[0]):
            w = self.step_weights.get(h + 1)
            if w is None:
                continue
            present = [(c, wc) for c, wc in zip(self.components, w, strict=True) if c in values]
            total = sum(wc for _, wc in present)
            if total <= 0:
                continue
            out[h] = sum(wc / total * np.asarray(values[c], dtype=float)[h] for c, wc in present)
        return out


def restricted(blend: Blend, present: Collection[str]) -> Blend:
    """The blend over its components in `present` only (a challenger that did not forecast left
    out), each step's weights renormalised as `Blend.combine` spreads an absent one's."""
    keep = [i for i, c in enumerate(blend.components) if c in present]
    if len(keep) == len(blend.components):
        return blend
    settings = replace(blend.settings, components=tuple(blend.components[i] for i in keep))
    weights = {h: w[keep] / w[keep].sum() for h, w in blend.step_weights.items() if w[keep].sum()}
    return replace(blend, settings=settings, step_weights=weights)


def not_fitted(settings: BlendSettings, reason: str) -> Blend:
    """A blend with no blended step, saying why (every step serves the model)."""
    return Blend(settings, {}, {}, None, reason=reason)


def _direction(w: np.ndarray, g: np.ndarray) -> np.ndarray:
    """The negative gradient projected on the simplex's face at w (zero weights stay >= 0)."""
    free = np.ones(w.size, dtype=bool)
    while True:
        d = np.where(free, -(g - g[free].mean()), 0.0)
        stuck = free & (w <= 1e-12) & (d < 0)
        if not stuck.any():
            return d
        free &= ~stuck


def _line_search(r: np.ndarray, e: np.ndarray, tau: np.ndarray, t_max: float) -> float:
    """argmin over t in [0, t_max] of sum rho_tau(r - t e): where the slope turns >= 0."""
    below = (r < 0) | ((r == 0) & (e > 0))
    slope = float(np.sum(-e * (tau - below)))
    if slope >= 0:
        return 0.0
    moving = e != 0
    t = np.where(moving, r / np.where(moving, e, 1.0), -1.0)
    ahead = t > 0
    order = np.argsort(t[ahead], kind="stable")
    jumps = np.cumsum(np.abs(e[ahead])[order]) + slope
    first = int(np.searchsorted(jumps, 0.0, side="left"))
    return t_max if first >= jumps.size else min(float(t[ahead][order][first]), t_max)


def pinball_weights(
    y: np.ndarray, q: np.ndarray, levels: np.ndarray = FIT_LEVELS, max_iter: int = 200
) -> np.ndarray:
    """Simplex weights minimising the mean pinball loss of sum_c w_c q[:, c, :] against y.

    ``y`` is ``(n,)``, ``q`` is ``(n, C, K)`` on ``levels``; starts at equal weights.
    """
    n, c, k = q.shape
    tau = np.broadcast_to(levels, (n, k)).ravel()
    flat = q.transpose(1, 0, 2).reshape(c, -1)  # (C, n K)
    target = np.repeat(np.asarray(y, dtype=float), k)
    w = np.full(c, 1.0 / c)
    for _ in range(max_iter):
        r = target - w @ flat
        g = -(flat * (tau - (r < 0))).mean(axis=1)
        d = _direction(w, g)
        if not np.any(d):
            break
        neg = d < 0
        t_max = float(np.min(w[neg] / -d[neg]))
        t = _line_search(r, d @ flat, tau, t_max)
        if t * np.abs(d).max() < 1e-9:
            break
        w = np.clip(w + t * d, 0.0, None)
        w /= w.sum()
    return w


def _smooth(weights: dict[int, np.ndarray], share: float) -> dict[int, np.ndarray]:
    """Each step's weights moved `share` of the way to the mean of its fitted neighbours."""
    out = {}
    for h, w in weights.items():
        near = [weights[j] for j in (h - 1, h + 1) if j in weights]
        out[h] = w if not near else (1 - share) * w + share * np.mean(near, axis=0)
    return out


def _usable(rows: tuple[np.ndarray, np.ndarray] | None, settings: BlendSettings):
    """The rows of one step a fit reads: the newest `window`, finite ones only."""
    if rows is None:
        return np.empty(0), np.empty((0, len(settings.components), FIT_LEVELS.size))
    y, q = np.asarray(rows[0], dtype=float)[: settings.window], np.asarray(rows[1])
    q = q[: settings.window]
    ok = np.isfinite(y) & np.isfinite(q).all(axis=(1, 2))
    return y[ok], q[ok]


def fittable_steps(
    rows_by_step: Mapping[int, tuple[np.ndarray, np.ndarray]], settings: BlendSettings
) -> int:
    """How many steps `fit_blend` would blend from these rows (`min_scored` usable rows)."""
    usable = (_usable(rows, settings)[0].size for rows in rows_by_step.values())
    return sum(n >= settings.min_scored for n in usable)


def fit_blend(
    rows_by_step: Mapping[int, tuple[np.ndarray, np.ndarray]],
    horizon: int,
    settings: BlendSettings = DEFAULT_BLEND,
    fitted_at: datetime | None = None,
) -> Blend:
    """Fit the weights per step from its scored rows (newest first): ``(y, q)`` in scale-free
    values, ``y`` ``(n,)`` and ``q`` ``(n, C, K)`` on :data:`FIT_LEVELS` in components order."""
    c = len(settings.components)
    fitted, counts, short = {}, {}, []
    for step in range(1, horizon + 1):
        y, q = _usable(rows_by_step.get(step), settings)
        counts[step] = int(y.size)
        if y.size < settings.min_scored:
            short.append(step)
            continue
        w_hat = pinball_weights(y, q)
        best = np.eye(c)[np.argmin(pinball(q, y[:, None], FIT_LEVELS).mean(axis=(0, 2)))]
        fitted[step] = (y.size * w_hat + settings.prior * best) / (y.size + settings.prior)
    reason = None
    if short:
        fewest = min(counts[s] for s in short)
        reason = (
            f"too few scored forecasts: {len(short)} of {horizon} steps have fewer than "
            f"{settings.min_scored} (fewest {fewest}); those steps serve the model"
        )
    return Blend(settings, _smooth(fitted, settings.smooth), counts, fitted_at, reason)


def fit_inputs(
    realised: np.ndarray,
    last: np.ndarray,
    mu: np.ndarray,
    sigma: np.ndarray,
    step: int,
    grids: Mapping[str, np.ndarray],
    components: Sequence[str] = COMPONENTS,
) -> tuple[np.ndarray, np.ndarray]:
    """One step's fit rows in scale-free values: realised / last and every component's grid
    (the stored full grids in `grids`, the baselines in closed form) at :data:`FIT_LEVELS`."""
    last = np.asarray(last, dtype=float)
    base = baseline_grids(np.ones_like(last), mu, sigma, step, FIT_LEVELS)
    q = [
        base[c] if c in base else np.asarray(grids[c], dtype=float)[:, _FIT_INDEX] / last[:, None]
        for c in components
    ]
    return np.asarray(realised, dtype=float) / last, np.stack(q, axis=1)
