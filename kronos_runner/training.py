"""The training loops shared by `train` and `finetune`: windows of normalised candles, the two
stages' losses, and `train_stage` (AdamW + one-cycle schedule, best-validation checkpoints marked
trained with a provenance record, early stopping, resumable state).
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from forecasting.candles import feature_matrix
from kronos_runner.layout import MODEL_DIR, TOKENIZER_DIR
from kronos_runner.model import Kronos
from kronos_runner.pipeline import CLIP, EPS, time_features
from kronos_runner.tokenizer import KronosTokenizer

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
    patience: int | None = None  # evaluations without a better validation loss before stopping


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
    provenance: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Optimise ``module`` for ``settings.steps`` steps on random training windows, or until
    ``settings.patience`` evaluations in a row bring no better validation loss.

    The best-validation weights (the last ones without validation) go to ``out/<dir>`` via
    ``save_pretrained``, marked trained, with ``provenance`` plus the stage, step and validation
    loss; the resumable state (weights, optimizer, scheduler, step, random generators, history)
    to ``out/<name>_state.pt`` every ``save_every`` steps and at the end.
    """
    state_path = out / f"{name}_state.pt"
    best_dir = out / (MODEL_DIR if name == "predictor" else TOKENIZER_DIR)

    def save_best(val_loss: float | None) -> None:
        module.trained = module.trained or step > 0  # the start keeps its own label
        module.provenance = (provenance or {}) | {"stage": name, "steps": step, "valLoss": val_loss}
        module.save_pretrained(best_dir)

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
    step, best, history, stale = 0, math.inf, [], 0
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
        stale = state.get("stale", 0)
        tqdm.write(f"{name}: resumed at step {step} of {settings.steps}")
    else:
        torch.manual_seed(seed)
        if validate:  # the start is the first best: fine-tuning must beat its base
            best = evaluate(loss_fn, module, val, settings.batch_size, device)
            history.append({"step": 0, "val_loss": best})
            tqdm.write(f"{name} {json.dumps(history[-1])}")
            save_best(best)

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
                "stale": stale,
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
                stale = stale + 1 if record["val_loss"] >= best else 0
                if not stale:
                    best = record["val_loss"]
                    save_best(best)
            history.append(record)
            tqdm.write(f"{name} {json.dumps(record)}")
        stopped_early = settings.patience is not None and stale >= settings.patience
        if step % settings.save_every == 0 or step == stop or stopped_early:
            checkpoint()
        if stopped_early:
            tqdm.write(f"{name}: stopped early at step {step} (no better validation loss)")
            break
    bar.close()
    if step == settings.steps and not validate:
        save_best(None)
    done = step == settings.steps or (settings.patience is not None and stale >= settings.patience)
    return {
        "step": step,
        "done": done,
        "stopped_early": done and step < settings.steps,
        "best_val_loss": best,
        "history": history,
    }
