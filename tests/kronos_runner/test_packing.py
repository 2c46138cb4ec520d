"""Load-time packing: fused, pre-packed Linear weights keep the reference outputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from kronos_runner.model import Kronos
from kronos_runner.packing import PackedLinear, pack_for_inference
from kronos_runner.tokenizer import KronosTokenizer

ATOL = 1e-5


@pytest.fixture()
def packed(fixtures_dir: Path) -> tuple[Kronos, KronosTokenizer]:
    model = Kronos.from_pretrained(fixtures_dir / "tiny-model").eval()
    tok = KronosTokenizer.from_pretrained(fixtures_dir / "tiny-tokenizer").eval()
    assert pack_for_inference(model) > 0 and pack_for_inference(tok) > 0
    return model, tok


def test_packed_modules_match_the_reference(packed, fixtures_dir: Path) -> None:
    model, tok = packed
    ref = load_file(str(fixtures_dir / "tensors.safetensors"))
    assert isinstance(model.transformer[0].self_attn.fused, PackedLinear)
    assert isinstance(model.transformer[0].ffn.w13, PackedLinear)
    with torch.inference_mode():
        s1, s2 = tok.encode(ref["x"], half=True)
        logits, context = model.decode_s1(ref["enc_s1"], ref["enc_s2"], ref["stamp"])
        fine = model.decode_s2(ref["context"], ref["enc_s1"])
        dec = tok.decode((ref["enc_s1"], ref["enc_s2"]), half=True)
    assert torch.equal(s1, ref["enc_s1"]) and torch.equal(s2, ref["enc_s2"])
    torch.testing.assert_close(logits, ref["s1_logits"], atol=ATOL, rtol=0)
    torch.testing.assert_close(context, ref["context"], atol=ATOL, rtol=0)
    torch.testing.assert_close(fine, ref["s2_logits_tf"], atol=ATOL, rtol=0)
    torch.testing.assert_close(dec, ref["dec_half"], atol=ATOL, rtol=0)


def test_packed_module_still_trains_through_its_parameters(packed, fixtures_dir: Path) -> None:
    model, _ = packed
    ref = load_file(str(fixtures_dir / "tensors.safetensors"))
    model.train()
    s1_logits, s2_logits = model(ref["enc_s1"], ref["enc_s2"], ref["stamp"], ref["enc_s1"])
    (s1_logits.sum() + s2_logits.sum()).backward()
    attn = model.transformer[0].self_attn
    assert attn.q_proj.weight.grad.abs().sum() > 0
    assert model.transformer[0].ffn.w1.weight.grad.abs().sum() > 0
    assert set(model.state_dict()) == set(
        Kronos.from_pretrained(fixtures_dir / "tiny-model").state_dict()
    )


def test_bf16_on_cpu_follows_the_cpu_flags(monkeypatch, fixtures_dir: Path, candles) -> None:
    from kronos_runner import pipeline
    from kronos_runner.pipeline import KronosPipeline

    def load() -> KronosPipeline:
        return KronosPipeline.from_pretrained(
            fixtures_dir / "tiny-model", fixtures_dir / "tiny-tokenizer", "cpu", dtype="bfloat16"
        )

    monkeypatch.setattr(pipeline, "cpu_has_bf16", lambda: False)
    with pytest.raises(ValueError, match="AVX512-BF16 or AMX-BF16"):
        load()
    monkeypatch.setattr(pipeline, "cpu_has_bf16", lambda: True)
    pipe = load()
    assert pipe.model.norm.weight.dtype == torch.bfloat16
    (forecast,) = pipe.predict(candles, 4, samples=2, seed=0)
    assert forecast.paths.dtype == np.float32 and np.isfinite(forecast.paths).all()


def test_released_weights_serve_the_same_and_refuse_autograd(fixtures_dir: Path) -> None:
    ref = load_file(str(fixtures_dir / "tensors.safetensors"))
    kept = Kronos.from_pretrained(fixtures_dir / "tiny-model").eval()
    served = Kronos.from_pretrained(fixtures_dir / "tiny-model").eval()
    pack_for_inference(kept)
    pack_for_inference(served, release=True)
    attn = served.transformer[0].self_attn
    assert attn.q_proj.weight.is_meta and served.head.proj_s1.weight.is_meta
    assert not served.norm.weight.is_meta  # only Linear weights (held packed) are released
    held = sum(p.numel() for p in served.parameters() if not p.is_meta)
    assert held < sum(p.numel() for p in kept.parameters()) / 2
    args = (ref["enc_s1"], ref["enc_s2"], ref["stamp"])
    with torch.inference_mode():
        assert torch.equal(served.decode_s1(*args)[0], kept.decode_s1(*args)[0])
    with pytest.raises(RuntimeError, match="packed for serving"):
        served.decode_s1(*args)
