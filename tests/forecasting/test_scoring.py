"""Scores on hand-computed cases: CRPS, PIT, bands, errors, direction and trend hits."""

from __future__ import annotations

from statistics import NormalDist

import numpy as np
import pytest

from forecasting import scoring as sc

LEVELS = sc.QUANTILE_LEVELS


def test_grid_holds_the_band_levels() -> None:
    assert LEVELS.size == 99
    for tau in (0.05, 0.1, 0.5, 0.9, 0.95):
        assert np.isclose(LEVELS, tau).any()


def test_crps_of_a_point_mass_is_the_absolute_error() -> None:
    grid = np.full(99, 10.0)
    assert sc.crps_quantiles(grid, 13.0) == pytest.approx(3.0)
    assert sc.crps_quantiles(grid, 8.5) == pytest.approx(1.5)


def test_crps_of_a_uniform_grid_matches_the_closed_form() -> None:
    # U(0, 1): CRPS(y) = y^2 - y + 1/3 for y in [0, 1]; at y = 0.5 it is 1/12.
    grid = LEVELS.copy()
    assert sc.crps_quantiles(grid, 0.5) == pytest.approx(1 / 12, rel=0.01)
    assert sc.crps_quantiles(grid, 0.0) == pytest.approx(1 / 3, rel=0.02)


def test_crps_on_the_grid_is_within_one_percent_of_the_normal_closed_form() -> None:
    z = np.array([-1.2815515655, 0.0, 2.3263478740])  # Phi^-1 of 0.1, 0.5, 0.99
    grid = np.array([NormalDist().inv_cdf(t) for t in LEVELS])
    exact = sc.crps_normal(0.0, 1.0, z)
    approx = sc.crps_quantiles(np.tile(grid, (3, 1)), z)
    assert np.allclose(approx, exact, rtol=0.01)
    # CRPS of N(0, 1) at 0: 2 phi(0) - 1/sqrt(pi) = 0.2336949...
    assert exact[1] == pytest.approx(0.2336949, abs=1e-6)


def test_crps_from_samples_by_hand() -> None:
    # samples {1, 3}, y = 2: E|X - y| = 1, E|X - X'| = (0 + 2 + 2 + 0) / 4 = 1 -> 1 - 0.5 = 0.5
    assert sc.crps_samples(np.array([1.0, 3.0]), 2.0) == pytest.approx(0.5)
    assert sc.crps_samples(np.array([[5.0]]), np.array([2.0]))[0] == pytest.approx(3.0)


def test_lognormal_crps_matches_samples_and_point_mass() -> None:
    rng = np.random.default_rng(0)
    m, s, y = np.log(100.0), 0.05, 103.0
    draws = np.exp(m + s * rng.standard_normal(200_000))
    assert sc.crps_lognormal(m, s, y) == pytest.approx(sc.crps_samples(draws, y), rel=0.01)
    assert sc.crps_lognormal(np.log(100.0), 0.0, 97.0) == pytest.approx(3.0)


def test_drift_baseline_distribution() -> None:
    closes = np.array([100.0, 110.0, 99.0, 108.9])
    mu, sigma = sc.drift_parameters(closes)
    returns = np.log([1.1, 0.9, 1.1])
    assert mu == pytest.approx(returns.mean())
    assert sigma == pytest.approx(returns.std())
    m, s = sc.drift_distribution(108.9, mu, sigma, 4)
    assert m == pytest.approx(np.log(108.9) + 4 * mu)
    assert s == pytest.approx(2 * sigma)
    assert sc.drift_mean(100.0, 0.0, 0.0, 3) == pytest.approx(100.0)


def test_pit_interpolates_between_grid_points_and_extends_the_tails() -> None:
    grid = LEVELS * 100.0  # U(0, 100): F(x) = x / 100
    assert sc.cdf_from_quantiles(grid, 37.5) == pytest.approx(0.375)
    assert sc.cdf_from_quantiles(grid, 1.0) == pytest.approx(0.01)
    # beyond the grid a Gaussian tail; the uniform's last four steps are thinner than its
    # interquartile range's Gaussian, so that sets the scale
    scale = 50.0 / (NormalDist().inv_cdf(0.75) - NormalDist().inv_cdf(0.25))
    tail = NormalDist().cdf(NormalDist().inv_cdf(0.01) - 1.0 / scale)
    assert sc.cdf_from_quantiles(grid, 0.0) == pytest.approx(tail)
    assert 0.0 < sc.cdf_from_quantiles(grid, -50.0) < tail
    assert 1.0 - tail == pytest.approx(sc.cdf_from_quantiles(grid, 100.0))
    point = np.full(99, 5.0)
    assert sc.cdf_from_quantiles(point, np.array([4.9, 5.1])).tolist() == [0.0, 1.0]
    rows = np.stack([grid, grid + 50.0])
    assert np.allclose(sc.cdf_from_quantiles(rows, np.array([50.0, 100.0])), [0.5, 0.5])


def test_tails_keep_the_spread_of_a_fat_end_and_never_vanish_at_tied_samples() -> None:
    normal = np.array([NormalDist().inv_cdf(x) for x in LEVELS])
    fat = normal.copy()
    fat[:5] = normal[4] + 3.0 * (normal[:5] - normal[4])  # the lower end three times as wide
    scale = (fat[4] - fat[0]) / (normal[4] - normal[0])
    expected = NormalDist().cdf(normal[0] - 1.0 / scale)
    assert sc.cdf_from_quantiles(fat, fat[0] - 1.0) == pytest.approx(expected)
    # 20 paths whose lowest six closes are one price: the grid's lower end has no spread, yet a
    # close below it is not impossible, and quantiles below the grid reach below it
    paths = np.array([99.0] * 6 + list(np.linspace(99.5, 101.0, 14)))
    tied = sc.sample_quantiles(paths)
    assert tied[0] == tied[4] == 99.0
    assert 0.0 < sc.cdf_from_quantiles(tied, 98.9) < 0.01
    assert sc.quantiles_at(tied, np.array([0.001]))[0] < 99.0


def test_quantiles_at_inverts_the_cdf() -> None:
    grid = LEVELS * 100.0
    alphas = np.array([0.003, 0.105, 0.5, 0.999])
    assert np.allclose(sc.quantiles_at(grid, alphas)[1:3], [10.5, 50])
    assert np.allclose(sc.cdf_from_quantiles(grid, sc.quantiles_at(grid, alphas)), alphas)
    crossing = grid.copy()
    crossing[10] = 0.0  # a crossing input grid is made monotone first
    out = sc.quantiles_at(crossing, np.linspace(0, 1, 101))
    assert (np.diff(out) >= 0).all()


def test_band_and_error_scores() -> None:
    assert sc.band_hit(
        np.array([1.0, 1.0]), np.array([2.0, 2.0]), np.array([2.0, 2.5])
    ).tolist() == [
        1.0,
        0.0,
    ]
    assert sc.absolute_error(105.0, 100.0) == pytest.approx(5.0)
    assert sc.percentage_error(90.0, 100.0) == pytest.approx(10.0)


def test_direction_hit() -> None:
    point = np.array([101.0, 99.0, 100.0, 101.0])
    truth = np.array([102.0, 102.0, 90.0, 99.0])
    assert sc.direction_hit(point, truth, 100.0).tolist() == [1.0, 0.0, 0.5, 0.0]


def test_trend_hit_uses_the_threshold() -> None:
    trend = np.array(["bullish", "bullish", "bearish", "neutral", "neutral"])
    truth = np.array([102.0, 100.5, 98.0, 100.5, 103.0])
    assert sc.trend_hit(trend, truth, 100.0, 0.01).tolist() == [1.0, 0.0, 1.0, 1.0, 0.0]


def test_crps_grid_matches_the_closed_form_where_the_coarse_grid_undercounts() -> None:
    """A lognormal's 99-level grid: the grid levels alone under-count its CRPS by about 1%, the
    fine quadrature of the grid's own distribution matches the closed form."""
    rng = np.random.default_rng(0)
    m, s = np.full(4000, np.log(100.0)), np.full(4000, 0.02)
    y = np.exp(m + s * rng.standard_normal(4000))
    z = np.array([NormalDist().inv_cdf(p) for p in sc.QUANTILE_LEVELS])
    grid = np.exp(m[:, None] + s[:, None] * z)
    closed = sc.crps_lognormal(m, s, y).mean()
    assert sc.crps_quantiles(grid, y).mean() / closed > 1.005
    assert sc.crps_grid(grid, y).mean() / closed == pytest.approx(1.0, abs=5e-4)
