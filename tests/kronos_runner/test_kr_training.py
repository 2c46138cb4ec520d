"""Training forwards: tokenizer reconstruction + BSQ loss, predictor teacher forcing (causal)."""

from __future__ import annotations

import math

import torch

from kronos_runner.model import Kronos
from kronos_runner.tokenizer import BinarySphericalQuantizer, KronosTokenizer


def test_bsq_loss_matches_formula() -> None:
    torch.manual_seed(0)
    k = 8
    bsq = BinarySphericalQuantizer(k, beta=0.05, gamma0=1.0, gamma=1.1, zeta=0.05, group_size=4)
    z = torch.nn.functional.normalize(torch.randn(3, 5, k), dim=-1)
    zq, loss = bsq(z)
    codes = torch.where(z > 0, 1.0, -1.0) / math.sqrt(k)
    torch.testing.assert_close(zq, codes)
    commit = 0.05 * ((codes - z) ** 2).sum(-1).mean()
    p = torch.sigmoid(-4 * z / math.sqrt(k))

    def h(q: torch.Tensor) -> torch.Tensor:
        return -(q * torch.log(q + 1e-8) + (1 - q) * torch.log(1 - q + 1e-8))

    persample = h(p).sum(-1).mean()
    codebook = h(p.reshape(-1, k).mean(0)).sum()
    torch.testing.assert_close(loss, commit + 0.05 * (1.0 * persample - 1.1 * codebook))


def test_tokenizer_training_forward_and_gradients(tiny_tokenizer: KronosTokenizer) -> None:
    tok = KronosTokenizer(**tiny_tokenizer.config).train()
    x = torch.randn(2, 12, 6)
    out = tok(x)
    assert out.recon_coarse.shape == out.recon_full.shape == x.shape
    assert out.quantized.shape == (2, 12, 8) and out.ids.shape == (2, 12)
    torch.testing.assert_close(out.ids, tok.encode(x))
    loss, parts = tok.training_loss(x)
    assert set(parts) == {"mse_coarse", "mse_full", "bsq_loss"} and torch.isfinite(loss)
    loss.backward()
    # Straight-through estimator: the encoder gets gradients through the quantiser.
    assert tok.encoder[0].ffn.w1.weight.grad.abs().sum() > 0
    assert tok.post_quant_embed_pre.weight.grad.abs().sum() > 0


def test_predictor_teacher_forcing_is_causal(tiny_model: Kronos) -> None:
    model = tiny_model
    s1 = torch.randint(0, 16, (2, 10))
    s2 = torch.randint(0, 16, (2, 10))
    stamp = torch.zeros(2, 10, 5)
    targets = torch.randint(0, 16, (2, 10))
    a1, a2 = model(s1, s2, stamp, s1_targets=targets)
    s1b, s2b, tb = s1.clone(), s2.clone(), targets.clone()
    s1b[:, 6:], s2b[:, 6:], tb[:, 6:] = 0, 0, 0
    b1, b2 = model(s1b, s2b, stamp, s1_targets=tb)
    assert a1.shape == (2, 10, 16) and a2.shape == (2, 10, 16)
    torch.testing.assert_close(a1[:, :6], b1[:, :6])
    torch.testing.assert_close(a2[:, :6], b2[:, :6])
    assert not torch.allclose(a2[:, 6:], b2[:, 6:])


def test_predictor_loss_and_sampled_conditioning(tiny_model: Kronos) -> None:
    model = Kronos(**tiny_model.config).train()
    s1 = torch.randint(0, 16, (2, 8))
    s2 = torch.randint(0, 16, (2, 8))
    l1, l2 = model(s1[:, :-1], s2[:, :-1], torch.zeros(2, 7, 5))  # fine head on sampled s1
    loss, ce1, ce2 = Kronos.loss(l1, l2, s1[:, 1:], s2[:, 1:])
    torch.testing.assert_close(loss, (ce1 + ce2) / 2)
    loss.backward()
    assert model.dep_layer.cross_attn.q_proj.weight.grad.abs().sum() > 0
    valid = torch.ones(2, 7, dtype=torch.bool)
    valid[:, :3] = False
    masked, _, _ = Kronos.loss(l1.detach(), l2.detach(), s1[:, 1:], s2[:, 1:], valid)
    assert torch.isfinite(masked)


def test_fixed_time_embeddings_when_learn_te_is_false(tiny_model: Kronos) -> None:
    model = Kronos(**{**tiny_model.config, "learn_te": False})
    keys = [k for k in model.state_dict() if k.startswith("time_emb.")]
    assert "time_emb.hour_embed.emb.weight" in keys and len(keys) == 5
    table = model.time_emb.hour_embed.emb.weight
    d = table.shape[1]
    p, i = 5, 3
    angle = torch.tensor(p / 10000 ** (2 * i / d))
    torch.testing.assert_close(table[p, 2 * i], torch.sin(angle))
    torch.testing.assert_close(table[p, 2 * i + 1], torch.cos(angle))
    assert not table.requires_grad
