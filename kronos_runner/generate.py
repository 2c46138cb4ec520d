"""All sampling and KV-cache logic: autoregressive token generation and path decoding.

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
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from kronos_runner.model import Kronos
from kronos_runner.tokenizer import KronosTokenizer

StopCheck = Callable[[], bool]


class GenerationStopped(Exception):
    """Generation ended early because ``should_stop`` answered True before a model pass."""


def never() -> bool:
    """The default ``should_stop``: never stop."""
    return False


def _check(should_stop: StopCheck, where: str) -> None:
    """Raise GenerationStopped (saying ``where``) when ``should_stop()`` is True."""
    if should_stop():
        raise GenerationStopped(f"stopped {where}")


@dataclass
class SeriesRequest:
    """One series to forecast: normalised candles, time features, horizon and seed."""

    x: Tensor  # (n, d_in) normalised, clipped
    stamp: Tensor  # (n + horizon, 5) time features of the context then the future
    horizon: int
    seed: int


def _descending(logits: Tensor) -> Tensor:
    """The values of each row sorted in descending order (numpy's vectorised sort on CPU, about
    10x faster than torch.sort for (rows, 1024) logits; no indices are needed)."""
    if logits.device.type != "cpu" or logits.dtype not in (torch.float32, torch.float64):
        return logits.sort(dim=-1, descending=True).values
    return torch.from_numpy(np.ascontiguousarray(np.sort(logits.numpy(), axis=-1)[..., ::-1]))


def filter_logits(logits: Tensor, top_k: int = 0, top_p: float = 1.0) -> Tensor:
    """Upstream filtering: top_k > 0 keeps the k largest (ties kept) and skips top-p; else
    top_p < 1 keeps, in descending order, each token whose preceding cumulative probability
    is <= top_p (so at least one; ties with the last one kept). Removed logits become -inf."""
    if top_k > 0:
        kth = logits.topk(min(top_k, logits.shape[-1]), dim=-1).values[..., -1:]
        return logits.masked_fill(logits < kth, -math.inf)
    if top_p < 1.0:
        descending = _descending(logits)
        cumulative = descending.softmax(dim=-1).cumsum(dim=-1)
        kept = 1 + (cumulative[..., :-1] <= top_p).sum(dim=-1, keepdim=True)  # a prefix
        return logits.masked_fill(logits < descending.gather(-1, kept - 1), -math.inf)
    return logits


def sample_tokens(
    logits: Tensor, uniforms: Tensor, temperature: float, top_k: int, top_p: float
) -> Tensor:
    """Draw one token per row by inverse CDF: logits (R, V), uniforms (R,) in [0, 1) -> (R,)."""
    probs = filter_logits(logits.float() / temperature, top_k, top_p).softmax(dim=-1)
    cdf = probs.cumsum(dim=-1)
    target = uniforms.to(cdf.device, cdf.dtype)[:, None] * cdf[:, -1:]
    ids = torch.searchsorted(cdf, target, right=True).clamp_max(probs.shape[-1] - 1)
    # Rounding can push the draw past the last token with probability > 0: step back to it.
    last_kept = probs.shape[-1] - 1 - (probs > 0).flip(-1).int().argmax(dim=-1, keepdim=True)
    ids = torch.where(probs.gather(-1, ids) > 0, ids, last_kept)
    return ids[:, 0]


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


def _left_pad(seqs: list[Tensor], fill: float = 0) -> tuple[Tensor, Tensor]:
    """Stack (T_i, ...) tensors left-padded to max T -> (batch (B, T, ...), valid (B, T))."""
    t = max(x.shape[0] for x in seqs)
    out = seqs[0].new_full((len(seqs), t, *seqs[0].shape[1:]), fill)
    valid = torch.zeros(len(seqs), t, dtype=torch.bool, device=seqs[0].device)
    for i, x in enumerate(seqs):
        if x.shape[0]:
            out[i, t - x.shape[0] :] = x
            valid[i, t - x.shape[0] :] = True
    return out, valid


def encode_contexts(
    tokenizer: KronosTokenizer, xs: list[Tensor], should_stop: StopCheck = never
) -> list[tuple[Tensor, Tensor]]:
    """Tokenise each whole context (half mode), one series at a time -> [(s1, s2) (n,)]."""
    dtype = tokenizer.embed.weight.dtype
    out = []
    for b, x in enumerate(xs):
        _check(should_stop, f"before encoding series {b + 1} of {len(xs)}")
        s1, s2 = tokenizer.encode(x[None].to(dtype), half=True)
        out.append((s1[0], s2[0]))
    return out


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
        s1, valid = _left_pad(s1s)
        s2, _ = _left_pad(s2s)
        stamp, _ = _left_pad(stamps)
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
        _check(should_stop, f"before step {i + 1} of {steps}")
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
            _check(should_stop, f"before the prefill of series {b + 1} of {len(lengths)}")
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
            _check(should_stop, f"before decoding the context of series {b + 1} of {len(ctx)}")
            rec = [cache.prefill(b) for cache in caches]
            tokenizer.decode((s1[None, start:], s2[None, start:]), half=True, caches=rec)
        _check(should_stop, "before decoding the generated tokens")
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
    w1, valid = _left_pad(windows_1)
    w2, _ = _left_pad(windows_2)
    _check(should_stop, "before decoding the windows")
    # Left padding puts every row's window end at the last column.
    out = tokenizer.decode((w1, w2), half=True, valid=None if bool(valid.all()) else valid)
    return [
        out[b * samples : (b + 1) * samples, out.shape[1] - horizons[b] :]
        for b in range(len(requests))
    ]


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
