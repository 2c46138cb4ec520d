"""Sampling semantics, seeds, KV cache vs full recompute, mixed-length batches."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

from kronos_runner import generate
from kronos_runner.generate import row_groups
from kronos_runner.pipeline import KronosPipeline
from kronos_runner.sampling import filter_logits, sample_tokens


def _kept(logits: torch.Tensor) -> list[int]:
    return torch.nonzero(torch.isfinite(logits[0])).flatten().tolist()


def test_top_k_keeps_k_largest_with_ties() -> None:
    assert _kept(filter_logits(torch.tensor([[1.0, 3.0, 2.0, 0.0]]), top_k=2)) == [1, 2]
    assert _kept(filter_logits(torch.tensor([[1.0, 1.0, 0.0]]), top_k=1)) == [0, 1]


@pytest.mark.parametrize(("top_p", "kept"), [(0.4, [0]), (0.6, [0, 1]), (0.85, [0, 1, 2])])
def test_top_p_keeps_the_token_that_crosses(top_p: float, kept: list[int]) -> None:
    logits = torch.log(torch.tensor([[0.3, 0.5, 0.05, 0.15]]))  # sorted: 1, 0, 3, 2
    order = {0: 1, 1: 0, 2: 3}
    assert _kept(filter_logits(logits, top_p=top_p)) == sorted(order[i] for i in kept)


def test_top_p_keeps_ties_with_the_last_kept_token() -> None:
    logits = torch.log(torch.tensor([[0.4, 0.2, 0.2, 0.2]]))
    assert _kept(filter_logits(logits, top_p=0.5)) == [0, 1, 2, 3]
    assert _kept(filter_logits(logits, top_p=0.3)) == [0]


def test_top_p_matches_the_sort_and_scatter_reference() -> None:
    def reference(logits: torch.Tensor, top_p: float) -> torch.Tensor:
        ordered, order = logits.sort(dim=-1, descending=True)
        cumulative = ordered.softmax(dim=-1).cumsum(dim=-1)
        remove = torch.zeros_like(cumulative, dtype=torch.bool)
        remove[..., 1:] = cumulative[..., :-1] > top_p
        return logits.masked_fill(remove.scatter(-1, order, remove), float("-inf"))

    gen = torch.Generator().manual_seed(0)
    for scale in (0.1, 3.0, 30.0):
        logits = torch.randn(64, 1024, generator=gen) * scale
        for top_p in (0.1, 0.9, 0.99):
            assert torch.equal(filter_logits(logits, top_p=top_p), reference(logits, top_p))


def test_top_k_skips_top_p_and_defaults_keep_all() -> None:
    logits = torch.tensor([[0.0, 1.0, 2.0, 3.0]])
    assert _kept(filter_logits(logits, top_k=3, top_p=0.01)) == [1, 2, 3]
    assert _kept(filter_logits(logits, top_k=0, top_p=1.0)) == [0, 1, 2, 3]


def test_inverse_cdf_sampling() -> None:
    probs = torch.tensor([0.0, 0.2, 0.0, 0.5, 0.3, 0.0])
    logits = torch.log(probs).expand(4, -1)
    u = torch.tensor([0.0, 0.19, 0.21, 0.9999999])
    assert sample_tokens(logits, u, 1.0, 0, 1.0).tolist() == [1, 1, 3, 4]
    # Greedy (top_k=1) is the argmax whatever the uniform.
    assert sample_tokens(logits, u, 1.0, 1, 1.0).tolist() == [3, 3, 3, 3]
    # Frequencies over a uniform grid follow the probabilities.
    grid = (torch.arange(10000) + 0.5) / 10000
    draws = sample_tokens(torch.log(probs).expand(10000, -1), grid, 1.0, 0, 1.0)
    freq = torch.bincount(draws, minlength=6).float() / 10000
    torch.testing.assert_close(freq, probs, atol=1e-3, rtol=0)


def test_temperature_sharpens() -> None:
    logits = torch.tensor([[0.0, 1.0]]).expand(2000, -1)
    grid = (torch.arange(2000) + 0.5) / 2000
    hot = sample_tokens(logits, grid, 10.0, 0, 1.0).float().mean().item()
    cold = sample_tokens(logits, grid, 0.1, 0, 1.0).float().mean().item()
    assert cold > 0.99 and abs(hot - 1 / (1 + math.exp(-0.1))) < 0.01


def _series(candles: pd.DataFrame, lengths: list[int]) -> list[pd.DataFrame]:
    return [candles.iloc[len(candles) - n :].reset_index(drop=True) for n in lengths]


def test_same_seed_same_paths_different_seed_different(
    pipeline: KronosPipeline, candles: pd.DataFrame
) -> None:
    kwargs = {"samples": 4, "temperature": 1.0, "top_p": 0.9}
    a = pipeline.predict(candles, 6, seed=7, **kwargs)[0].paths
    b = pipeline.predict(candles, 6, seed=7, **kwargs)[0].paths
    c = pipeline.predict(candles, 6, seed=8, **kwargs)[0].paths
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    # Paths within one request differ from each other.
    assert not np.allclose(a[0], a[1])


def _paths(pipe: KronosPipeline, series, horizon, use_cache: bool, **kwargs) -> list[np.ndarray]:
    return [f.paths for f in pipe.predict(series, horizon, use_cache=use_cache, **kwargs)]


GREEDY = {"temperature": 1.0, "top_k": 1, "top_p": 1.0}


@pytest.mark.parametrize("pipe_name", ["pipeline", "small_pipeline"], ids=["in_window", "sliding"])
def test_cached_equals_no_cache_greedy(
    pipe_name: str, request: pytest.FixtureRequest, candles: pd.DataFrame
) -> None:
    pipe = request.getfixturevalue(pipe_name)
    series = _series(candles, [30, 48, 72])  # 72 > max_context 40 in the sliding pipeline
    cached = _paths(pipe, series, [8, 12, 5], True, samples=2, seed=0, **GREEDY)
    full = _paths(pipe, series, [8, 12, 5], False, samples=2, seed=0, **GREEDY)
    for c, f in zip(cached, full, strict=True):
        np.testing.assert_allclose(c, f, rtol=1e-5, atol=1e-5)
        np.testing.assert_array_equal(c[0], c[1])  # greedy: every path identical


def test_cached_equals_no_cache_sampled_sliding(
    small_pipeline: KronosPipeline, candles: pd.DataFrame
) -> None:
    series = _series(candles, [36, 20])
    kwargs = {"samples": 3, "seed": [11, 12], "temperature": 1.0, "top_p": 0.9}
    cached = _paths(small_pipeline, series, 10, True, **kwargs)
    full = _paths(small_pipeline, series, 10, False, **kwargs)
    for c, f in zip(cached, full, strict=True):
        np.testing.assert_allclose(c, f, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("pipe_name", ["pipeline", "small_pipeline"], ids=["in_window", "sliding"])
def test_mixed_length_batch_equals_per_series(
    pipe_name: str, request: pytest.FixtureRequest, candles: pd.DataFrame
) -> None:
    pipe = request.getfixturevalue(pipe_name)
    series = _series(candles, [20, 35, 48, 72])
    horizons, seeds = [6, 9, 4, 7], [1, 2, 3, 4]
    kwargs = {"samples": 3, "temperature": 1.0, "top_p": 0.9}
    batched = _paths(pipe, series, horizons, True, seed=seeds, **kwargs)
    for s, h, seed, got in zip(series, horizons, seeds, batched, strict=True):
        (alone,) = _paths(pipe, s, h, True, seed=seed, **kwargs)
        assert got.shape == (3, h, 6)
        np.testing.assert_allclose(got, alone, rtol=1e-5, atol=1e-5)


def test_row_groups_split_the_series_evenly() -> None:
    def sizes(n: int, samples: int, max_rows: int) -> list[int]:
        return [len(g) for g in row_groups(list(range(n)), samples, max_rows)]

    assert sizes(8, 30, 128) == [4, 4]
    assert sizes(7, 30, 128) == [4, 3]
    assert sizes(3, 200, 128) == [1, 1, 1]  # a series wider than max_rows runs alone
    assert sizes(10, 1, 128) == [10]
    assert [list(g) for g in row_groups(list(range(5)), 30, 60)] == [[0, 1], [2], [3, 4]]


def test_passes_of_fewer_rows_give_the_same_paths(
    pipeline: KronosPipeline, candles: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    passes = []
    encode = generate.encode_contexts
    monkeypatch.setattr(
        generate,
        "encode_contexts",
        lambda tok, xs, stop: passes.append(len(xs)) or encode(tok, xs, stop),
    )
    series = _series(candles, [20, 35, 48, 72])
    kwargs = {"samples": 3, "seed": [1, 2, 3, 4], "temperature": 1.0, "top_p": 0.9}
    one_pass = _paths(pipeline, series, [6, 9, 4, 7], True, **kwargs)
    pipeline.max_rows = 5  # one series (3 rows) per pass
    per_series = _paths(pipeline, series, [6, 9, 4, 7], True, **kwargs)
    assert passes == [4, 1, 1, 1, 1]
    for a, b in zip(one_pass, per_series, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


def test_identical_series_and_seeds_give_identical_paths(
    pipeline: KronosPipeline, candles: pd.DataFrame
) -> None:
    a, b, c = _paths(
        pipeline, [candles] * 3, 5, True, samples=2, seed=[3, 3, 4], temperature=1.0, top_p=0.9
    )
    np.testing.assert_allclose(a, b, rtol=1e-6)
    assert not np.allclose(a, c)


def test_seed_none_uses_torch_global_rng(pipeline: KronosPipeline, candles: pd.DataFrame) -> None:
    torch.manual_seed(123)
    a = pipeline.predict(candles, 4, samples=2)[0].paths
    torch.manual_seed(123)
    b = pipeline.predict(candles, 4, samples=2)[0].paths
    np.testing.assert_array_equal(a, b)


def test_horizon_equal_to_max_context(
    small_pipeline: KronosPipeline, candles: pd.DataFrame
) -> None:
    series = _series(candles, [30, 45])
    cached = _paths(small_pipeline, series, 40, True, samples=2, seed=0, **GREEDY)
    full = _paths(small_pipeline, series, 40, False, samples=2, seed=0, **GREEDY)
    for c, f in zip(cached, full, strict=True):
        assert c.shape == (2, 40, 6) and np.isfinite(c).all()
        np.testing.assert_allclose(c, f, rtol=1e-5, atol=1e-5)


def test_left_padded_tokenizer_batch_equals_single(tiny_tokenizer) -> None:
    x = torch.randn(1, 12, 6)
    padded = torch.cat([torch.zeros(1, 5, 6), x], dim=1)
    valid = torch.arange(17)[None] >= 5
    with torch.inference_mode():
        s1, s2 = tiny_tokenizer.encode(x, half=True)
        p1, p2 = tiny_tokenizer.encode(padded, half=True, valid=valid)
        assert torch.equal(p1[:, 5:], s1) and torch.equal(p2[:, 5:], s2)
        alone = tiny_tokenizer.decode((s1, s2), half=True)
        batched = tiny_tokenizer.decode((p1, p2), half=True, valid=valid)
    torch.testing.assert_close(batched[:, 5:], alone, atol=1e-5, rtol=0)
