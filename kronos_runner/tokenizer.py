"""KronosTokenizer: a causal transformer auto-encoder with a binary spherical quantiser (BSQ).

A candle x (6 features) becomes K = s1_bits + s2_bits sign bits of the L2-normalised latent;
the first s1_bits form the coarse token s1, the last s2_bits the fine token s2 (each least
significant bit first).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from kronos_runner.hub import HubMixin
from kronos_runner.layers import (
    AttentionCache,
    TransformerBlock,
    init_weights,
    positions_and_mask,
)

TokenIds = Tensor | tuple[Tensor, Tensor] | list[Tensor]


class BinarySphericalQuantizer(nn.Module):
    """Sign quantiser on the unit sphere with the BSQ commitment and entropy losses.

    Buffers ``basis`` = 2^(K-1..0) and ``group_basis`` = 2^(group_size-1..0) are saved (int64)
    for checkpoint compatibility; token ids are formed LSB-first elsewhere, not from them.
    """

    def __init__(
        self, embed_dim: int, beta: float, gamma0: float, gamma: float, zeta: float, group_size: int
    ) -> None:
        super().__init__()
        if embed_dim % group_size != 0:
            raise ValueError(f"embed_dim {embed_dim} is not divisible by group_size {group_size}")
        self.embed_dim = embed_dim
        self.beta, self.gamma0, self.gamma, self.zeta = beta, gamma0, gamma, zeta
        self.group_size = group_size
        self.register_buffer("basis", 2 ** torch.arange(embed_dim - 1, -1, -1))
        self.register_buffer("group_basis", 2 ** torch.arange(group_size - 1, -1, -1))

    def forward(self, z: Tensor) -> tuple[Tensor, Tensor]:
        """z (..., K), unit norm -> (codes c / sqrt(K) with a straight-through gradient, loss)."""
        scale = 1.0 / math.sqrt(self.embed_dim)
        codes = torch.where(z > 0, 1.0, -1.0).to(z.dtype)
        zq = (z + (codes - z).detach()) * scale
        commit = self.beta * torch.mean(((zq.detach() - z) ** 2).sum(dim=-1))
        persample, codebook = self.soft_entropies(z)
        penalty = self.gamma0 * persample - self.gamma * codebook
        return zq, commit + self.zeta * penalty

    def soft_entropies(self, z: Tensor) -> tuple[Tensor, Tensor]:
        """Soft per-sample and codebook entropies (inverse temperature 1).

        As the reference computes them: each bit's probability p = sigmoid(-4 z / sqrt(K));
        per-sample entropy = mean over positions of the summed bit entropies; codebook entropy
        = summed entropy of the bit probabilities averaged over all positions. (The reference's
        group-of-``group_size`` softmax is overwritten before use, so it does not enter.)
        """
        p = torch.sigmoid(-4 * z / math.sqrt(self.embed_dim))
        prob = torch.stack([p, 1 - p], dim=-1)  # (..., K, 2)
        persample = _entropy(prob).sum(dim=-1).mean()
        avg_prob = prob.reshape(-1, self.embed_dim, 2).mean(dim=0)  # (K, 2)
        return persample, _entropy(avg_prob).sum()


def _entropy(prob: Tensor) -> Tensor:
    """-sum p log(p + 1e-8) over the last dim."""
    return -(prob * torch.log(prob + 1e-8)).sum(dim=-1)


class BSQuantizer(nn.Module):
    """Normalises the latent, quantises it and forms LSB-first token ids."""

    def __init__(
        self,
        s1_bits: int,
        s2_bits: int,
        beta: float,
        gamma0: float,
        gamma: float,
        zeta: float,
        group_size: int,
    ) -> None:
        super().__init__()
        self.s1_bits, self.s2_bits = s1_bits, s2_bits
        self.bsq = BinarySphericalQuantizer(
            s1_bits + s2_bits, beta, gamma0, gamma, zeta, group_size
        )

    def forward(self, z: Tensor, half: bool = False) -> tuple[Tensor, Tensor, TokenIds]:
        """z (B, T, K) -> (bsq loss, quantised codes (B, T, K), ids (half: (s1, s2)))."""
        zq, loss = self.bsq(F.normalize(z, dim=-1))
        if half:
            ids = (bits_to_ids(zq[..., : self.s1_bits]), bits_to_ids(zq[..., self.s1_bits :]))
        else:
            ids = bits_to_ids(zq)
        return loss, zq, ids


def bits_to_ids(codes: Tensor) -> Tensor:
    """Codes (..., n) of sign +-c -> int64 ids sum_k [code_k >= 0] 2^k (LSB first)."""
    weights = 2 ** torch.arange(codes.shape[-1], device=codes.device)
    return ((codes >= 0).long() * weights).sum(dim=-1)


def ids_to_bits(ids: Tensor, n_bits: int) -> Tensor:
    """int64 ids (...) -> bits (..., n_bits) as bool, LSB first."""
    weights = 2 ** torch.arange(n_bits, device=ids.device)
    return (ids.unsqueeze(-1) & weights) != 0


class TokenizerOutput(NamedTuple):
    """Training forward of the tokenizer."""

    recon_coarse: Tensor  # (B, T, d_in) decoded from the s1 bits alone
    recon_full: Tensor  # (B, T, d_in) decoded from all K bits
    bsq_loss: Tensor  # scalar
    quantized: Tensor  # (B, T, K) codes / sqrt(K)
    ids: Tensor  # (B, T) full ids


class KronosTokenizer(nn.Module, HubMixin):
    """Kronos candle tokenizer; keyword names are the official config.json keys."""

    def __init__(
        self,
        d_in: int,
        d_model: int,
        n_heads: int,
        ff_dim: int,
        n_enc_layers: int,
        n_dec_layers: int,
        ffn_dropout_p: float,
        attn_dropout_p: float,
        resid_dropout_p: float,
        s1_bits: int,
        s2_bits: int,
        beta: float,
        gamma0: float,
        gamma: float,
        zeta: float,
        group_size: int,
    ) -> None:
        super().__init__()
        self.config = {
            "d_in": d_in,
            "d_model": d_model,
            "n_heads": n_heads,
            "ff_dim": ff_dim,
            "n_enc_layers": n_enc_layers,
            "n_dec_layers": n_dec_layers,
            "ffn_dropout_p": ffn_dropout_p,
            "attn_dropout_p": attn_dropout_p,
            "resid_dropout_p": resid_dropout_p,
            "s1_bits": s1_bits,
            "s2_bits": s2_bits,
            "beta": beta,
            "gamma0": gamma0,
            "gamma": gamma,
            "zeta": zeta,
            "group_size": group_size,
        }
        self.s1_bits, self.s2_bits = s1_bits, s2_bits
        self.codebook_dim = s1_bits + s2_bits
        dropouts = (ffn_dropout_p, attn_dropout_p, resid_dropout_p)

        def blocks(n: int) -> nn.ModuleList:
            # The reference builds n - 1 blocks for a configured n.
            return nn.ModuleList(
                TransformerBlock(d_model, n_heads, ff_dim, *dropouts) for _ in range(n - 1)
            )

        self.embed = nn.Linear(d_in, d_model)
        self.head = nn.Linear(d_model, d_in)
        self.encoder = blocks(n_enc_layers)
        self.decoder = blocks(n_dec_layers)
        self.quant_embed = nn.Linear(d_model, self.codebook_dim)
        self.post_quant_embed_pre = nn.Linear(s1_bits, d_model)
        self.post_quant_embed = nn.Linear(self.codebook_dim, d_model)
        self.tokenizer = BSQuantizer(s1_bits, s2_bits, beta, gamma0, gamma, zeta, group_size)
        self.apply(init_weights)

    def _latent(self, x: Tensor, valid: Tensor | None) -> Tensor:
        """x (B, T, d_in) -> pre-quantisation latent (B, T, K); valid marks left padding."""
        positions, mask = positions_and_mask(x, valid)
        z = self.embed(x)
        for block in self.encoder:
            z = block(z, positions, mask)
        return self.quant_embed(z)

    def encode(self, x: Tensor, half: bool = False, valid: Tensor | None = None) -> TokenIds:
        """x (B, T, d_in) -> ids: (s1, s2) each (B, T) when half, else (B, T) full ids."""
        _, _, ids = self.tokenizer(self._latent(x, valid), half=half)
        return ids

    def ids_to_codes(self, ids: TokenIds, half: bool = False) -> Tensor:
        """Token ids -> codes (B, T, K) in {-1, +1} / sqrt(K)."""
        if half:
            s1, s2 = ids
            bits = torch.cat([ids_to_bits(s1, self.s1_bits), ids_to_bits(s2, self.s2_bits)], -1)
        else:
            bits = ids_to_bits(ids, self.codebook_dim)
        return (bits.float() * 2 - 1) / math.sqrt(self.codebook_dim)

    def decode(
        self,
        ids: TokenIds,
        half: bool = False,
        valid: Tensor | None = None,
        positions: Tensor | None = None,
        caches: list[AttentionCache] | None = None,
    ) -> Tensor:
        """Token ids -> reconstructed candles (B, T, d_in); causal over the decoded window.

        ``valid``/``positions``/``caches`` serve padded batches and cached decoding
        (see ``kronos_runner.generate``); plain calls need none of them.
        """
        z = self.post_quant_embed(self.ids_to_codes(ids, half).to(self.head.weight.dtype))
        return self._decode_latent(z, valid, positions, caches)

    def _decode_latent(
        self,
        z: Tensor,
        valid: Tensor | None = None,
        positions: Tensor | None = None,
        caches: list[AttentionCache] | None = None,
    ) -> Tensor:
        mask = None
        if positions is None:
            positions, mask = positions_and_mask(z, valid)
        for i, block in enumerate(self.decoder):
            z = block(z, positions, mask, caches[i] if caches is not None else None)
        return self.head(z)

    def forward(self, x: Tensor) -> TokenizerOutput:
        """Training forward: coarse-only and full reconstructions, BSQ loss, codes, full ids."""
        bsq_loss, quantized, ids = self.tokenizer(self._latent(x, None))
        coarse = self._decode_latent(self.post_quant_embed_pre(quantized[..., : self.s1_bits]))
        full = self._decode_latent(self.post_quant_embed(quantized))
        return TokenizerOutput(coarse, full, bsq_loss, quantized, ids)

    def training_loss(self, x: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        """(MSE(coarse, x) + MSE(full, x) + bsq_loss) / 2, with its parts for logging."""
        out = self(x)
        mse_coarse = F.mse_loss(out.recon_coarse, x)
        mse_full = F.mse_loss(out.recon_full, x)
        loss = (mse_coarse + mse_full + out.bsq_loss) / 2
        parts = {"mse_coarse": mse_coarse, "mse_full": mse_full, "bsq_loss": out.bsq_loss}
        return loss, parts
