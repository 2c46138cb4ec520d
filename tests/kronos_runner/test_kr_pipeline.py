"""KronosPipeline: input validation, output shapes, timestamps, devices."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from forecasting.forecast import FEATURES, Forecast
from kronos_runner.packing import cpu_has_bf16
from kronos_runner.pipeline import KronosPipeline


def _with(candles: pd.DataFrame, **changes) -> pd.DataFrame:
    df = candles.iloc[:30].copy()
    for key, value in changes.items():
        df[key] = value
    return df


def test_forecast_shapes_mean_and_quantiles(
    pipeline: KronosPipeline, candles: pd.DataFrame
) -> None:
    (fc,) = pipeline.predict(candles, 5, samples=8, seed=0)
    assert isinstance(fc, Forecast)
    assert fc.paths.shape == (8, 5, 6) and fc.paths.dtype == np.float32
    assert np.isfinite(fc.paths).all()
    assert list(fc.mean.columns) == list(FEATURES)
    assert fc.mean.index.equals(fc.timestamps)
    np.testing.assert_allclose(fc.mean.to_numpy(), fc.paths.mean(axis=0), rtol=1e-6)
    q = fc.quantiles()
    assert list(q.columns) == [0.1, 0.5, 0.9] and q.index.equals(fc.timestamps)
    assert (q[0.1] <= q[0.5]).all() and (q[0.5] <= q[0.9]).all()
    assert fc.quantiles([0.25], feature="volume").shape == (5, 1)
    with pytest.raises(ValueError, match="quantile levels"):
        fc.quantiles([1.5])
    with pytest.raises(ValueError, match="unknown feature"):
        fc.quantiles(feature="vwap")


def test_future_timestamps_inferred(pipeline: KronosPipeline, candles: pd.DataFrame) -> None:
    (fc,) = pipeline.predict(candles, 3, seed=0)
    last = pd.Timestamp(candles["timestamp"].iloc[-1])
    expected = pd.DatetimeIndex([last + pd.Timedelta(hours=h) for h in (1, 2, 3)])
    assert fc.timestamps.equals(expected) and str(fc.timestamps.tz) == "UTC"


def test_datetime_index_naive_and_other_timezones(
    pipeline: KronosPipeline, candles: pd.DataFrame
) -> None:
    df = candles.iloc[:24].copy()
    idx = pd.date_range("2024-05-01 00:00", periods=24, freq="15min")
    naive = df.drop(columns="timestamp").set_index(idx)
    (fc,) = pipeline.predict(naive, 2, seed=0)
    assert list(fc.timestamps) == [
        pd.Timestamp("2024-05-01 06:00", tz="UTC"),
        pd.Timestamp("2024-05-01 06:15", tz="UTC"),
    ]
    tokyo = naive.set_index(idx.tz_localize("Asia/Tokyo"))
    (fc,) = pipeline.predict(tokyo, 1, seed=0)
    assert fc.timestamps[0] == pd.Timestamp("2024-04-30 21:00", tz="UTC")


def test_given_future_timestamps_allow_irregular_series(
    pipeline: KronosPipeline, candles: pd.DataFrame
) -> None:
    df = candles.iloc[:20].drop(index=[5, 9]).reset_index(drop=True)
    with pytest.raises(ValueError, match="irregular frequency"):
        pipeline.predict(df, 2)
    future = pd.date_range(pd.Timestamp(df["timestamp"].iloc[-1]), periods=3, freq="h")[1:]
    (fc,) = pipeline.predict(df, 2, future_timestamps=[future], seed=0)
    assert fc.timestamps.equals(future)


def test_list_inputs_and_per_series_horizons(
    pipeline: KronosPipeline, candles: pd.DataFrame
) -> None:
    out = pipeline.predict([candles.iloc[:30], candles], [2, 4], samples=3, seed=[0, None])
    assert [f.paths.shape for f in out] == [(3, 2, 6), (3, 4, 6)]


def test_prices_only_gives_near_zero_volume(
    pipeline: KronosPipeline, candles: pd.DataFrame
) -> None:
    (fc,) = pipeline.predict(candles[["timestamp", "open", "high", "low", "close"]], 3, seed=0)
    assert np.abs(fc.paths[..., 4:]).max() < 1e-3


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda c: c.iloc[:0], "is empty"),
        (lambda c: c.iloc[:1], "at least 2 rows"),
        (lambda c: _with(c, close=np.nan), r"\['close'\] contain NaN or infinite"),
        (lambda c: _with(c, volume=np.inf), r"\['volume'\] contain NaN or infinite"),
        (lambda c: c.iloc[:30].drop(columns="low"), r"missing column\(s\) \['low'\]"),
        (lambda c: c.iloc[:30].drop(columns="timestamp"), "neither a 'timestamp' column"),
        (lambda c: c.iloc[:30].iloc[::-1], "not sorted ascending"),
        (lambda c: pd.concat([c.iloc[:10], c.iloc[9:20]]), "duplicate timestamps"),
        (lambda c: c.iloc[:30].drop(index=4), "irregular frequency"),
        (lambda c: _with(c, open="abc"), "non-numeric"),
        (lambda c: _with(c, high=3e38, low=-3e38), "too large to normalise"),
        (lambda c: _with(c, volume=1e39), "too large for float32"),
        (lambda c: c.iloc[:30].to_numpy(), "not a pandas DataFrame"),
    ],
)
def test_bad_series_raise_value_error(
    pipeline: KronosPipeline, candles: pd.DataFrame, make, match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        pipeline.predict([make(candles)], 3, seed=0)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"horizon": 0}, "horizon .* must be an integer >= 1"),
        ({"horizon": 2.5}, "horizon .* must be an integer >= 1"),
        ({"horizon": 600}, "exceeds max_context 512"),
        ({"horizon": [2, 3]}, "horizon has 2 entries for 1 series"),
        ({"samples": 0}, "samples must be an integer >= 1"),
        ({"temperature": 0.0}, "temperature must be"),
        ({"top_k": -1}, "top_k must be"),
        ({"top_p": 0.0}, r"top_p must be in \(0, 1\]"),
        ({"top_p": 1.5}, r"top_p must be in \(0, 1\]"),
        ({"seed": -1}, "seed for series"),
        ({"seed": [1, 2]}, "seed has 2 entries"),
        ({"future_timestamps": pd.DatetimeIndex([])}, "future_timestamps must be a list"),
        (
            {"future_timestamps": [pd.DatetimeIndex(["2030-01-01"], tz="UTC")]},
            "has 1 entries, not 3",
        ),
        (
            {"future_timestamps": [pd.date_range("2000-01-01", periods=3, freq="h", tz="UTC")]},
            "must come after its last candle",
        ),
    ],
)
def test_bad_arguments_raise_value_error(
    pipeline: KronosPipeline, candles: pd.DataFrame, kwargs: dict, match: str
) -> None:
    args = {"horizon": 3, **kwargs}
    horizon = args.pop("horizon")
    with pytest.raises(ValueError, match=match):
        pipeline.predict(candles, horizon, **args)


def test_no_series(pipeline: KronosPipeline) -> None:
    with pytest.raises(ValueError, match="no series given"):
        pipeline.predict([], 3)


def test_attributes_and_loading_from_dirs(fixtures_dir: Path) -> None:
    pipe = KronosPipeline.from_pretrained(
        fixtures_dir / "tiny-model", str(fixtures_dir / "tiny-tokenizer"), device="auto"
    )
    assert pipe.max_context == 512
    assert pipe.device == torch.device("cuda:0" if torch.cuda.is_available() else "cpu")
    assert not pipe.model.training and not pipe.tokenizer.training


def test_device_and_dtype_errors(tiny_model, tiny_tokenizer) -> None:
    with pytest.raises(ValueError, match="unsupported device"):
        KronosPipeline.from_pretrained(tiny_model, tiny_tokenizer, device="tpu")
    with pytest.raises(ValueError, match="unsupported dtype"):
        KronosPipeline.from_pretrained(tiny_model, tiny_tokenizer, device="cpu", dtype="int8")
    with pytest.raises(ValueError, match="max_context must be a positive integer"):
        KronosPipeline.from_pretrained(tiny_model, tiny_tokenizer, device="cpu", max_context=0)
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            KronosPipeline.from_pretrained(tiny_model, tiny_tokenizer, device="cuda:0")
    if not cpu_has_bf16():
        with pytest.raises(ValueError, match="bfloat16 needs CUDA or a CPU with AVX512-BF16"):
            KronosPipeline.from_pretrained(
                tiny_model, tiny_tokenizer, device="cpu", dtype="bfloat16"
            )


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("dtype", [None, "bfloat16"])
def test_cuda_matches_cpu_greedy(tiny_model, tiny_tokenizer, candles, dtype) -> None:
    cpu = KronosPipeline.from_pretrained(tiny_model, tiny_tokenizer, device="cpu")
    gpu = KronosPipeline.from_pretrained(tiny_model, tiny_tokenizer, device="cuda:0", dtype=dtype)
    kw = {"temperature": 1.0, "top_k": 1, "top_p": 1.0, "seed": 0}
    a = cpu.predict(candles, 4, **kw)[0].paths
    b = gpu.predict(candles, 4, **kw)[0].paths
    tol = 1e-4 if dtype is None else 5e-2
    np.testing.assert_allclose(b, a, rtol=tol, atol=tol * np.abs(a).max())


@pytest.mark.parametrize("use_cache", [True, False])
def test_bfloat16_plumbing(fixtures_dir: Path, candles: pd.DataFrame, use_cache: bool) -> None:
    """bf16 is offered on CUDA only; its dtype handling is exercised here on CPU."""
    from kronos_runner.model import Kronos
    from kronos_runner.pipeline import _place
    from kronos_runner.tokenizer import KronosTokenizer

    cpu, bf16 = torch.device("cpu"), torch.bfloat16
    model = _place(Kronos.from_pretrained(fixtures_dir / "tiny-model"), cpu, bf16)
    tok = _place(KronosTokenizer.from_pretrained(fixtures_dir / "tiny-tokenizer"), cpu, bf16)
    assert model.transformer[0].self_attn.rotary.inv_freq.dtype == torch.float32
    assert tok.tokenizer.bsq.basis.dtype == torch.int64
    pipe = KronosPipeline(model, tok, device=cpu)
    out = pipe.predict([candles, candles.iloc[:40]], [6, 3], samples=2, seed=0, use_cache=use_cache)
    assert [f.paths.shape for f in out] == [(2, 6, 6), (2, 3, 6)]
    assert all(f.paths.dtype == np.float32 and np.isfinite(f.paths).all() for f in out)
