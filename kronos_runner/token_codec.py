"""Between candles and tokens: tokenising each series' context, decoding the sampled paths
(cached: a series' context decoded once and shared by its rows; else every window in full)."""

from __future__ import annotations

import torch
from torch import Tensor

from kronos_runner.generation_types import SeriesRequest, StopCheck, check_stop, never
from kronos_runner.prefix_kv import PrefixKV, left_pad
from kronos_runner.tokenizer import KronosTokenizer


def encode_contexts(
    tokenizer: KronosTokenizer, xs: list[Tensor], should_stop: StopCheck = never
) -> list[tuple[Tensor, Tensor]]:
    """Tokenise each whole context (half mode), one series at a time -> [(s1, s2) (n,)]."""
    dtype = tokenizer.embed.weight.dtype
    out = []
    for b, x in enumerate(xs):
        check_stop(should_stop, f"before encoding series {b + 1} of {len(xs)}")
        s1, s2 = tokenizer.encode(x[None].to(dtype), half=True)
        out.append((s1[0], s2[0]))
    return out


def decode_paths(
    tokenizer: KronosTokenizer,
    ctx: list[tuple[Tensor, Tensor]],
    requests: list[SeriesRequest],
    gen_s1: Tensor,
    gen_s2: Tensor,
    *,
    samples: int,
    max_context: int,
    use_cache: bool = True,
    should_stop: StopCheck = never,
) -> list[Tensor]:
    """Decode the last max_context tokens of context + generated per row and keep the
    horizon's positions -> per series (S, horizon, d_in), normalised."""
    horizons = [req.horizon for req in requests]
    steps = gen_s1.shape[1]
    if use_cache:
        # The context part of each decoded window is shared by a series' rows: decode it
        # once with recorded keys/values, then all generated tokens of every row in one pass.
        lengths_ctx = [s1.shape[0] for s1, _ in ctx]
        starts = [max(0, n + hz - max_context) for n, hz in zip(lengths_ctx, horizons, strict=True)]
        prefix_lengths = [n - start for n, start in zip(lengths_ctx, starts, strict=True)]
        device = gen_s1.device
        caches = [PrefixKV(prefix_lengths, samples, steps, device) for _ in tokenizer.decoder]
        for b, ((s1, s2), start) in enumerate(zip(ctx, starts, strict=True)):
            check_stop(should_stop, f"before decoding the context of series {b + 1} of {len(ctx)}")
            rec = [cache.prefill(b) for cache in caches]
            tokenizer.decode((s1[None, start:], s2[None, start:]), half=True, caches=rec)
        check_stop(should_stop, "before decoding the generated tokens")
        lengths = torch.tensor(prefix_lengths, device=device).repeat_interleave(samples)
        positions = lengths[:, None] + torch.arange(steps, device=gen_s1.device)[None]
        out = tokenizer.decode(
            (gen_s1, gen_s2), half=True, positions=positions, caches=caches
        )  # (R, steps, d_in)
        return [out[b * samples : (b + 1) * samples, : horizons[b]] for b in range(len(requests))]
    windows_1, windows_2 = [], []
    for r in range(gen_s1.shape[0]):
        (s1, s2), hz = ctx[r // samples], horizons[r // samples]
        windows_1.append(torch.cat([s1, gen_s1[r, :hz]])[-max_context:])
        windows_2.append(torch.cat([s2, gen_s2[r, :hz]])[-max_context:])
    w1, valid = left_pad(windows_1)
    w2, _ = left_pad(windows_2)
    check_stop(should_stop, "before decoding the windows")
    # Left padding puts every row's window end at the last column.
    out = tokenizer.decode((w1, w2), half=True, valid=None if bool(valid.all()) else valid)
    return [
        out[b * samples : (b + 1) * samples, out.shape[1] - horizons[b] :]
        for b in range(len(requests))
    ]
