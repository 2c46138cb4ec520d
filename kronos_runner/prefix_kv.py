"""Attention over series-major row batches: the shared-prefix KV cache and left padding.

Row r belongs to series r // S (S sample paths per series): a series' context keys/values are
kept once and shared by its rows, the generated positions per row (see `kronos_runner.generate`).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor


class PrefixKV:
    """Keys/values of one attention layer: a per-series prefix shared by its S rows, plus
    per-row generated positions. ``prefill(b)`` gives the cache for series b's plain causal
    pass, which stores its keys/values left-padded; called as an ``AttentionCache`` afterwards
    it appends the new positions of every row and attends: each query sees every real prefix
    token and the generated positions up to its own."""

    def __init__(self, lengths: list[int], samples: int, max_new: int, device: torch.device):
        """lengths: prefix length per series (N); samples: rows per series."""
        p = max(lengths)
        pad = p - torch.tensor(lengths, device=device)
        self.valid = torch.arange(p, device=device)[None] >= pad[:, None]  # (N, P)
        self.samples, self.max_new = samples, max_new
        self.prefix_k: Tensor | None = None  # (N, H, P, hd)
        self.prefix_v: Tensor | None = None
        self.k: Tensor | None = None  # (N * S, H, max_new, hd)
        self.v: Tensor | None = None
        self.length = 0

    def store(self, b: int, k: Tensor, v: Tensor) -> None:
        """Keep series b's prefix keys/values (1, H, T, hd), right-aligned."""
        if self.prefix_k is None:
            n, p = self.valid.shape
            _, heads, _, hd = k.shape
            self.prefix_k = k.new_zeros((n, heads, p, hd))
            self.prefix_v = v.new_zeros((n, heads, p, hd))
            self.k = k.new_empty((n * self.samples, heads, self.max_new, hd))
            self.v = v.new_empty((n * self.samples, heads, self.max_new, hd))
        t = k.shape[2]
        self.prefix_k[b, :, self.valid.shape[1] - t :] = k[0]
        self.prefix_v[b, :, self.valid.shape[1] - t :] = v[0]

    def prefill(self, b: int) -> Callable[[Tensor, Tensor, Tensor], Tensor]:
        """AttentionCache for series b's causal pass over its prefix (batch of one)."""

        def attend_and_store(q: Tensor, k: Tensor, v: Tensor) -> Tensor:
            self.store(b, k, v)
            return F.scaled_dot_product_attention(q, k, v, is_causal=True)

        return attend_and_store

    def append(self, k: Tensor, v: Tensor) -> None:
        """Append per-row keys/values (R, H, T, hd)."""
        t = k.shape[2]
        self.k[:, :, self.length : self.length + t] = k
        self.v[:, :, self.length : self.length + t] = v
        self.length += t

    def attend(self, q: Tensor) -> Tensor:
        """q (R, H, Tq, hd) of the last Tq appended positions -> (R, H, Tq, hd)."""
        rows, heads, tq, hd = q.shape
        n, p = self.valid.shape
        s, t = self.samples, self.length
        scale = 1.0 / math.sqrt(hd)
        # Prefix scores, one matmul per series for all its rows: (N, H, S*Tq, P).
        q_series = q.reshape(n, s, heads, tq, hd).transpose(1, 2).reshape(n, heads, s * tq, hd)
        scores_p = (q_series @ self.prefix_k.transpose(-1, -2)) * scale
        scores_p = scores_p.masked_fill(~self.valid[:, None, None, :], -math.inf)
        scores_p = scores_p.reshape(n, heads, s, tq, p).transpose(1, 2).reshape(rows, heads, tq, p)
        k, v = self.k[:, :, :t], self.v[:, :, :t]
        scores_g = (q @ k.transpose(-1, -2)) * scale  # (R, H, Tq, t)
        if tq > 1:
            allowed = torch.ones(tq, t, dtype=torch.bool, device=q.device).tril(t - tq)
            scores_g = scores_g.masked_fill(~allowed, -math.inf)
        weights = torch.cat([scores_p, scores_g], dim=-1).float().softmax(dim=-1).to(q.dtype)
        w_p = weights[..., :p].reshape(n, s, heads, tq, p).transpose(1, 2)
        out_p = w_p.reshape(n, heads, s * tq, p) @ self.prefix_v  # (N, H, S*Tq, hd)
        out_p = out_p.reshape(n, heads, s, tq, hd).transpose(1, 2).reshape(rows, heads, tq, hd)
        return out_p + weights[..., p:] @ v

    def __call__(self, q: Tensor, k: Tensor, v: Tensor) -> Tensor:
        self.append(k, v)
        return self.attend(q)


def left_pad(seqs: list[Tensor], fill: float = 0) -> tuple[Tensor, Tensor]:
    """Stack (T_i, ...) tensors left-padded to max T -> (batch (B, T, ...), valid (B, T))."""
    t = max(x.shape[0] for x in seqs)
    out = seqs[0].new_full((len(seqs), t, *seqs[0].shape[1:]), fill)
    valid = torch.zeros(len(seqs), t, dtype=torch.bool, device=seqs[0].device)
    for i, x in enumerate(seqs):
        if x.shape[0]:
            out[i, t - x.shape[0] :] = x
            valid[i, t - x.shape[0] :] = True
    return out, valid
