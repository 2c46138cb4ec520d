"""Conformal band calibration on a synthetic process with a known distribution."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from forecasting.calibration import BandCalibration
from forecasting.forecast import FEATURES, Forecast
from forecasting.metrics import central_band, covered

HORIZON, SAMPLES = 6, 50


def _process(n: int, spread: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Truth ~ N(100, s_h) with s_h growing with the step; paths ~ N(100, spread x s_h)."""
    rng = np.random.default_rng(seed)
    scale = np.sqrt(np.arange(1, HORIZON + 1))
    truth = 100 + scale * rng.standard_normal((n, HORIZON))
    paths = 100 + spread * scale * rng.standard_normal((n, SAMPLES, HORIZON))
    return paths, truth


@pytest.mark.parametrize("spread", [0.4, 2.5])  # bands far too narrow, then far too wide
def test_calibrated_bands_reach_nominal_coverage(spread: float) -> None:
    cal = BandCalibration.fit(*_process(2000, spread, seed=1), levels=(0.8, 0.9))
    paths, truth = _process(4000, spread, seed=2)
    for level in cal.levels:
        raw = covered(*central_band(paths, level), truth).mean()
        calibrated = covered(*cal.adjust(*central_band(paths, level), level), truth).mean(axis=0)
        assert abs(raw - level) > 0.08
        assert np.abs(calibrated - level).max() < 0.03, (level, calibrated)
        assert (cal.adjustments[level] > 0).all() == (spread < 1)


def test_save_load_and_band_of_a_forecast(tmp_path: Path) -> None:
    cal = BandCalibration.fit(*_process(200, 0.5, seed=3), metadata={"model": "x"})
    cal.save(tmp_path / "cal.json")
    loaded = BandCalibration.load(tmp_path / "cal.json")
    assert (
        loaded.levels == (0.8, 0.9) and loaded.n_windows == 200 and loaded.metadata["model"] == "x"
    )
    for level in cal.levels:
        np.testing.assert_allclose(loaded.adjustments[level], cal.adjustments[level])

    paths, _ = _process(1, 0.5, seed=4)
    full = np.zeros((SAMPLES, HORIZON + 2, len(FEATURES)))
    full[:, :HORIZON, FEATURES.index("close")] = paths[0]
    full[:, HORIZON:, FEATURES.index("close")] = paths[0, :, -1:]
    forecast = Forecast(
        timestamps=pd.date_range("2025-01-01", periods=HORIZON + 2, freq="h", tz="UTC"),
        paths=full,
    )
    low, high = loaded.band(forecast, level=0.9)
    raw_low, raw_high = central_band(full[:, :, FEATURES.index("close")], 0.9)
    assert low.shape == (HORIZON + 2,)
    assert (low < raw_low).all() and (high > raw_high).all()  # too narrow -> widened
    # Steps past the fitted horizon reuse the last step's adjustment.
    np.testing.assert_allclose(
        (high - raw_high)[-1] / (raw_high - raw_low)[-1] * 2, cal.adjustments[0.9][-1]
    )
    with pytest.raises(ValueError, match="level"):
        loaded.band(forecast, level=0.5)
    with pytest.raises(ValueError, match="fitted on"):
        loaded.band(forecast, level=0.8, feature="volume")
