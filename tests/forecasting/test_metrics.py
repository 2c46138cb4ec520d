"""Metrics on hand-computed cases."""

from __future__ import annotations

import numpy as np
import pytest

from forecasting.metrics import (
    absolute_error,
    absolute_percentage_error,
    central_band,
    covered,
    crps_from_samples,
    direction_hits,
)

TRUTH = np.array([[101.0, 99.0, 104.0]])
LAST = np.array([100.0])


def test_truth_forecaster_has_zero_error_and_full_coverage() -> None:
    paths = np.repeat(TRUTH[:, None, :], 5, axis=1)
    assert absolute_error(paths.mean(axis=1), TRUTH).max() == 0
    assert crps_from_samples(paths, TRUTH).max() == pytest.approx(0)
    assert covered(*central_band(paths, 0.9), TRUTH).min() == 1
    assert direction_hits(paths.mean(axis=1), TRUTH, LAST).tolist() == [[1, 1, 1]]


def test_naive_last_price_errors() -> None:
    point = np.full_like(TRUTH, 100.0)
    assert absolute_error(point, TRUTH).tolist() == [[1, 1, 4]]
    np.testing.assert_allclose(
        absolute_percentage_error(point, TRUTH), [[100 / 101, 100 / 99, 400 / 104]]
    )
    assert direction_hits(point, TRUTH, LAST).tolist() == [[0.5, 0.5, 0.5]]  # states no direction
    assert direction_hits(np.array([[102.0, 102.0, 99.0]]), TRUTH, LAST).tolist() == [[1, 0, 0]]


def test_crps_energy_form() -> None:
    # Samples {0, 2}, truth 1: E|X - y| = 1, E|X - X'| = (0 + 2 + 2 + 0) / 4 = 1 -> 1 - 1/2.
    assert crps_from_samples(np.array([[[0.0], [2.0]]]), np.array([[1.0]])) == pytest.approx(0.5)
    # One sample: the absolute error.
    assert crps_from_samples(np.array([[[3.0]]]), np.array([[1.0]])) == pytest.approx(2.0)
    rng = np.random.default_rng(0)
    paths, truth = rng.normal(size=(4, 7, 3)), rng.normal(size=(4, 3))
    brute = np.abs(paths - truth[:, None]).mean(1) - 0.5 * np.abs(
        paths[:, :, None] - paths[:, None, :]
    ).mean((1, 2))
    assert crps_from_samples(paths, truth) == pytest.approx(brute)


def test_central_band() -> None:
    paths = np.arange(11.0)[None, :, None]  # samples 0..10: quantile q = 10 q
    low, high = central_band(paths, 0.8)
    assert (low.item(), high.item()) == pytest.approx((1.0, 9.0))
    assert covered(low, high, np.array([[9.5]])).item() == 0
    with pytest.raises(ValueError, match="band level"):
        central_band(paths, 1.0)
