"""The `prediction` object from sample paths: prices, bands, trend, confidence, calibration."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecast_api.http.responses import ForecastMeta, prediction_from
from forecasting.calibration import BandCalibration
from forecasting.forecast import FEATURES, Forecast
from forecasting.summary import classify_trend, reference_step

META = ForecastMeta("kronos", "m", "t", samples=10, seed=7)
HOUR = pd.Timedelta(hours=1)
CLOSE = FEATURES.index("close")


def make_forecast(closes: np.ndarray) -> Forecast:
    """A forecast whose every feature equals the given (samples, horizon) closes."""
    horizon = closes.shape[1]
    paths = np.repeat(closes[:, :, None], len(FEATURES), axis=2).astype(float)
    stamps = pd.date_range("2025-10-15T13:00:00Z", periods=horizon, freq="h")
    return Forecast(timestamps=stamps, paths=paths)


def test_reference_step() -> None:
    assert reference_step(24) == 23
    assert reference_step(72) == 23
    assert reference_step(6) == 5


def test_per_step_statistics_and_shape() -> None:
    rng = np.random.default_rng(0)
    closes = 100 + rng.normal(0, 1, size=(50, 30)).cumsum(axis=1)
    prediction = prediction_from(
        make_forecast(closes), 100.0, META, step=HOUR, trend_threshold=0.005
    )
    assert prediction.horizon == 30 and prediction.samples == 50
    assert [p.hour for p in prediction.predictions] == list(range(1, 31))
    # a step is stamped with its candle's close time (open + 1h); openTime is the open time
    assert prediction.predictions[0].timestamp == "2025-10-15T14:00:00Z"
    assert prediction.predictions[0].openTime == "2025-10-15T13:00:00Z"
    assert prediction.predictions[-1].timestamp == "2025-10-16T19:00:00Z"
    assert prediction.predictions[-1].openTime == "2025-10-16T18:00:00Z"
    assert prediction.predictions[0].quantiles is None and prediction.distributionCalibrated is None
    for h, point in enumerate(prediction.predictions):
        assert point.price == pytest.approx(closes[:, h].mean())
        assert point.median == pytest.approx(np.quantile(closes[:, h], 0.5))
        assert point.low == pytest.approx(np.quantile(closes[:, h], 0.1))
        assert point.high == pytest.approx(np.quantile(closes[:, h], 0.9))
        assert point.low <= point.median <= point.high
    assert prediction.price_24h == pytest.approx(closes[:, 23].mean())
    assert prediction.upProbability == pytest.approx((closes[:, 23] > 100).mean(), abs=1e-4)
    assert prediction.bandLevels == (0.1, 0.9) and not prediction.calibrated
    assert prediction.model == "kronos" and prediction.seed == 7


def test_short_horizon_uses_the_last_step() -> None:
    closes = np.tile(np.linspace(101, 106, 6), (4, 1))
    prediction = prediction_from(
        make_forecast(closes), 100.0, META, step=HOUR, trend_threshold=0.005
    )
    assert prediction.price_24h == pytest.approx(106.0)
    assert prediction.trend == "bullish" and prediction.confidence == 1.0


@pytest.mark.parametrize(
    ("finals", "trend", "confidence"),
    [
        # mean +2%: bullish; 3 of 4 paths above +0.5%
        ([103.0, 102.0, 104.0, 99.0], "bullish", 0.75),
        # mean -2.5%: bearish; 2 of 4 paths below -0.5%
        ([90.0, 96.0, 100.0, 104.0], "bearish", 0.5),
        # mean 0: neutral; 2 of 4 paths within +-0.5%
        ([100.2, 99.8, 105.0, 95.0], "neutral", 0.5),
        ([100.0, 100.0, 100.0, 100.0], "neutral", 1.0),
    ],
)
def test_trend_and_confidence(finals: list[float], trend: str, confidence: float) -> None:
    got_trend, got_confidence = classify_trend(np.array(finals), 100.0, 0.005)
    assert (got_trend, got_confidence) == (trend, confidence)


def test_confidence_is_a_share_in_unit_interval() -> None:
    rng = np.random.default_rng(1)
    for _ in range(20):
        closes = 100 * np.exp(rng.normal(rng.normal(0, 0.01), 0.02, size=(17, 24)).cumsum(axis=1))
        prediction = prediction_from(
            make_forecast(closes), 100.0, META, step=HOUR, trend_threshold=0.005
        )
        assert 0.0 <= prediction.confidence <= 1.0
        assert 0.0 <= prediction.upProbability <= 1.0


def test_calibrated_band_is_used_for_kronos_only() -> None:
    rng = np.random.default_rng(2)
    closes = 100 + rng.normal(0, 1, size=(40, 24))
    forecast = make_forecast(closes)
    calibration = BandCalibration({0.8: np.full(24, 1.0)})  # double half-width
    calibrated = prediction_from(
        forecast, 100.0, META, step=HOUR, trend_threshold=0.005, calibration=calibration
    )
    raw = prediction_from(forecast, 100.0, META, step=HOUR, trend_threshold=0.005)
    assert calibrated.calibrated
    low, high = calibration.band(forecast, level=0.8)
    assert [p.low for p in calibrated.predictions] == pytest.approx(low.tolist())
    assert [p.high for p in calibrated.predictions] == pytest.approx(high.tolist())
    raw_width = raw.predictions[0].high - raw.predictions[0].low
    cal_width = calibrated.predictions[0].high - calibrated.predictions[0].low
    assert cal_width == pytest.approx(2 * raw_width)
    fallback = ForecastMeta("fallback", "fallback", None, 40, None, "model not loaded")
    uncalibrated = prediction_from(
        forecast, 100.0, fallback, step=HOUR, trend_threshold=0.005, calibration=calibration
    )
    assert not uncalibrated.calibrated and uncalibrated.fallbackReason == "model not loaded"


def test_calibrated_band_never_goes_below_zero() -> None:
    rng = np.random.default_rng(3)
    closes = 1.0 + rng.normal(0, 0.5, size=(40, 24)).clip(-0.9, None)  # wide raw bands
    calibration = BandCalibration({0.8: np.full(24, 5.0)})  # 6x half-width
    assert (calibration.band(make_forecast(closes), level=0.8)[0] < 0).any()
    calibrated = prediction_from(
        make_forecast(closes), 1.0, META, step=HOUR, trend_threshold=0.005, calibration=calibration
    )
    assert min(p.low for p in calibrated.predictions) == 0.0
