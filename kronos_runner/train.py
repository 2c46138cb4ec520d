"""Train or fine-tune Kronos on a directory of candle files, in two stages.

1. Tokenizer: reconstruct normalised OHLCV windows through the coarse and the full codes, plus
   the BSQ quantiser loss. 2. Predictor: next-token cross-entropy on coarse and fine tokens of
   the frozen tokenizer, teacher forcing, time features. Windows are ``lookback + horizon + 1``
   candles, normalised with the mean/std of their first ``lookback`` candles and clipped to +-5,
   as at inference. Candles before ``--train-end`` train, ``[--train-end, --val-end)``
   validate. Each stage writes its best-validation weights in the ``save_pretrained`` layout
   (``<out>/tokenizer``, ``<out>/model``) and its resumable state (``<out>/<stage>_state.pt``).
Run ``python -m kronos_runner.train --help``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from data_sources.files import load_candle_dir
from forecasting.candles import feature_matrix
from kronos_runner.model import Kronos
from kronos_runner.pipeline import CLIP, EPS, resolve_device, time_features
from kronos_runner.threads import set_process_threads
from kronos_runner.tokenizer import KronosTokenizer

# Small from-scratch configs (the official config.json keys); override with --*-config JSON.
SMALL_TOKENIZER = {
    "d_in": 6, "d_model": 64, "n_heads": 4, "ff_dim": 128, "n_enc_layers": 3,
    "n_dec_layers": 3, "ffn_dropout_p": 0.0, "attn_dropout_p": 0.0, "resid_dropout_p": 0.0,
    "s1_bits": 8, "s2_bits": 8, "beta": 0.05, "gamma0": 1.0, "gamma": 1.1, "zeta": 0.05,
    "group_size": 4,
}  # fmt: skip
SMALL_MODEL = {
    "s1_bits": 8, "s2_bits": 8, "n_layers": 3, "d_model": 96, "n_heads": 4, "ff_dim": 192,
    "ffn_dropout_p": 0.1, "attn_dropout_p": 0.0, "resid_dropout_p": 0.1,
    "token_dropout_p": 0.0, "learn_te": True,
}  # fmt: skip
STAGES = ("tokenizer", "predictor")


@dataclass
class Windows:
    """Training windows over several symbols: features (T, 6), time stamps (T, 5), starts."""

    features: list[np.ndarray]
    stamps: list[np.ndarray]
    starts: np.ndarray  # (n, 2): symbol index, first row
    length: int
    lookback: int

    def __len__(self) -> int:
        return len(self.starts)

    def batch(
        self, rows: np.ndarray | Sequence[int], device: torch.device
    ) -> tuple[Tensor, Tensor]:
        """Normalised, clipped windows (B, L, 6) and their time stamps (B, L, 5)."""
        x = np.stack([self.features[s][i : i + self.length] for s, i in self.starts[rows]])
        stamp = np.stack([self.stamps[s][i : i + self.length] for s, i in self.starts[rows]])
        past = x[:, : self.lookback]
        x = (x - past.mean(axis=1, keepdims=True)) / (past.std(axis=1, keepdims=True) + EPS)
        x = np.clip(x, -CLIP, CLIP)
        return torch.from_numpy(x).to(device), torch.from_numpy(stamp).to(device)


def make_windows(
    frames: dict[str, pd.DataFrame],
    lookback: int,
    horizon: int,
    begin: pd.Timestamp | None,
    end: pd.Timestamp | None,
    stride: int = 1,
) -> Windows:
    """Every ``stride``-th window of ``lookback + horizon + 1`` candles lying in [begin, end)."""
    length = lookback + horizon + 1
    features, stamps, starts = [], [], []
    for k, (symbol, df) in enumerate(frames.items()):
        ts = df["timestamp"]
        first = 0 if begin is None else int(np.searchsorted(ts, begin))
        stop = len(df) if end is None else int(np.searchsorted(ts, end))
        features.append(feature_matrix(df, symbol).astype(np.float32))
        stamps.append(time_features(pd.DatetimeIndex(ts)))
        starts += [(k, i) for i in range(first, stop - length + 1, stride)]
    return Windows(
        features, stamps, np.array(starts, dtype=np.int64).reshape(-1, 2), length, lookback
    )


def tokenizer_loss(tokenizer: KronosTokenizer, x: Tensor, stamp: Tensor) -> tuple[Tensor, dict]:
    """Stage 1: (MSE(coarse) + MSE(full) + BSQ) / 2."""
    return tokenizer.training_loss(x)


def predictor_loss(
    model: Kronos, tokenizer: KronosTokenizer, x: Tensor, stamp: Tensor
) -> tuple[Tensor, dict]:
    """Stage 2: (CE(coarse) + CE(fine)) / 2 of the next tokens of the frozen tokenizer; the
    fine head is conditioned on the true next coarse token (teacher forcing)."""
    with torch.no_grad():
        s1, s2 = tokenizer.encode(x, half=True)
    s1_logits, s2_logits = model(s1[:, :-1], s2[:, :-1], stamp[:, :-1], s1_targets=s1[:, 1:])
    loss, ce_s1, ce_s2 = Kronos.loss(s1_logits, s2_logits, s1[:, 1:], s2[:, 1:])
    return loss, {"ce_s1": ce_s1, "ce_s2": ce_s2}


@dataclass
class StageSettings:
    """Optimisation settings of one stage."""

    steps: int
    batch_size: int
    lr: float
    betas: tuple[float, float]
    weight_decay: float
    grad_clip: float
    eval_every: int
    save_every: int
    stop_after: int | None = None


def evaluate(
    loss_fn: Callable[[Tensor, Tensor], tuple[Tensor, dict]],
    module: nn.Module,
    windows: Windows,
    batch_size: int,
    device: torch.device,
) -> float:
    """Mean loss over all ``windows`` in eval mode (no dropout; the training forwards keep
    their causal training semantics)."""
    was_training = module.training
    module.eval()
    total = 0.0
    with torch.no_grad():
        for b in range(0, len(windows), batch_size):
            rows = np.arange(b, min(b + batch_size, len(windows)))
            total += float(loss_fn(*windows.batch(rows, device))[0]) * len(rows)
    module.train(was_training)
    return total / len(windows)


def _save_atomic(obj: Any, path: Path) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def train_stage(
    name: str,
    module: nn.Module,
    loss_fn: Callable[[Tensor, Tensor], tuple[Tensor, dict]],
    train: Windows,
    val: Windows | None,
    settings: StageSettings,
    out: Path,
    seed: int,
    device: torch.device,
    resume: bool,
) -> dict[str, Any]:
    """Optimise ``module`` for ``settings.steps`` steps on random training windows.

    The best-validation weights (the last ones without validation) go to ``out/<dir>`` via
    ``save_pretrained``; the resumable state (weights, optimizer, scheduler, step, random
    generators, history) to ``out/<name>_state.pt`` every ``save_every`` steps and at the end.
    """
    state_path = out / f"{name}_state.pt"
    best_dir = out / ("model" if name == "predictor" else "tokenizer")
    optimizer = torch.optim.AdamW(
        module.parameters(),
        lr=settings.lr,
        betas=settings.betas,
        weight_decay=settings.weight_decay,
    )
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=settings.lr, total_steps=settings.steps, pct_start=0.03, div_factor=10
    )
    sampler = torch.Generator().manual_seed(seed)
    validate = val is not None and len(val) > 0
    step, best, history = 0, math.inf, []
    if resume and state_path.exists():
        # On the CPU: RNG states must stay CPU tensors; the loads below move the rest.
        state = torch.load(state_path, map_location="cpu", weights_only=False)
        module.load_state_dict(state["module"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        sampler.set_state(state["sampler"])
        torch.set_rng_state(state["torch_rng"])
        if state["cuda_rng"] is not None:
            torch.cuda.set_rng_state_all(state["cuda_rng"])
        step, best, history = state["step"], state["best"], state["history"]
        tqdm.write(f"{name}: resumed at step {step} of {settings.steps}")
    else:
        torch.manual_seed(seed)
        if validate:
            history.append(
                {"step": 0, "val_loss": evaluate(loss_fn, module, val, settings.batch_size, device)}
            )
            tqdm.write(f"{name} {json.dumps(history[-1])}")

    def checkpoint() -> None:
        _save_atomic(
            {
                "module": module.state_dict(),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "sampler": sampler.get_state(),
                "torch_rng": torch.get_rng_state(),
                "cuda_rng": torch.cuda.get_rng_state_all() if device.type == "cuda" else None,
                "step": step,
                "best": best,
                "history": history,
            },
            state_path,
        )

    stop = min(settings.steps, settings.stop_after or settings.steps)
    module.train()
    running, seen, began = 0.0, 0, time.perf_counter()
    bar = tqdm(total=settings.steps, initial=step, desc=name, unit="step")
    while step < stop:
        rows = torch.randint(len(train), (settings.batch_size,), generator=sampler).numpy()
        loss, parts = loss_fn(*train.batch(rows, device))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(module.parameters(), settings.grad_clip)
        optimizer.step()
        scheduler.step()
        value = loss.item()
        step, running, seen = step + 1, running + value, seen + 1
        bar.update(1)
        bar.set_postfix(loss=f"{value:.4f}", **{k: f"{v.item():.3f}" for k, v in parts.items()})
        if step % settings.eval_every == 0 or step == settings.steps:
            record = {
                "step": step,
                "train_loss": running / seen,
                "seconds": round(time.perf_counter() - began, 1),
            }
            running, seen = 0.0, 0
            if validate:
                record["val_loss"] = evaluate(loss_fn, module, val, settings.batch_size, device)
                if record["val_loss"] < best:
                    best = record["val_loss"]
                    module.save_pretrained(best_dir)
            history.append(record)
            tqdm.write(f"{name} {json.dumps(record)}")
        if step % settings.save_every == 0 or step == stop:
            checkpoint()
    bar.close()
    if step == settings.steps and not validate:
        module.save_pretrained(best_dir)
    return {"step": step, "done": step == settings.steps, "best_val_loss": best, "history": history}


def _config(text: str | None, default: dict[str, Any]) -> dict[str, Any]:
    """``default`` updated with a JSON object given inline or as a file path."""
    if not text:
        return dict(default)
    return default | json.loads(Path(text).read_text() if Path(text).is_file() else text)


def _timestamp(text: str | None) -> pd.Timestamp | None:
    return pd.Timestamp(text, tz="UTC") if text else None


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    p = argparse.ArgumentParser(
        prog="python -m kronos_runner.train",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--data", required=True, help="directory of <SYMBOL>_<interval> candle files")
    p.add_argument("--interval", default="1h")
    p.add_argument("--symbols", type=lambda s: s.split(","), default=None, help="default: all")
    p.add_argument("--out", type=Path, required=True, help="output directory")
    p.add_argument(
        "--stages",
        type=lambda s: s.split(","),
        default=list(STAGES),
        help="tokenizer,predictor (default both; predictor alone needs a tokenizer)",
    )
    p.add_argument("--train-start", default=None, help="first candle used (UTC)")
    p.add_argument("--train-end", required=True, help="windows ending before this train (UTC)")
    p.add_argument(
        "--val-end",
        default=None,
        help="windows in [--train-end, --val-end) validate (default: to the end)",
    )
    p.add_argument("--lookback", type=int, default=128, help="context candles per window")
    p.add_argument("--horizon", type=int, default=24, help="forecast candles per window")
    p.add_argument(
        "--val-windows", type=int, default=256, help="validation windows (evenly spaced)"
    )
    p.add_argument("--init-tokenizer", help="fine-tune this tokenizer (hub id or directory)")
    p.add_argument("--init-model", help="fine-tune this predictor (hub id or directory)")
    p.add_argument("--tokenizer-config", help="JSON (inline or file) over the small default")
    p.add_argument("--model-config", help="JSON (inline or file) over the small default")
    p.add_argument("--tokenizer-steps", type=int, default=1000)
    p.add_argument("--predictor-steps", type=int, default=2000)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument(
        "--tokenizer-lr",
        type=float,
        default=None,
        help="peak learning rate (default 2e-4 fine-tuning, 1e-3 from scratch)",
    )
    p.add_argument(
        "--predictor-lr",
        type=float,
        default=None,
        help="peak learning rate (default 4e-5 fine-tuning, 1e-3 from scratch)",
    )
    p.add_argument("--weight-decay", type=float, default=0.1)
    p.add_argument("--eval-every", type=int, default=100)
    p.add_argument("--save-every", type=int, default=100)
    p.add_argument(
        "--stop-after",
        type=int,
        default=None,
        help="end this run once a stage reaches this step (continue with --resume)",
    )
    p.add_argument("--resume", action="store_true", help="continue from <out>/<stage>_state.pt")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default 1)")
    args = p.parse_args(argv)
    if unknown := set(args.stages) - set(STAGES):
        p.error(f"unknown stages {sorted(unknown)}")
    if (
        "tokenizer" not in args.stages
        and "predictor" in args.stages
        and not (args.init_tokenizer or (args.out / "tokenizer" / "config.json").exists())
    ):
        p.error(
            "the predictor stage needs a tokenizer: run the tokenizer stage or --init-tokenizer"
        )
    return args


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Run the requested stages; returns (and writes to <out>/train_summary.json) a summary."""
    args = parse_args(argv)
    set_process_threads(args.threads)
    device = resolve_device(args.device)
    torch.manual_seed(args.seed)  # module initialisation
    args.out.mkdir(parents=True, exist_ok=True)
    frames = load_candle_dir(args.data, args.interval, args.symbols)
    train_end, val_end = _timestamp(args.train_end), _timestamp(args.val_end)
    train = make_windows(
        frames, args.lookback, args.horizon, _timestamp(args.train_start), train_end
    )
    val = make_windows(frames, args.lookback, args.horizon, train_end, val_end, stride=args.horizon)
    if len(val) > args.val_windows:
        val.starts = val.starts[np.linspace(0, len(val) - 1, args.val_windows).astype(int)]
    if not len(train):
        raise SystemExit("no training windows: check --train-start/--train-end and --lookback")
    print(f"{len(train)} training windows, {len(val)} validation windows on {device}")
    summary: dict[str, Any] = {"args": {k: str(v) for k, v in vars(args).items()}, "stages": {}}

    def settings(stage: str, steps: int, lr: float | None, init: str | None) -> StageSettings:
        betas, clip, default_lr = (
            ((0.9, 0.999), 2.0, 2e-4) if stage == "tokenizer" else ((0.9, 0.95), 3.0, 4e-5)
        )
        return StageSettings(
            steps=steps,
            batch_size=args.batch_size,
            lr=lr or (default_lr if init else 1e-3),
            betas=betas,
            weight_decay=args.weight_decay,
            grad_clip=clip,
            eval_every=args.eval_every,
            save_every=args.save_every,
            stop_after=args.stop_after,
        )

    tokenizer = (
        KronosTokenizer.from_pretrained(args.init_tokenizer)
        if args.init_tokenizer
        else KronosTokenizer(**_config(args.tokenizer_config, SMALL_TOKENIZER))
    ).to(device)
    if "tokenizer" in args.stages:
        result = train_stage(
            "tokenizer",
            tokenizer,
            partial(tokenizer_loss, tokenizer),
            train,
            val,
            settings("tokenizer", args.tokenizer_steps, args.tokenizer_lr, args.init_tokenizer),
            args.out,
            args.seed,
            device,
            args.resume,
        )
        summary["stages"]["tokenizer"] = result
        if not result["done"]:
            return _write_summary(summary, args.out)
        tokenizer = KronosTokenizer.from_pretrained(args.out / "tokenizer").to(device)
    elif not args.init_tokenizer:
        tokenizer = KronosTokenizer.from_pretrained(args.out / "tokenizer").to(device)
    if "predictor" in args.stages:
        tokenizer.requires_grad_(False).eval()
        torch.manual_seed(args.seed + 1)  # module initialisation, same when resumed
        model = (
            Kronos.from_pretrained(args.init_model)
            if args.init_model
            else Kronos(**_config(args.model_config, SMALL_MODEL))
        ).to(device)
        if (model.s1_bits, model.s2_bits) != (tokenizer.s1_bits, tokenizer.s2_bits):
            raise SystemExit("the predictor's s1_bits/s2_bits differ from the tokenizer's")
        summary["stages"]["predictor"] = train_stage(
            "predictor",
            model,
            partial(predictor_loss, model, tokenizer),
            train,
            val,
            settings("predictor", args.predictor_steps, args.predictor_lr, args.init_model),
            args.out,
            args.seed + 1,
            device,
            args.resume,
        )
    return _write_summary(summary, args.out)


def _write_summary(summary: dict[str, Any], out: Path) -> dict[str, Any]:
    (out / "train_summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


if __name__ == "__main__":
    main()
