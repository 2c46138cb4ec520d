"""Kronos predictor: an autoregressive transformer over (coarse, fine) token pairs.

Per step t: e_t = fusion(emb_s1(s1_t), emb_s2(s2_t)) + time(stamp_t); h = norm(blocks(e));
coarse logits = proj_s1(h); fine logits for a coarse token s1* come from the dependency layer
g = norm(h + cross_attn(emb_s1(s1*), h)) and proj_s2(g).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from kronos_runner.hub import HubMixin
from kronos_runner.layers import (
    AttentionCache,
    CrossAttention,
    RMSNorm,
    TransformerBlock,
    init_weights,
    positions_and_mask,
)

DEP_HEADS = 4  # the dependency layer has 4 heads whatever n_heads is


class HierarchicalEmbedding(nn.Module):
    """e = fusion_proj(cat(emb_s1(s1) sqrt(d), emb_s2(s2) sqrt(d)))."""

    def __init__(self, s1_bits: int, s2_bits: int, d_model: int) -> None:
        super().__init__()
        self.d_model = d_model
        self.emb_s1 = nn.Embedding(2**s1_bits, d_model)
        self.emb_s2 = nn.Embedding(2**s2_bits, d_model)
        self.fusion_proj = nn.Linear(2 * d_model, d_model)

    def forward(self, s1_ids: Tensor, s2_ids: Tensor) -> Tensor:
        """(B, T) ids -> (B, T, d)."""
        scale = math.sqrt(self.d_model)
        e = torch.cat([self.emb_s1(s1_ids) * scale, self.emb_s2(s2_ids) * scale], dim=-1)
        return self.fusion_proj(e)


class FixedEmbedding(nn.Module):
    """Sinusoidal table w[p, 2i] = sin(p / 10000^(2i/d)), w[p, 2i+1] = cos(...) (learn_te off)."""

    def __init__(self, size: int, d_model: int) -> None:
        super().__init__()
        position = torch.arange(size).float()[:, None]
        div_term = torch.exp(torch.arange(0, d_model, 2).float() * -(math.log(10000.0) / d_model))
        table = torch.zeros(size, d_model)
        table[:, 0::2] = torch.sin(position * div_term)
        table[:, 1::2] = torch.cos(position * div_term)
        self.emb = nn.Embedding(size, d_model)
        self.emb.weight = nn.Parameter(table, requires_grad=False)

    def forward(self, x: Tensor) -> Tensor:
        return self.emb(x).detach()


class TemporalEmbedding(nn.Module):
    """Sum of minute, hour, weekday, day-of-month and month embeddings."""

    SIZES = (("minute", 60), ("hour", 24), ("weekday", 7), ("day", 32), ("month", 13))

    def __init__(self, d_model: int, learn_te: bool) -> None:
        super().__init__()
        for name, size in self.SIZES:
            table = nn.Embedding(size, d_model) if learn_te else FixedEmbedding(size, d_model)
            setattr(self, f"{name}_embed", table)

    def forward(self, stamp: Tensor) -> Tensor:
        """stamp (B, T, 5) in the order minute, hour, weekday, day, month -> (B, T, d)."""
        x = stamp.long()
        minute, hour, weekday, day, month = (x[..., i] for i in range(5))
        # Summed in the reference's order (hour, weekday, day, month, minute).
        return (
            self.hour_embed(hour)
            + self.weekday_embed(weekday)
            + self.day_embed(day)
            + self.month_embed(month)
            + self.minute_embed(minute)
        )


class DependencyAwareLayer(nn.Module):
    """g = norm(h + cross_attn(query=emb_s1(s1*), keys=values=h))."""

    def __init__(self, d_model: int) -> None:
        super().__init__()
        self.cross_attn = CrossAttention(d_model, DEP_HEADS, 0.0, 0.0)
        self.norm = RMSNorm(d_model)

    def forward(
        self, h: Tensor, sibling: Tensor, mask: Tensor | None = None, causal: bool = False
    ) -> Tensor:
        """h (B, T, d), sibling (B, Tq, d) with Tq in {1, T} -> (B, T, d)."""
        return self.norm(h + self.cross_attn(sibling, h, mask, causal))


class DualHead(nn.Module):
    """proj_s1 (coarse logits) and proj_s2 (fine logits)."""

    def __init__(self, s1_bits: int, s2_bits: int, d_model: int) -> None:
        super().__init__()
        self.proj_s1 = nn.Linear(d_model, 2**s1_bits)
        self.proj_s2 = nn.Linear(d_model, 2**s2_bits)


class Kronos(nn.Module, HubMixin):
    """Kronos predictor; keyword names are the official config.json keys."""

    def __init__(
        self,
        s1_bits: int,
        s2_bits: int,
        n_layers: int,
        d_model: int,
        n_heads: int,
        ff_dim: int,
        ffn_dropout_p: float,
        attn_dropout_p: float,
        resid_dropout_p: float,
        token_dropout_p: float,
        learn_te: bool,
    ) -> None:
        super().__init__()
        self.config = {
            "s1_bits": s1_bits,
            "s2_bits": s2_bits,
            "n_layers": n_layers,
            "d_model": d_model,
            "n_heads": n_heads,
            "ff_dim": ff_dim,
            "ffn_dropout_p": ffn_dropout_p,
            "attn_dropout_p": attn_dropout_p,
            "resid_dropout_p": resid_dropout_p,
            "token_dropout_p": token_dropout_p,
            "learn_te": learn_te,
        }
        self.s1_bits, self.s2_bits, self.d_model = s1_bits, s2_bits, d_model
        self.embedding = HierarchicalEmbedding(s1_bits, s2_bits, d_model)
        self.time_emb = TemporalEmbedding(d_model, learn_te)
        self.token_drop = nn.Dropout(token_dropout_p)
        self.transformer = nn.ModuleList(
            TransformerBlock(
                d_model, n_heads, ff_dim, ffn_dropout_p, attn_dropout_p, resid_dropout_p
            )
            for _ in range(n_layers)
        )
        self.norm = RMSNorm(d_model)
        self.dep_layer = DependencyAwareLayer(d_model)
        self.head = DualHead(s1_bits, s2_bits, d_model)
        self.apply(init_weights)

    def hidden(
        self,
        s1_ids: Tensor,
        s2_ids: Tensor,
        stamp: Tensor | None,
        positions: Tensor,
        mask: Tensor | None = None,
        caches: list[AttentionCache] | None = None,
    ) -> Tensor:
        """Normed hidden states h (B, T, d) of the token pairs at the given positions."""
        x = self.embedding(s1_ids, s2_ids)
        if stamp is not None:
            x = x + self.time_emb(stamp)
        x = self.token_drop(x)
        for i, block in enumerate(self.transformer):
            x = block(x, positions, mask, caches[i] if caches is not None else None)
        return self.norm(x)

    def decode_s1(
        self,
        s1_ids: Tensor,
        s2_ids: Tensor,
        stamp: Tensor | None = None,
        valid: Tensor | None = None,
    ) -> tuple[Tensor, Tensor]:
        """(B, T) ids and stamps (B, T, 5) -> (coarse logits (B, T, V1), context h (B, T, d)).

        ``valid`` (B, T) marks real tokens of a left-padded batch (None: no padding).
        """
        positions, mask = positions_and_mask(s1_ids, valid)
        h = self.hidden(s1_ids, s2_ids, stamp, positions, mask)
        return self.head.proj_s1(h), h

    def decode_s2(self, context: Tensor, s1_ids: Tensor, valid: Tensor | None = None) -> Tensor:
        """Fine logits (B, T, V2) given context h (B, T, d) and coarse ids (B, 1) or (B, T).

        Eval semantics of the reference: the dependency cross-attention is not causal; a
        single query token attends over the whole context without positions.
        """
        mask = None
        if valid is not None:
            mask = valid[:, None, None, :].expand(-1, 1, s1_ids.shape[1], -1)
        g = self.dep_layer(context, self.embedding.emb_s1(s1_ids), mask, causal=False)
        return self.head.proj_s2(g)

    def forward(
        self,
        s1_ids: Tensor,
        s2_ids: Tensor,
        stamp: Tensor | None = None,
        s1_targets: Tensor | None = None,
    ) -> tuple[Tensor, Tensor]:
        """Training forward (train-mode, causal semantics) -> (s1 logits, s2 logits), (B, T, V).

        The fine head is conditioned on ``s1_targets`` (teacher forcing) or, when None, on
        coarse ids sampled from the detached coarse logits (the reference script's default).
        """
        s1_logits, h = self.decode_s1(s1_ids, s2_ids, stamp)
        if s1_targets is None:
            probs = F.softmax(s1_logits.detach().float(), dim=-1)
            s1_targets = torch.multinomial(probs.flatten(0, 1), 1).view(s1_ids.shape)
        g = self.dep_layer(h, self.embedding.emb_s1(s1_targets), causal=True)
        return s1_logits, self.head.proj_s2(g)

    @staticmethod
    def loss(
        s1_logits: Tensor,
        s2_logits: Tensor,
        s1_targets: Tensor,
        s2_targets: Tensor,
        valid: Tensor | None = None,
    ) -> tuple[Tensor, Tensor, Tensor]:
        """(CE(coarse) + CE(fine)) / 2 over valid positions -> (loss, ce_s1, ce_s2)."""
        if valid is not None:
            s1_logits, s2_logits = s1_logits[valid], s2_logits[valid]
            s1_targets, s2_targets = s1_targets[valid], s2_targets[valid]
        ce_s1 = F.cross_entropy(s1_logits.reshape(-1, s1_logits.shape[-1]), s1_targets.reshape(-1))
        ce_s2 = F.cross_entropy(s2_logits.reshape(-1, s2_logits.shape[-1]), s2_targets.reshape(-1))
        return (ce_s1 + ce_s2) / 2, ce_s1, ce_s2
