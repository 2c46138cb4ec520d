"""Transformer building blocks shared by the Kronos tokenizer and predictor.

Shapes: B batch, T sequence, d model width, H heads, hd = d / H head width.
Attention layers accept an optional ``cache`` callable (see ``kronos_runner.generate``) that
stores the new keys/values and attends over everything cached; without one they run plain
scaled dot-product attention over the given sequence.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn


class AttentionCache(Protocol):
    """Stores new keys/values of one attention layer and attends over all cached positions."""

    def __call__(self, q: Tensor, k: Tensor, v: Tensor) -> Tensor:
        """q, k, v: (B, H, T, hd), already rotated -> attention output (B, H, T, hd)."""
        ...


class Fused(Protocol):
    """Linears sharing one input as one matmul (``kronos_runner.packing.PackedLinear``)."""

    def fast(self, x: Tensor) -> bool:
        """Whether the fused path applies to this input (inference on its device/dtype)."""
        ...

    def split(self, x: Tensor) -> tuple[Tensor, ...]:
        """x (..., in) -> one output per fused Linear."""
        ...


FuseFactory = Callable[[list[nn.Linear]], Fused]


class RMSNorm(nn.Module):
    """Root-mean-square norm computed in float32: x * rsqrt(mean(x^2) + eps) * weight."""

    def __init__(self, dim: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: Tensor) -> Tensor:
        xf = x.float()
        normed = xf * torch.rsqrt(torch.mean(xf * xf, dim=-1, keepdim=True) + self.eps)
        return normed.type_as(x) * self.weight


class FeedForward(nn.Module):
    """SwiGLU feed-forward: w2(silu(w1 x) * w3 x), no biases."""

    def __init__(self, d_model: int, ff_dim: int, ffn_dropout_p: float = 0.0) -> None:
        super().__init__()
        self.w1 = nn.Linear(d_model, ff_dim, bias=False)
        self.w3 = nn.Linear(d_model, ff_dim, bias=False)
        self.w2 = nn.Linear(ff_dim, d_model, bias=False)
        self.ffn_dropout = nn.Dropout(ffn_dropout_p)
        self.w13: Fused | None = None  # w1 and w3 as one matmul, once packed

    def fuse_projections(self, fuse: FuseFactory) -> list[nn.Linear]:
        """Fuse w1 and w3 (same input) -> the Linears fused."""
        self.w13 = fuse([self.w1, self.w3])
        return [self.w1, self.w3]

    def forward(self, x: Tensor) -> Tensor:
        if self.w13 is not None and self.w13.fast(x):
            gate, up = self.w13.split(x)
        else:
            gate, up = self.w1(x), self.w3(x)
        return self.ffn_dropout(self.w2(F.silu(gate) * up))


class RotaryEmbedding(nn.Module):
    """Rotary position embedding with the saved buffer inv_freq = 1 / 10000^(2i / hd)."""

    def __init__(self, head_dim: int) -> None:
        super().__init__()
        inv_freq = 1.0 / (10000 ** (torch.arange(0, head_dim, 2).float() / head_dim))
        self.register_buffer("inv_freq", inv_freq)

    def forward(self, positions: Tensor) -> tuple[Tensor, Tensor]:
        """positions (T,) or (B, T) -> cos, sin of shape (1 or B, 1, T, hd), float32."""
        angles = positions.float()[..., None] * self.inv_freq.float()  # (..., T, hd/2)
        emb = torch.cat((angles, angles), dim=-1)
        if emb.dim() == 2:
            emb = emb[None]
        return emb.cos()[:, None], emb.sin()[:, None]


def rotate_half(x: Tensor) -> Tensor:
    """[a, b] -> [-b, a] over the halves of the last dim."""
    a, b = x.chunk(2, dim=-1)
    return torch.cat((-b, a), dim=-1)


def apply_rotary(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    """Rotate x (B, H, T, hd) by the angles whose cos/sin are given."""
    return x * cos.to(x.dtype) + rotate_half(x) * sin.to(x.dtype)


class _Attention(nn.Module):
    """Projections shared by self- and cross-attention (q, k, v, out; all with bias)."""

    def __init__(
        self, d_model: int, n_heads: int, attn_dropout_p: float, resid_dropout_p: float
    ) -> None:
        super().__init__()
        self.n_heads = n_heads
        self.head_dim = d_model // n_heads
        self.q_proj = nn.Linear(d_model, d_model)
        self.k_proj = nn.Linear(d_model, d_model)
        self.v_proj = nn.Linear(d_model, d_model)
        self.out_proj = nn.Linear(d_model, d_model)
        self.rotary = RotaryEmbedding(self.head_dim)
        self.attn_dropout_p = attn_dropout_p
        self.resid_dropout = nn.Dropout(resid_dropout_p)
        self.fused: Fused | None = None  # q/k/v (self) or k/v (cross) as one matmul

    def split_heads(self, x: Tensor) -> Tensor:
        """(B, T, d) -> (B, H, T, hd)."""
        return rearrange(x, "b t (h e) -> b h t e", h=self.n_heads)

    def merge_heads(self, x: Tensor) -> Tensor:
        """(B, H, T, hd) -> out_proj((B, T, d)) with residual dropout."""
        return self.resid_dropout(self.out_proj(rearrange(x, "b h t e -> b t (h e)")))

    def attend(self, q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None, causal: bool) -> Tensor:
        """Scaled dot-product attention; mask is boolean (True = may attend)."""
        dropout_p = self.attn_dropout_p if self.training else 0.0
        return F.scaled_dot_product_attention(
            q, k, v, attn_mask=mask, dropout_p=dropout_p, is_causal=causal and mask is None
        )


class SelfAttention(_Attention):
    """Causal multi-head self-attention with rotary positions."""

    def fuse_projections(self, fuse: FuseFactory) -> list[nn.Linear]:
        """Fuse q, k and v (same input) -> the Linears fused."""
        self.fused = fuse([self.q_proj, self.k_proj, self.v_proj])
        return [self.q_proj, self.k_proj, self.v_proj]

    def project_qkv(self, x: Tensor) -> tuple[Tensor, ...]:
        """x (B, T, d) -> q, k, v each (B, T, d)."""
        if self.fused is not None and self.fused.fast(x):
            return self.fused.split(x)
        return self.q_proj(x), self.k_proj(x), self.v_proj(x)

    def forward(
        self,
        x: Tensor,
        positions: Tensor,
        mask: Tensor | None = None,
        cache: AttentionCache | None = None,
    ) -> Tensor:
        """x (B, T, d); positions (T,) or (B, T); mask (B, 1, T, T) already causal."""
        cos, sin = self.rotary(positions)
        q, k, v = (self.split_heads(y) for y in self.project_qkv(x))
        q, k = apply_rotary(q, cos, sin), apply_rotary(k, cos, sin)
        out = cache(q, k, v) if cache is not None else self.attend(q, k, v, mask, causal=True)
        return self.merge_heads(out)


class CrossAttention(_Attention):
    """The dependency layer's attention: queries from one sequence, keys/values from another.

    Rotary angles are those of positions 0..Tq-1 applied to both q and k, as the reference
    does: a single query token gets angle 0 (no rotation at all); otherwise Tq must equal Tk.
    """

    def fuse_projections(self, fuse: FuseFactory) -> list[nn.Linear]:
        """Fuse k and v (both read the memory) -> the Linears fused."""
        self.fused = fuse([self.k_proj, self.v_proj])
        return [self.k_proj, self.v_proj]

    def project_kv(self, memory: Tensor) -> tuple[Tensor, ...]:
        """memory (B, Tk, d) -> k, v each (B, Tk, d)."""
        if self.fused is not None and self.fused.fast(memory):
            return self.fused.split(memory)
        return self.k_proj(memory), self.v_proj(memory)

    def forward(
        self, query: Tensor, memory: Tensor, mask: Tensor | None = None, causal: bool = False
    ) -> Tensor:
        """query (B, Tq, d), memory (B, Tk, d); mask (B, 1, Tq, Tk) boolean."""
        q = self.split_heads(self.q_proj(query))
        k, v = (self.split_heads(y) for y in self.project_kv(memory))
        if q.shape[2] > 1:
            if q.shape[2] != k.shape[2]:
                raise ValueError("cross-attention with several queries needs Tq == Tk")
            cos, sin = self.rotary(torch.arange(q.shape[2], device=q.device))
            q, k = apply_rotary(q, cos, sin), apply_rotary(k, cos, sin)
        return self.merge_heads(self.attend(q, k, v, mask, causal=causal))


class TransformerBlock(nn.Module):
    """Pre-norm block: x + attn(norm1(x)), then + ffn(norm2(x))."""

    def __init__(
        self,
        d_model: int,
        n_heads: int,
        ff_dim: int,
        ffn_dropout_p: float = 0.0,
        attn_dropout_p: float = 0.0,
        resid_dropout_p: float = 0.0,
    ) -> None:
        super().__init__()
        self.norm1 = RMSNorm(d_model)
        self.self_attn = SelfAttention(d_model, n_heads, attn_dropout_p, resid_dropout_p)
        self.norm2 = RMSNorm(d_model)
        self.ffn = FeedForward(d_model, ff_dim, ffn_dropout_p)

    def forward(
        self,
        x: Tensor,
        positions: Tensor,
        mask: Tensor | None = None,
        cache: AttentionCache | None = None,
    ) -> Tensor:
        x = x + self.self_attn(self.norm1(x), positions, mask, cache)
        return x + self.ffn(self.norm2(x))


def left_padding(valid: Tensor) -> tuple[Tensor, Tensor]:
    """valid (B, T) bool, True on real tokens (left padded) -> (positions (B, T), causal mask).

    Positions restart at 0 at each row's first real token; the mask (B, 1, T, T) lets a real
    query see real keys at or before it, and a padding query see only itself (never NaN).
    """
    t = valid.shape[1]
    pad = (~valid).sum(dim=1, keepdim=True)  # (B, 1)
    positions = (torch.arange(t, device=valid.device)[None] - pad).clamp_min(0)
    causal = torch.ones(t, t, dtype=torch.bool, device=valid.device).tril()
    eye = torch.eye(t, dtype=torch.bool, device=valid.device)
    mask = (causal[None] & valid[:, None, :]) | eye[None]
    return positions, mask[:, None]


def positions_and_mask(x: Tensor, valid: Tensor | None) -> tuple[Tensor, Tensor | None]:
    """Positions 0..T-1 and no mask (plain causal), or the left-padding variants."""
    if valid is None:
        return torch.arange(x.shape[1], device=x.device), None
    return left_padding(valid)


def init_weights(module: nn.Module) -> None:
    """Initialisation for freshly built (untrained) modules; fixed tables are left alone."""
    if isinstance(module, nn.Linear):
        nn.init.normal_(module.weight, std=0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.Embedding) and module.weight.requires_grad:
        nn.init.normal_(module.weight, std=module.embedding_dim**-0.5)
