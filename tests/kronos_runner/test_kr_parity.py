"""Parity with the reference implementation's outputs (tests/fixtures/kronos_reference)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from safetensors.torch import load_file

from kronos_runner.model import Kronos
from kronos_runner.pipeline import KronosPipeline
from kronos_runner.tokenizer import KronosTokenizer

ATOL = 1e-5


@pytest.fixture(scope="module")
def ref(fixtures_dir: Path) -> dict[str, torch.Tensor]:
    return load_file(str(fixtures_dir / "tensors.safetensors"))


def test_encode_half_ids_identical(tiny_tokenizer: KronosTokenizer, ref: dict) -> None:
    with torch.inference_mode():
        s1, s2 = tiny_tokenizer.encode(ref["x"], half=True)
    assert torch.equal(s1, ref["enc_s1"])
    assert torch.equal(s2, ref["enc_s2"])


def test_encode_full_ids_identical(tiny_tokenizer: KronosTokenizer, ref: dict) -> None:
    with torch.inference_mode():
        full = tiny_tokenizer.encode(ref["x"], half=False)
    assert torch.equal(full, ref["enc_full"])
    # full id = s1 + 2^s1_bits * s2
    assert torch.equal(full, ref["enc_s1"] + 2**tiny_tokenizer.s1_bits * ref["enc_s2"])


def test_decode_half_and_full(tiny_tokenizer: KronosTokenizer, ref: dict) -> None:
    with torch.inference_mode():
        half = tiny_tokenizer.decode((ref["enc_s1"], ref["enc_s2"]), half=True)
        full = tiny_tokenizer.decode(ref["enc_full"], half=False)
    torch.testing.assert_close(half, ref["dec_half"], atol=ATOL, rtol=0)
    torch.testing.assert_close(full, ref["dec_full"], atol=ATOL, rtol=0)


def test_decode_s1_logits_and_context(tiny_model: Kronos, ref: dict) -> None:
    with torch.inference_mode():
        logits, context = tiny_model.decode_s1(ref["enc_s1"], ref["enc_s2"], ref["stamp"])
    torch.testing.assert_close(logits, ref["s1_logits"], atol=ATOL, rtol=0)
    torch.testing.assert_close(context, ref["context"], atol=ATOL, rtol=0)


def test_decode_s2_single_query_and_teacher_forced(tiny_model: Kronos, ref: dict) -> None:
    with torch.inference_mode():
        last = tiny_model.decode_s2(ref["context"], ref["s2_query_s1"])[:, -1, :]
        forced = tiny_model.decode_s2(ref["context"], ref["enc_s1"])
    torch.testing.assert_close(last, ref["s2_logits_last"], atol=ATOL, rtol=0)
    torch.testing.assert_close(forced, ref["s2_logits_tf"], atol=ATOL, rtol=0)


def _cases(fixtures_dir: Path) -> list[dict]:
    return json.loads((fixtures_dir / "greedy_forecasts.json").read_text())["cases"]


CASE_NAMES = ["in_window", "sliding_window", "no_amount", "prices_only"]


@pytest.mark.parametrize("use_cache", [True, False], ids=["cached", "no_cache"])
@pytest.mark.parametrize("name", CASE_NAMES)
def test_greedy_forecasts_match_reference(
    name: str,
    use_cache: bool,
    fixtures_dir: Path,
    tiny_model: Kronos,
    tiny_tokenizer: KronosTokenizer,
    candles: pd.DataFrame,
) -> None:
    case = next(c for c in _cases(fixtures_dir) if c["name"] == name)
    assert case["clip"] == 5
    pipe = KronosPipeline.from_pretrained(
        tiny_model, tiny_tokenizer, device="cpu", max_context=case["max_context"], unit_scale=False
    )
    frame = candles.iloc[: case["lookback"]][["timestamp", *case["columns"]]]
    (forecast,) = pipe.predict(
        frame, case["pred_len"], temperature=1.0, top_k=1, top_p=1.0, seed=0, use_cache=use_cache
    )
    expected = pd.DataFrame(case["expected"])
    got = forecast.mean[list(expected.columns)].to_numpy(dtype=np.float64)
    want = expected.to_numpy(dtype=np.float64)
    err = np.abs(got - want)
    ok = (err <= 1e-4 * np.abs(want)) | (err <= 1e-6)
    assert ok.all(), f"{name}: max abs err {err.max()} at {np.argwhere(~ok)[:3].tolist()}"
    assert forecast.paths.shape == (1, case["pred_len"], 6)
