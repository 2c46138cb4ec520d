"""Gaps in the forecast path: a copy of the shared candles with holes inside the lookback."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from data_sources import MarketDataSettings
from forecasting.gaps import DEFAULT_MAX_FILL
from kronos_runner.runner import RunnerCore
from tests.forecast_api.api_helpers import LocalRunnerClient, assert_error, client_for


def _with_hole(ohlcv_dir: Path, tmp_path: Path, before_end: int, missing: int) -> Path:
    """A data dir whose BTC file lacks `missing` candles ending `before_end` rows from the end."""
    lines = (ohlcv_dir / "BTC_1h.csv").read_text().splitlines(keepends=True)
    end = len(lines) - before_end
    data = tmp_path / "data"
    data.mkdir()
    (data / "BTC_1h.csv").write_text("".join(lines[: end - missing] + lines[end:]))
    return data


def _predict(make_settings, core: RunnerCore, data: Path) -> dict:
    market = MarketDataSettings(_env_file=None, market_data_source="files", market_data_dir=data)
    with client_for(make_settings(market=market), LocalRunnerClient(core)) as c:
        response = c.get("/api/predict", params={"symbol": "BTC", "seed": 3})
    assert response.status_code == 200, response.text
    return response.json()


def test_a_one_hour_gap_inside_the_lookback_is_filled_and_kronos_answers(
    make_settings, core: RunnerCore, ohlcv_dir: Path, tmp_path: Path
) -> None:
    body = _predict(make_settings, core, _with_hole(ohlcv_dir, tmp_path, 10, 1))
    prediction = body["prediction"]
    assert prediction["model"] == "kronos", prediction["fallbackReason"]
    assert prediction["gapsFilled"] == 1 and prediction["fallbackReason"] is None


def test_without_gaps_nothing_is_filled(
    make_settings, core: RunnerCore, ohlcv_dir: Path, tmp_path: Path
) -> None:
    body = _predict(make_settings, core, _with_hole(ohlcv_dir, tmp_path, 10, 0))
    assert body["prediction"]["model"] == "kronos"
    assert body["prediction"]["gapsFilled"] == 0


@pytest.mark.parametrize("before_end", [10, 2])
def test_a_gap_past_the_limit_is_a_labelled_fallback_naming_the_gap(
    make_settings, core: RunnerCore, ohlcv_dir: Path, tmp_path: Path, before_end: int
) -> None:
    missing = DEFAULT_MAX_FILL + 1
    data = _with_hole(ohlcv_dir, tmp_path, before_end, missing)
    frame = pd.read_csv(data / "BTC_1h.csv")
    after = pd.Timestamp(frame["timestamp"].iloc[-before_end - 1])
    prediction = _predict(make_settings, core, data)["prediction"]
    assert prediction["model"] == "fallback" and prediction["gapsFilled"] == 0
    reason = prediction["fallbackReason"]
    assert f"a gap of {missing} missing candles after {after}" in reason, reason
    assert f"leaves {before_end} regular candles" in reason


def test_a_single_candle_after_the_gap_is_a_503_naming_the_gap(
    make_settings, core: RunnerCore, ohlcv_dir: Path, tmp_path: Path
) -> None:
    data = _with_hole(ohlcv_dir, tmp_path, 1, DEFAULT_MAX_FILL + 1)
    market = MarketDataSettings(_env_file=None, market_data_source="files", market_data_dir=data)
    with client_for(make_settings(market=market), LocalRunnerClient(core)) as c:
        response = c.get("/api/predict", params={"symbol": "BTC"})
    assert_error(response, 503, "market_data_unavailable")
    assert f"a gap of {DEFAULT_MAX_FILL + 1} missing candles" in response.json()["message"]


def test_an_older_gap_past_the_limit_leaves_enough_context_for_kronos(
    make_settings, core: RunnerCore, ohlcv_dir: Path, tmp_path: Path
) -> None:
    # lookback 64, min context 32: a stretch of 40 regular candles is enough for the model
    data = _with_hole(ohlcv_dir, tmp_path, 40, DEFAULT_MAX_FILL + 5)
    prediction = _predict(make_settings, core, data)["prediction"]
    assert prediction["model"] == "kronos", prediction["fallbackReason"]
    assert prediction["gapsFilled"] == 0
