"""What a record holds: raw values from the paths, served values raw or calibrated, seeds."""

from __future__ import annotations

import numpy as np
import pytest
from ledger_helpers import HOUR, T0, record

from forecasting.candles import interval_seconds
from forecasting.recalibration import RecalibrationSettings, fit_calibration
from ledger.records import derive_seed


def test_raw_values_come_from_the_paths() -> None:
    r = record(horizon=3, samples=200)
    rng = np.random.default_rng(0)
    paths = 100.0 * np.exp(np.cumsum(0.01 * rng.standard_normal((200, 3)), axis=1))
    for h, s in enumerate(r.steps):
        assert s.mean == pytest.approx(paths[:, h].mean())
        assert s.bands_raw[0.8] == pytest.approx(tuple(np.quantile(paths[:, h], [0.1, 0.9])))
        assert s.bands_raw[0.9] == pytest.approx(tuple(np.quantile(paths[:, h], [0.05, 0.95])))
        assert s.up_probability_raw == pytest.approx((paths[:, h] > 100.0).mean())
        assert s.bands == s.bands_raw and s.quantiles_cal is None  # no calibration: raw served
        assert s.candle_open == T0 + (h + 1) * HOUR and s.closes_at == s.candle_open + HOUR
    assert r.reference_step == 3 and r.calibration is None


def test_a_calibration_widens_what_is_served() -> None:
    pits = np.r_[np.full(30, 0.001), np.full(30, 0.999), np.linspace(0.2, 0.8, 40)]
    cal = fit_calibration({1: pits, 2: pits}, 2, RecalibrationSettings(min_scored=50))
    r = record(horizon=2, calibration=cal)
    for s in r.steps:
        assert s.quantiles_cal is not None
        assert s.bands[0.8][1] - s.bands[0.8][0] > 1.5 * (s.bands_raw[0.8][1] - s.bands_raw[0.8][0])
        assert (np.diff(s.quantiles_cal) >= 0).all()
    assert r.calibration["method"] == "quantile-recalibration"
    assert r.calibration_version == "qr5-w1000-c2000-m50-k5-ck5"


def test_seed_is_fixed_by_symbol_interval_and_origin() -> None:
    assert derive_seed("BTC", "1h", T0) == derive_seed("BTC", "1h", T0)
    assert derive_seed("BTC", "1h", T0) != derive_seed("ETH", "1h", T0)
    assert derive_seed("BTC", "1h", T0) != derive_seed("BTC", "1h", T0 + HOUR)
    assert 0 <= derive_seed("BTC", "4h", T0) < 2**63


def test_intervals() -> None:
    assert [interval_seconds(i) for i in ("15m", "1h", "4h", "1d")] == [900, 3600, 14400, 86400]
    with pytest.raises(ValueError):
        interval_seconds("1x")
