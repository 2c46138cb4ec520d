"""The blend fit on synthetic processes: skill earns weight, noise does not swing it."""

from __future__ import annotations

from itertools import product

import numpy as np
import pytest

from forecasting.blend import (
    COMPONENTS,
    FIT_LEVELS,
    MODEL,
    BlendSettings,
    baseline_grids,
    blend_switch,
    fit_blend,
    fit_inputs,
    not_fitted,
    pinball_weights,
)
from forecasting.scoring import QUANTILE_LEVELS, lognormal_quantiles, pinball

SIGMA = 0.01


def _rows(n: int, step: int, skill: float, rng: np.random.Generator, components=COMPONENTS):
    """Fit rows of one step: the move is skill * a + noise with a known to the model only;
    the model forecasts LN(skill * a, noise) (skill 0: a too-narrow forecast of noise)."""
    s = SIGMA * np.sqrt(step)
    a = s * rng.standard_normal(n)
    noise = s * np.sqrt(1 - skill**2) if skill else s
    y = 100.0 * np.exp(skill * a + noise * rng.standard_normal(n))
    centre = skill * a if skill else 0.5 * s * rng.standard_normal(n)
    width = noise if skill else 0.3 * s
    model = lognormal_quantiles(np.log(100.0) + centre, np.full(n, width))
    last, mu, sigma = np.full(n, 100.0), np.zeros(n), np.full(n, SIGMA)
    return fit_inputs(y, last, mu, sigma, step, {MODEL: model}, components)


def _fit(skill: float, n: int = 1000, seed: int = 0, horizon: int = 4, **settings):
    rng = np.random.default_rng(seed)
    chosen = BlendSettings(**settings)
    rows = {h: _rows(n, h, skill, rng, chosen.components) for h in range(1, horizon + 1)}
    return fit_blend(rows, horizon, chosen)


def test_a_forecaster_with_skill_earns_weight() -> None:
    blend = _fit(skill=0.8)
    for h in range(1, 5):
        assert blend.weights(h)[MODEL] > 0.75
    assert blend.reason is None


def test_a_forecaster_without_skill_loses_weight() -> None:
    blend = _fit(skill=0.0)
    for h in range(1, 5):
        w = blend.weights(h)
        assert w[MODEL] < 0.1
        assert w["random_walk"] > 0.9


def test_a_regime_change_shifts_the_weights_within_a_window() -> None:
    rng = np.random.default_rng(3)
    window = 400
    old = _rows(window, 1, 0.0, rng)  # the model had no skill...
    new = _rows(window, 1, 0.8, rng)  # ...and then had some
    settings = BlendSettings(window=window, min_scored=100)
    before = fit_blend({1: old}, 1, settings).weights(1)[MODEL]
    half = [np.concatenate([n[: window // 2], o]) for n, o in zip(new, old, strict=True)]
    midway = fit_blend({1: tuple(half)}, 1, settings).weights(1)[MODEL]
    after = fit_blend(
        {1: (np.concatenate([new[0], old[0]]), np.concatenate([new[1], old[1]]))}, 1, settings
    )
    assert before < 0.15 < midway < after.weights(1)[MODEL]  # newest first: the window is new
    assert after.weights(1)[MODEL] > 0.75


def test_weights_are_stable_under_noise_and_deterministic() -> None:
    a, b = _fit(skill=0.5, seed=1), _fit(skill=0.5, seed=2)
    for h in range(1, 5):
        wa, wb = a.weights(h), b.weights(h)
        assert max(abs(wa[k] - wb[k]) for k in wa) < 0.1
    again = _fit(skill=0.5, seed=1)
    assert all(a.weights(h) == again.weights(h) for h in range(1, 5))


def test_shrinkage_and_smoothing_damp_a_noisy_step() -> None:
    rough = _fit(skill=0.5, n=250, seed=4, min_scored=100, prior=0.0, smooth=0.0)
    calm = _fit(skill=0.5, n=250, seed=4, min_scored=100)
    spread = {
        name: np.ptp([fit.weights(h)[MODEL] for h in range(1, 5)])
        for name, fit in (("rough", rough), ("calm", calm))
    }
    assert spread["calm"] < spread["rough"]


def test_too_few_scored_steps_serve_the_model_and_say_why() -> None:
    blend = _fit(skill=0.8, n=150, horizon=3)  # min_scored 200
    assert all(blend.weights(h) is None for h in range(1, 4))
    assert "fewer than 200" in blend.reason and "serve the model" in blend.reason
    grid = np.tile(np.linspace(90, 110, QUANTILE_LEVELS.size), (3, 1))
    assert np.array_equal(blend.combine({MODEL: grid, "drift": grid + 5}), grid)
    info = not_fitted(BlendSettings(), "off").info()
    assert info["weights"] == {} and info["reason"] == "off"


def test_the_optimum_matches_a_grid_search() -> None:
    rng = np.random.default_rng(5)
    n = 300
    y = rng.standard_normal(n)
    z = lognormal_quantiles(np.zeros(n), np.ones(n), FIT_LEVELS)
    q = np.stack([0.3 * z + 0.3 * rng.standard_normal((n, 1)), z, 2 * z + 0.4], axis=1)

    def loss(w):
        return pinball(np.einsum("c,nck->nk", w, q), y, FIT_LEVELS).mean()

    w = pinball_weights(y, q)
    lattice = np.linspace(0, 1, 51)
    best = min(
        loss(np.array([a, b, 1 - a - b])) for a, b in product(lattice, lattice) if a + b <= 1
    )
    assert w.sum() == pytest.approx(1.0) and (w >= 0).all()
    assert loss(w) <= best + 1e-9


def test_combine_is_quantile_averaging_and_spreads_a_missing_weight() -> None:
    blend = _fit(skill=0.5, horizon=2, components=(MODEL, "random_walk", "drift"))
    steps = np.arange(1, 3)
    grids = {MODEL: baseline_grids(100.0, 0.001, SIGMA, steps)["drift"] * 1.01}
    grids |= baseline_grids(100.0, 0.001, SIGMA, steps)
    out = blend.combine(grids)
    w = blend.weights(1)
    expected = sum(w[c] * grids[c][0] for c in w)
    assert np.allclose(out[0], expected) and (np.diff(out, axis=1) >= 0).all()
    partial = blend.combine({MODEL: grids[MODEL], "drift": grids["drift"]})
    share = w[MODEL] / (w[MODEL] + w["drift"])
    assert np.allclose(partial[0], share * grids[MODEL][0] + (1 - share) * grids["drift"][0])


def test_info_and_version_say_what_was_fitted() -> None:
    blend = _fit(skill=0.5, horizon=2)
    info = blend.info()
    assert info["method"] == "quantile-averaging" and info["window"] == 2000
    assert info["components"] == ["kronos", "random_walk"]
    assert set(info["weights"]) == {"1", "2"}
    assert sum(info["weights"]["1"].values()) == pytest.approx(1.0)
    assert BlendSettings().version() != BlendSettings(window=500).version()


@pytest.mark.parametrize(("value", "on"), [(None, True), ("", True), ("on", True), ("OFF", False)])
def test_the_switch(value: str | None, on: bool) -> None:
    assert blend_switch(value) is on


def test_the_switch_refuses_other_values() -> None:
    with pytest.raises(ValueError, match="LEDGER_BLEND"):
        blend_switch("maybe")


@pytest.mark.parametrize(("skill", "best"), [(0.8, MODEL), (0.0, "random_walk")])
def test_weights_are_shrunk_towards_the_best_single_component(skill: float, best: str) -> None:
    strong = _fit(skill=skill, horizon=2, prior=1e9)  # all prior: the best component alone
    assert strong.weights(1)[best] == pytest.approx(1.0)
    loose = _fit(skill=skill, horizon=2, prior=0.0)
    shrunk = _fit(skill=skill, horizon=2)
    assert loose.weights(1)[best] <= shrunk.weights(1)[best] <= 1.0
