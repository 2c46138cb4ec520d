"""The cooperative stop: `should_stop` is asked before each model pass (encoding, prefill,
generation step, decoding) and never changes the results of a batch it lets finish."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from kronos_runner import generate
from kronos_runner.generation_types import GenerationStopped
from kronos_runner.pipeline import KronosPipeline


class StopAfter:
    """A `should_stop` that answers False `calls` times, then True."""

    def __init__(self, calls: int) -> None:
        self.limit, self.calls = calls, 0

    def __call__(self) -> bool:
        self.calls += 1
        return self.calls > self.limit


@pytest.fixture()
def draws(monkeypatch) -> list[int]:
    """Rows of each `sample_tokens` call: two calls per generation step (coarse, then fine)."""
    calls: list[int] = []
    sample = generate.sample_tokens

    def counted(logits, *args):
        calls.append(logits.shape[0])
        return sample(logits, *args)

    monkeypatch.setattr(generate, "sample_tokens", counted)
    return calls


def _series(candles: pd.DataFrame, lengths: list[int]) -> list[pd.DataFrame]:
    return [candles.iloc[len(candles) - n :].reset_index(drop=True) for n in lengths]


@pytest.mark.parametrize("use_cache", [True, False])
def test_generation_stops_after_n_steps(
    pipeline: KronosPipeline, candles: pd.DataFrame, draws: list[int], use_cache: bool
) -> None:
    with pytest.raises(GenerationStopped, match="before step 4 of 10"):
        pipeline.predict(
            _series(candles, [72, 40]),
            10,
            samples=2,
            seed=1,
            use_cache=use_cache,
            should_stop=lambda: len(draws) >= 2 * 3,  # a fake clock that moves one tick a step
        )
    assert draws == [4] * 6  # 3 steps of 2 series x 2 samples, nothing after


def test_stop_during_the_prefill_skips_the_other_series(
    pipeline: KronosPipeline, candles: pd.DataFrame, draws: list[int], monkeypatch
) -> None:
    passes: list[int] = []
    hidden = pipeline.model.hidden

    def counted(*args, **kwargs):
        passes.append(1)
        return hidden(*args, **kwargs)

    monkeypatch.setattr(pipeline.model, "hidden", counted)
    stop = StopAfter(3 + 1)  # encode 3 series, prefill the first
    with pytest.raises(GenerationStopped, match="before the prefill of series 2 of 3"):
        pipeline.predict(_series(candles, [72, 50, 30]), 5, seed=1, should_stop=stop)
    assert passes == [1] and draws == []


def test_stop_before_anything_runs_no_model_pass(
    pipeline: KronosPipeline, candles: pd.DataFrame, draws: list[int]
) -> None:
    with pytest.raises(GenerationStopped, match="before encoding series 1 of 1"):
        pipeline.predict(candles, 5, seed=1, should_stop=lambda: True)
    assert draws == []


@pytest.mark.parametrize("use_cache", [True, False])
def test_a_hook_that_never_stops_changes_nothing(
    small_pipeline: KronosPipeline, candles: pd.DataFrame, use_cache: bool
) -> None:
    # max_context 40 with horizons up to 12: windows slide, so full-recompute rows are covered.
    kwargs = {"samples": 3, "seed": [5, 6, 7], "use_cache": use_cache}
    frames, horizons = _series(candles, [72, 35, 50]), [12, 4, 8]
    plain = small_pipeline.predict(frames, horizons, **kwargs)
    stop = StopAfter(10**6)
    hooked = small_pipeline.predict(frames, horizons, should_stop=stop, **kwargs)
    assert stop.calls > max(horizons)  # asked at every step at least
    for a, b in zip(plain, hooked, strict=True):
        np.testing.assert_array_equal(a.paths, b.paths)
        assert a.timestamps.equals(b.timestamps)
