"""Runner core on the tiny reference checkpoint: loading, grouping, per-item errors."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from forecasting.forecast import FEATURES, Forecast
from kronos_runner.runner import ModelSpec, RunnerCore
from kronos_runner.wire import RunnerItem, RunnerResult, SamplingParams
from tests.kronos_runner.conftest import FIXTURES


@pytest.fixture(scope="module")
def btc(ohlcv_dir: Path) -> pd.DataFrame:
    return pd.read_csv(ohlcv_dir / "BTC_1h.csv", parse_dates=["timestamp"]).tail(200)


def item(
    df: pd.DataFrame, horizon: int, samples: int = 3, seed: int = 1, **kw: float
) -> RunnerItem:
    return RunnerItem.from_frame(df, horizon, SamplingParams(samples=samples, **kw), seed)


def test_loads_the_tiny_checkpoint(core: RunnerCore) -> None:
    status = core.status()
    assert status.loaded and status.error is None
    assert status.device == "cpu" and status.maxContext == 512
    # the digest is what `sha256sum model.safetensors` prints for each checkpoint (16 digits)
    weights = [FIXTURES / name / "model.safetensors" for name in ("tiny-model", "tiny-tokenizer")]
    expected = "+".join(hashlib.sha256(w.read_bytes()).hexdigest()[:16] for w in weights)
    assert status.checkpointDigest == expected


def test_load_failure_is_reported_not_raised(tmp_path: Path) -> None:
    broken = RunnerCore.load(ModelSpec(tmp_path / "missing", "NeoQuasar/Kronos-Tokenizer-base"))
    status = broken.status()
    assert not status.loaded and "missing" in (status.error or "")
    results = broken.forecast(
        [
            RunnerItem(
                timestamps=[0, 1],
                open=[1, 1],
                high=[1, 1],
                low=[1, 1],
                close=[1, 1],
                horizon=2,
                sampling=SamplingParams(samples=1),
            )
        ]
    )
    assert results[0].error_kind == "not_loaded" and "missing" in results[0].error


def test_mixed_batch_groups_by_sampling(core: RunnerCore, btc: pd.DataFrame, monkeypatch) -> None:
    calls: list[int] = []
    predict = core.pipeline.predict

    def counting(series, *args, **kwargs):
        calls.append(len(series))
        return predict(series, *args, **kwargs)

    monkeypatch.setattr(core.pipeline, "predict", counting)
    items = [
        item(btc, 5),
        item(btc.tail(120), 3, seed=2),
        item(btc.tail(60), 7, samples=2),
        item(btc.tail(90), 4, seed=3),
    ]
    results = core.forecast(items)
    assert sorted(calls) == [1, 3]  # two sampling groups -> two generation passes
    for it, result in zip(items, results, strict=True):
        assert result.ok
        forecast = result.forecast()
        assert forecast.paths.shape == (it.sampling.samples, it.horizon, len(FEATURES))
        assert forecast.timestamps[0] == pd.Timestamp(
            it.timestamps[-1], unit="ms", tz="UTC"
        ) + pd.Timedelta("1h")


def test_bad_item_does_not_fail_neighbours(core: RunnerCore, btc: pd.DataFrame) -> None:
    bad = btc.copy()
    bad.iloc[5, bad.columns.get_loc("close")] = np.nan
    good = [item(btc, 4, seed=11), item(btc.tail(50), 4, seed=12)]
    results = core.forecast([good[0], item(bad, 4), good[1]])
    assert [r.ok for r in results] == [True, False, True]
    assert results[1].error_kind == "invalid" and results[1].error
    alone = core.forecast([good[1]])[0]
    assert np.array_equal(alone.forecast().paths, results[2].forecast().paths)


def test_non_finite_forecast_becomes_an_error() -> None:
    stamps = pd.date_range("2025-01-01", periods=2, freq="h", tz="UTC")
    paths = np.ones((1, 2, len(FEATURES)))
    paths[0, 1, 3] = np.inf
    result = RunnerResult.from_forecast(Forecast(timestamps=stamps, paths=paths))
    assert not result.ok and result.error_kind == "non_finite"


def test_non_positive_prices_become_an_error() -> None:
    stamps = pd.date_range("2025-01-01", periods=2, freq="h", tz="UTC")
    paths = np.ones((1, 2, len(FEATURES)))
    paths[0, 1, 2] = -0.5  # a negative low
    result = RunnerResult.from_forecast(Forecast(timestamps=stamps, paths=paths))
    assert not result.ok and result.error_kind == "non_positive"
