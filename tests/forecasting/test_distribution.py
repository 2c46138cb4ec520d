"""Quantiles, central intervals and threshold probabilities from sample paths."""

from __future__ import annotations

import numpy as np
import pytest

from forecasting.calibration import BandCalibration
from forecasting.distribution import (
    central_intervals,
    interval_edges,
    probability_above,
    quantile_grid,
    recalibrated_above,
    recalibrated_grid,
)
from forecasting.recalibration import Calibration, PitMap, RecalibrationSettings


def paths(samples: int = 200, horizon: int = 5, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return 100 * np.exp(rng.normal(0, 0.01, size=(samples, horizon)).cumsum(axis=1))


def test_raw_quantiles_are_numpys_and_uncalibrated() -> None:
    closes = paths()
    grid = quantile_grid(closes, [0.95, 0.05, 0.5])
    assert grid.probabilities == (0.05, 0.5, 0.95)
    np.testing.assert_allclose(grid.at(0.05), np.quantile(closes, 0.05, axis=0))
    np.testing.assert_allclose(grid.at(0.95), np.quantile(closes, 0.95, axis=0))
    assert not any(grid.calibrated)


def test_interval_edges_join_the_grid() -> None:
    closes = paths()
    grid = quantile_grid(closes, [0.5], [0.8, 0.5])
    assert grid.probabilities == (0.1, 0.25, 0.5, 0.75, 0.9)
    [(level, low, high, calibrated)] = central_intervals(grid, [0.8])
    assert level == 0.8 and not calibrated
    np.testing.assert_allclose(low, np.quantile(closes, 0.1, axis=0))
    np.testing.assert_allclose(high, np.quantile(closes, 0.9, axis=0))
    assert interval_edges(0.95) == (0.025, 0.975)


def test_calibration_applies_to_its_levels_only() -> None:
    closes = paths()
    widen = BandCalibration({0.8: np.full(5, 0.5)})
    grid = quantile_grid(closes, [0.05, 0.1, 0.5, 0.9, 0.95], [0.8, 0.9], widen)
    assert grid.is_calibrated(0.1) and grid.is_calibrated(0.9)
    assert not grid.is_calibrated(0.05) and not grid.is_calibrated(0.5)
    raw_low, raw_high = np.quantile(closes, [0.1, 0.9], axis=0)
    expected_low = raw_low - 0.5 * (raw_high - raw_low) / 2
    # the widened 10% edge may fall below the raw 5% quantile: rearranged, never crossing
    assert np.all(np.diff(grid.values, axis=0) >= 0)
    pair = np.sort([np.quantile(closes, 0.05, axis=0), expected_low], axis=0)
    np.testing.assert_allclose(grid.at(0.05), pair[0])
    np.testing.assert_allclose(grid.at(0.1), pair[1])
    assert np.any(expected_low < np.quantile(closes, 0.05, axis=0))  # a crossing was repaired
    [(_, _, _, ok80), (_, _, _, ok90)] = central_intervals(grid, [0.8, 0.9])
    assert ok80 and not ok90


def test_a_narrowing_calibration_never_crosses_and_never_goes_negative() -> None:
    closes = paths(horizon=3)
    narrow = BandCalibration({0.8: np.full(3, -1.0)})  # collapses the 80% band to its centre
    grid = quantile_grid(closes, [0.1, 0.25, 0.5, 0.75, 0.9], [], narrow)
    assert np.all(np.diff(grid.values, axis=0) >= 0) and np.all(grid.values >= 0)
    wide = BandCalibration({0.8: np.full(3, 1e6)})
    assert np.all(quantile_grid(closes, [0.1], [], wide).values == 0.0)


@pytest.mark.parametrize("bad", [[0.0], [1.0], [1.5]])
def test_probabilities_outside_the_unit_interval_are_rejected(bad: list[float]) -> None:
    with pytest.raises(ValueError, match="in \\(0, 1\\)"):
        quantile_grid(paths(), bad)


def test_probability_above_counts_ties_as_half() -> None:
    closes = np.array([[1.0], [2.0], [3.0], [4.0]])
    np.testing.assert_allclose(
        probability_above(closes, [0.5, 2.0, 2.5, 4.0, 9.0])[:, 0], [1.0, 0.625, 0.5, 0.125, 0.0]
    )


def test_probability_above_the_median_is_one_half() -> None:
    closes = paths(samples=101)
    median = np.median(closes, axis=0)
    above = np.stack([probability_above(closes[:, [h]], [m])[0, 0] for h, m in enumerate(median)])
    np.testing.assert_allclose(above, 0.5)
    assert np.all(np.diff(probability_above(closes, [90, 100, 110]), axis=0) <= 0)


def overconfident_calibration(horizon: int, steps: range) -> Calibration:
    """A rolling calibration fitted on PITs piled at the tails: the raw bands were too narrow."""
    pits = np.concatenate([np.full(40, 0.02), np.full(40, 0.98), np.linspace(0.1, 0.9, 20)])
    maps = {h: PitMap.fit(pits, prior=5.0) for h in steps}
    return Calibration(RecalibrationSettings(), maps, {h: 100 for h in steps}, None)


def test_a_rolling_calibration_widens_the_steps_it_covers_only() -> None:
    closes = paths(horizon=4)
    raw = quantile_grid(closes, [0.1, 0.5, 0.9])
    grid = recalibrated_grid(raw, closes, overconfident_calibration(4, range(1, 3)))
    width = grid.at(0.9) - grid.at(0.1)
    raw_width = raw.at(0.9) - raw.at(0.1)
    assert np.all(width[:2] > 1.5 * raw_width[:2])  # steps 1-2: calibrated, much wider
    np.testing.assert_array_equal(grid.values[:, 2:], raw.values[:, 2:])  # steps 3-4: raw
    assert not any(grid.calibrated)  # not every step is calibrated
    full = recalibrated_grid(raw, closes, overconfident_calibration(4, range(1, 5)))
    assert all(full.calibrated) and np.all(np.diff(full.values, axis=0) >= 0)
    assert recalibrated_grid(raw, closes, None) is raw


def test_a_rolling_calibration_moves_threshold_probabilities_towards_the_tails() -> None:
    closes = paths(horizon=3)
    prices = [float(np.quantile(closes[:, 0], 0.9))]
    raw = probability_above(closes, prices)
    above, every = recalibrated_above(raw, closes, prices, overconfident_calibration(3, [1]))
    assert not every and above[0, 0] > raw[0, 0] + 0.1  # 10% of paths, far more calibrated
    np.testing.assert_array_equal(above[:, 1:], raw[:, 1:])
    assert recalibrated_above(raw, closes, prices, None) == (raw, False)
