"""Forecasting a batch of series: autoregressive token generation with the KV cache, in row groups.

Rows are laid out series-major: row r = series r // S, sample path r % S (S paths per series).
Cached mode runs each series' context window through the predictor once (prefill), keeps its
keys/values once per series (``PrefixKV.prefix_*``, left padded across series and shared by all
its paths) and only the generated positions per row (``PrefixKV.k/v``); every step then feeds
one token per row. The tokenizer decoder caches the context part of the decoded window the same
way. Once a series' window slides past ``max_context`` its positions restart at 0, so its rows
are recomputed in full, as the reference does. ``use_cache=False`` recomputes every window in
full at every step (the reference procedure, batched with left padding). A ``should_stop``
callable is asked before every model pass (each series' encoding, prefill and context decoding,
each generation step, the final decoding); when it answers True the forecast ends with
``GenerationStopped`` (the caller no longer wants the batch: every item's deadline has passed).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import torch
from torch import Tensor

from kronos_runner.generation_types import (
    SeriesRequest,
    StopCheck,
    check_stop,
    never,
)
from kronos_runner.model import Kronos
from kronos_runner.prefix_kv import PrefixKV, left_pad
from kronos_runner.sampling import sample_tokens
from kronos_runner.token_codec import decode_paths, encode_contexts
from kronos_runner.tokenizer import KronosTokenizer


def _uniforms(requests: list[SeriesRequest], samples: int, steps: int) -> Tensor:
    """(R, steps, 2) uniforms; series b's come only from torch.Generator(seed_b) (on CPU)."""
    out = torch.full((len(requests) * samples, steps, 2), 0.5)
    for b, req in enumerate(requests):
        gen = torch.Generator().manual_seed(req.seed)
        out[b * samples : (b + 1) * samples, : req.horizon] = torch.rand(
            (samples, req.horizon, 2), generator=gen
        )
    return out


@dataclass
class _Batch:
    """Context tokens and stamps per series, generated tokens per row."""

    ctx: list[tuple[Tensor, Tensor]]  # per series (s1, s2), (n,)
    stamps: list[Tensor]  # per series (n + steps, 5), padded past the horizon
    samples: int
    gen_s1: Tensor  # (R, steps)
    gen_s2: Tensor

    def windows(self, rows: list[int], step: int, max_context: int) -> tuple[Tensor, ...]:
        """Left-padded reference windows for ``rows`` before generating token ``step``:
        the last max_context tokens of context + generated -> (s1, s2, stamp, valid)."""
        s1s, s2s, stamps = [], [], []
        for r in rows:
            b = r // self.samples
            s1 = torch.cat([self.ctx[b][0], self.gen_s1[r, :step]])[-max_context:]
            s2 = torch.cat([self.ctx[b][1], self.gen_s2[r, :step]])[-max_context:]
            end = self.ctx[b][0].shape[0] + step
            s1s.append(s1)
            s2s.append(s2)
            stamps.append(self.stamps[b][end - s1.shape[0] : end])
        s1, valid = left_pad(s1s)
        s2, _ = left_pad(s2s)
        stamp, _ = left_pad(stamps)
        return s1, s2, stamp, valid


def _overwrite(base: Tensor | None, rows: list[int], values: Tensor) -> Tensor:
    """``values`` when there is no base, else base with ``rows`` replaced by ``values``."""
    if base is None:
        return values
    base[rows] = values
    return base


def generate_tokens(
    model: Kronos,
    ctx: list[tuple[Tensor, Tensor]],
    requests: list[SeriesRequest],
    *,
    samples: int,
    temperature: float,
    top_k: int,
    top_p: float,
    max_context: int,
    use_cache: bool = True,
    should_stop: StopCheck = never,
) -> tuple[Tensor, Tensor]:
    """Sample (coarse, fine) ids for every row -> two (R, max horizon) int64 tensors.

    Raises GenerationStopped when ``should_stop()`` is True before a prefill or a step."""
    device = model.norm.weight.device
    steps = max(req.horizon for req in requests)
    rows = len(requests) * samples
    stamps = []
    for req, (s1, _) in zip(requests, ctx, strict=True):
        pad = s1.shape[0] + steps - req.stamp.shape[0]
        stamps.append(torch.cat([req.stamp, req.stamp[-1:].expand(pad, -1)]).to(device))
    batch = _Batch(
        ctx=ctx,
        stamps=stamps,
        samples=samples,
        gen_s1=torch.zeros(rows, steps, dtype=torch.long, device=device),
        gen_s2=torch.zeros(rows, steps, dtype=torch.long, device=device),
    )
    uniforms = _uniforms(requests, samples, steps)
    stepper = _CachedStepper(model, batch, steps, max_context, should_stop) if use_cache else None
    horizon = [req.horizon for req in requests for _ in range(samples)]
    for i in range(steps):
        check_stop(should_stop, f"before step {i + 1} of {steps}")
        # Rows computed by full recomputation of their window: all of them without the cache;
        # with it, those whose window slid past max_context (positions restart at 0 there).
        if stepper is None:
            full_rows = list(range(rows))
        else:
            full_rows = [
                r
                for r in range(rows)
                if stepper.window0[r // samples] + i > max_context and i < horizon[r]
            ]
        s1_logits = None
        if stepper is not None:
            s1_logits = stepper.coarse_logits(i)
        if full_rows:
            s1, s2, stamp, valid = batch.windows(full_rows, i, max_context)
            valid = None if bool(valid.all()) else valid
            logits, h = model.decode_s1(s1, s2, stamp, valid)
            s1_logits = _overwrite(s1_logits, full_rows, logits[:, -1])
        s1_next = sample_tokens(s1_logits, uniforms[:, i, 0], temperature, top_k, top_p)

        s2_logits = None
        if stepper is not None:
            s2_logits = stepper.fine_logits(s1_next)
        if full_rows:
            fine = model.decode_s2(h, s1_next[full_rows, None], valid)[:, -1]
            s2_logits = _overwrite(s2_logits, full_rows, fine)
        s2_next = sample_tokens(s2_logits, uniforms[:, i, 1], temperature, top_k, top_p)
        batch.gen_s1[:, i] = s1_next
        batch.gen_s2[:, i] = s2_next
    return batch.gen_s1, batch.gen_s2


class _CachedStepper:
    """Incremental predictor state: prefill once per series, then one token per row and step."""

    def __init__(
        self, model: Kronos, batch: _Batch, steps: int, max_context: int, should_stop: StopCheck
    ) -> None:
        self.model, self.batch = model, batch
        self.dep = model.dep_layer.cross_attn
        samples = batch.samples
        lengths = [s1.shape[0] for s1, _ in batch.ctx]
        self.window0 = [min(n, max_context) for n in lengths]  # prefix window per series
        # Prefill each series' window alone (no padding), keeping every layer's keys/values.
        device = model.norm.weight.device
        self.caches = [PrefixKV(self.window0, samples, steps, device) for _ in model.transformer]
        self.dep_cache = PrefixKV(self.window0, samples, steps, device)
        h_last = []
        for b, ((s1, s2), stamp, n, w) in enumerate(
            zip(batch.ctx, batch.stamps, lengths, self.window0, strict=True)
        ):
            check_stop(should_stop, f"before the prefill of series {b + 1} of {len(lengths)}")
            positions = torch.arange(w, device=device)
            rec = [cache.prefill(b) for cache in self.caches]
            h = model.hidden(
                s1[None, -w:], s2[None, -w:], stamp[None, n - w : n], positions, None, rec
            )
            self.dep_cache.store(b, *self._dep_kv(h))
            h_last.append(h[0, -1])
        self.h_last = torch.stack(h_last).repeat_interleave(samples, dim=0)  # (R, d)
        self.positions0 = torch.tensor(self.window0, device=device).repeat_interleave(samples)
        future = [st[n : n + steps] for st, n in zip(batch.stamps, lengths, strict=True)]
        self.future_stamps = torch.stack(future).repeat_interleave(samples, dim=0)  # (R, steps, 5)

    def _dep_kv(self, h: Tensor) -> tuple[Tensor, Tensor]:
        """Dependency-layer keys and values (B, 4, T, hd) of hidden states h (B, T, d)."""
        k, v = self.dep.project_kv(h)
        return self.dep.split_heads(k), self.dep.split_heads(v)

    def coarse_logits(self, step: int) -> Tensor:
        """Feed the token generated at step-1 (if any) and return coarse logits (R, V1)."""
        if step > 0:
            s1 = self.batch.gen_s1[:, step - 1 : step]
            s2 = self.batch.gen_s2[:, step - 1 : step]
            positions = (self.positions0 + step - 1)[:, None]
            stamp = self.future_stamps[:, step - 1 : step]
            h_new = self.model.hidden(s1, s2, stamp, positions, None, self.caches)  # (R, 1, d)
            self.dep_cache.append(*self._dep_kv(h_new))
            self.h_last = h_new[:, 0]
        return self.model.head.proj_s1(self.h_last)

    def fine_logits(self, s1_next: Tensor) -> Tensor:
        """Fine logits (R, V2) for the chosen coarse ids (R,) via the cached dependency layer."""
        q = self.dep.split_heads(self.dep.q_proj(self.model.embedding.emb_s1(s1_next[:, None])))
        a = self.dep.merge_heads(self.dep_cache.attend(q))[:, 0]
        return self.model.head.proj_s2(self.model.dep_layer.norm(self.h_last + a))


DEFAULT_MAX_ROWS = 128
"""Rows (series x paths) per model pass on CPU: enough for full-speed matmuls, and a bound on
the KV cache, which grows with the rows (see ``forecast``)."""
CUDA_MAX_ROWS = 4096
"""The same on CUDA, where wider passes keep paying."""


def default_max_rows(device: torch.device) -> int:
    """Rows per model pass when the caller sets none: DEFAULT_MAX_ROWS on CPU, else CUDA's."""
    return DEFAULT_MAX_ROWS if device.type == "cpu" else CUDA_MAX_ROWS


def row_groups(requests: list[SeriesRequest], samples: int, max_rows: int) -> list[range]:
    """Consecutive runs of series of at most ``max_rows`` rows each (a series alone may exceed
    it), of near-equal size: 8 series of 30 paths in 128 rows -> two runs of 4."""
    per_group = max(1, max_rows // samples)
    count = -(-len(requests) // per_group)
    bounds = [round(i * len(requests) / count) for i in range(count + 1)]
    return [range(a, b) for a, b in itertools.pairwise(bounds)]


@torch.inference_mode()
def forecast(
    model: Kronos,
    tokenizer: KronosTokenizer,
    requests: list[SeriesRequest],
    *,
    samples: int = 1,
    temperature: float = 1.0,
    top_k: int = 0,
    top_p: float = 0.9,
    max_context: int = 512,
    use_cache: bool = True,
    max_rows: int | None = None,
    should_stop: StopCheck = never,
) -> list[Tensor]:
    """Sample paths for every series -> per series (samples, horizon, d_in), normalised.

    A series' paths depend only on its own request (its uniforms come from its own seed);
    ``use_cache=False`` gives the same greedy output by full recomputation. Series are run in
    groups of at most ``max_rows`` rows (``row_groups``; None: ``default_max_rows``), so the
    memory of a call is bounded whatever the batch. ``should_stop`` is asked before each model
    pass (GenerationStopped when True); it never changes results.
    """
    device = model.norm.weight.device
    rows = default_max_rows(device) if max_rows is None else max_rows
    paths: list[Tensor] = []
    for group in row_groups(requests, samples, rows):
        part = [requests[i] for i in group]
        ctx = encode_contexts(tokenizer, [req.x.to(device) for req in part], should_stop)
        gen_s1, gen_s2 = generate_tokens(
            model,
            ctx,
            part,
            samples=samples,
            temperature=temperature,
            top_k=top_k,
            top_p=top_p,
            max_context=max_context,
            use_cache=use_cache,
            should_stop=should_stop,
        )
        paths += decode_paths(
            tokenizer,
            ctx,
            part,
            gen_s1,
            gen_s2,
            samples=samples,
            max_context=max_context,
            use_cache=use_cache,
            should_stop=should_stop,
        )
    return [p.float() for p in paths]
