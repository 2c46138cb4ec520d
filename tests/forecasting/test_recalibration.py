"""Rolling quantile recalibration: follows a volatility change that a static calibration misses."""

from __future__ import annotations

from statistics import NormalDist

import numpy as np
import pytest

from forecasting import scoring as sc
from forecasting.recalibration import (
    ConfidenceMap,
    PitMap,
    RecalibrationSettings,
    derive,
    fit_calibration,
    pool_adjacent_violators,
)

STD_GRID = np.array([NormalDist().inv_cdf(t) for t in sc.QUANTILE_LEVELS])
PRICE = 50.0  # a price level far above the noise, so no band is clipped at zero
SETTINGS = RecalibrationSettings(window=300, min_scored=50, prior=10.0)


def _coverage(calibrations, ys: np.ndarray, level: float) -> float:
    """Share of ys inside the calibrated central band of N(0, 1) forecasts."""
    hits = []
    for cal, y in zip(calibrations, ys, strict=True):
        steps = derive(
            PRICE + STD_GRID[None, :], PRICE, ["neutral"], 0.0, cal, band_levels=(level,)
        )
        low, high = steps.bands[level]
        hits.append(low[0] <= PRICE + y <= high[0])
    return float(np.mean(hits))


def _variance_change(n: int = 4000, seed: int = 1) -> np.ndarray:
    """y_t ~ N(0, 0.6^2) for the first half and N(0, 2^2) after; the forecast is always N(0, 1)."""
    rng = np.random.default_rng(seed)
    sigma = np.where(np.arange(n) < n // 2, 0.6, 2.0)
    return sigma * rng.standard_normal(n)


def test_rolling_calibration_reaches_nominal_coverage_after_the_change() -> None:
    ys = _variance_change()
    pits = sc.cdf_from_quantiles(STD_GRID, ys)
    half, window = ys.size // 2, SETTINGS.window
    after = range(half + window, ys.size, 5)
    rolling = [fit_calibration({1: pits[:t][::-1]}, 1, SETTINGS) for t in after]
    static_cal = fit_calibration({1: pits[:half][::-1]}, 1, SETTINGS)
    static = [static_cal] * len(rolling)
    truth = ys[list(after)]
    for level in (0.8, 0.9):
        assert _coverage(rolling, truth, level) == pytest.approx(level, abs=0.04)
        assert _coverage(static, truth, level) < level - 0.25
    raw = _coverage([None] * len(rolling), truth, 0.8)
    assert raw < 0.6  # the raw N(0, 1) is far too narrow after the change


def test_too_few_pits_serve_raw_and_say_why() -> None:
    cal = fit_calibration({1: np.full(10, 0.5), 2: np.linspace(0, 1, 60)}, 2, SETTINGS)
    assert set(cal.maps) == {2}
    assert "fewer than 50" in cal.reason
    steps = derive(np.tile(STD_GRID, (2, 1)), 1.0, ["neutral"] * 2, 0.0, cal)
    assert steps.calibrated.tolist() == [False, True]
    assert np.allclose(steps.quantiles[0], STD_GRID)


def test_uniform_pits_leave_the_distribution_nearly_unchanged() -> None:
    g = PitMap.fit(np.linspace(0.0005, 0.9995, 1000), prior=10.0)
    u = np.linspace(0, 1, 11)
    assert np.allclose(g(u), u, atol=2e-3)
    assert np.allclose(g.inverse(g(u)), u, atol=1e-9)


def test_derived_quantities_are_consistent() -> None:
    ys = 2.0 * np.random.default_rng(3).standard_normal(500)
    cal = fit_calibration({1: sc.cdf_from_quantiles(STD_GRID, ys)}, 1, SETTINGS)
    grid = 100.0 + STD_GRID[None, :]
    steps = derive(
        grid,
        100.0,
        ["bullish"],
        0.01,
        cal,
        quantile_levels=(0.1, 0.5, 0.9),
        thresholds=(100.0, 101.0),
    )
    assert (np.diff(steps.quantiles, axis=-1) >= 0).all()
    assert steps.up_probability[0] == pytest.approx(steps.above[0, 0])
    assert steps.confidence[0] == pytest.approx(steps.above[0, 1])
    low, high = steps.bands[0.8]
    assert low[0] == pytest.approx(steps.extra[0.1][0])
    assert high[0] == pytest.approx(steps.extra[0.9][0])
    # the recalibrated band is about twice as wide as the raw one (the truth has sigma 2)
    assert (high[0] - low[0]) / (2 * 1.2815515655) == pytest.approx(2.0, rel=0.15)
    assert cal.info()["method"] == "quantile-recalibration"


def test_pool_adjacent_violators_by_hand() -> None:
    out = pool_adjacent_violators(np.array([0.2, 0.6, 0.4, 0.8]), np.array([1.0, 1.0, 3.0, 1.0]))
    assert np.allclose(out, [0.2, 0.45, 0.45, 0.8])  # (0.6 + 3 * 0.4) / 4


def test_confidence_map_fixes_an_overstated_confidence() -> None:
    rng = np.random.default_rng(5)

    def draw(n: int):
        stated = rng.uniform(0.3, 1.0, n)
        truth = 0.35 + 0.3 * stated  # a stated 0.9 comes true 62% of the time
        return stated, (rng.uniform(size=n) < truth).astype(float), truth

    stated, hits, _ = draw(3000)
    m = ConfidenceMap.fit(stated, hits, prior=5.0)
    assert (np.diff(m.values) >= 0).all()
    fresh, _, truth = draw(2000)
    assert np.abs(fresh - truth).mean() > 0.12
    assert np.abs(m(fresh) - truth).mean() < 0.03


def test_derive_applies_the_confidence_map_after_the_distribution() -> None:
    pits = np.linspace(0.01, 0.99, 100)
    halved = (np.full(100, 0.9), np.full(100, 0.0))  # stated 0.9, never came true
    cal = fit_calibration({1: pits}, 1, SETTINGS, confidence_by_step={1: halved})
    steps = derive(PRICE + STD_GRID[None, :], PRICE, ["bullish"], 0.001, cal)
    assert steps.confidence_dist[0] > 0.3
    assert steps.confidence[0] < steps.confidence_dist[0]
