"""Train or fine-tune Kronos on a directory of candle files, in two stages.

1. Tokenizer: reconstruct normalised OHLCV windows through the coarse and the full codes, plus
   the BSQ quantiser loss. 2. Predictor: next-token cross-entropy on coarse and fine tokens of
   the frozen tokenizer, teacher forcing, time features. Windows are ``lookback + horizon + 1``
   candles, normalised with the mean/std of their first ``lookback`` candles and clipped to +-5,
   as at inference. Candles before ``--train-end`` (default: ``--val-days`` before the newest
   candle) train, ``[--train-end, --val-end)`` validate. Each stage writes its best-validation
   weights in the ``save_pretrained`` layout (``<out>/tokenizer``, ``<out>/model``), marked
   trained with a provenance record, and its resumable state (``<out>/<stage>_state.pt``);
   ``--patience`` stops a stage early. A tokenizer given with ``--init-tokenizer`` but not
   trained is copied to ``<out>/tokenizer``, so ``<out>`` is a whole checkpoint.
Run ``python -m kronos_runner.train --help`` (or ``kronos-forecast train --help``).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from datetime import datetime, timezone
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from data_sources.candle_files import load_candle_dir
from kronos_runner.layout import CONFIG_NAME, TOKENIZER_DIR
from kronos_runner.model import Kronos
from kronos_runner.pipeline import resolve_device
from kronos_runner.threads import set_process_threads
from kronos_runner.tokenizer import KronosTokenizer
from kronos_runner.training import (
    STAGES,
    StageSettings,
    make_windows,
    predictor_loss,
    tokenizer_loss,
    train_stage,
)

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


def _config(text: str | None, default: dict[str, Any]) -> dict[str, Any]:
    """``default`` updated with a JSON object given inline or as a file path."""
    if not text:
        return dict(default)
    return default | json.loads(Path(text).read_text() if Path(text).is_file() else text)


def _timestamp(text: str | None) -> pd.Timestamp | None:
    return pd.Timestamp(text, tz="UTC") if text else None


def build_parser(
    prog: str = "python -m kronos_runner.train",
    description: str | None = __doc__,
    epilog: str | None = None,
) -> argparse.ArgumentParser:
    """The command-line options (``check_args`` validates them once parsed)."""
    p = argparse.ArgumentParser(
        prog=prog,
        description=description,
        epilog=epilog,
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
    p.add_argument(
        "--train-end",
        default=None,
        help="windows ending before this train (UTC; default: --val-days before the newest candle)",
    )
    p.add_argument(
        "--val-end",
        default=None,
        help="windows in [--train-end, --val-end) validate (default: --val-days after "
        "--train-end, or to the end)",
    )
    p.add_argument("--val-days", type=float, default=None, help="days of validation candles")
    p.add_argument(
        "--patience",
        type=int,
        default=None,
        help="stop a stage after this many evaluations without a better validation loss",
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
    return p


def check_args(p: argparse.ArgumentParser, args: argparse.Namespace) -> argparse.Namespace:
    """Refuse option combinations that cannot run (``p.error`` exits with status 2)."""
    if unknown := set(args.stages) - set(STAGES):
        p.error(f"unknown stages {sorted(unknown)}")
    if args.train_end is None and args.val_days is None:
        p.error("give --train-end or --val-days")
    if (
        "tokenizer" not in args.stages
        and "predictor" in args.stages
        and not (args.init_tokenizer or (args.out / TOKENIZER_DIR / CONFIG_NAME).exists())
    ):
        p.error(
            "the predictor stage needs a tokenizer: run the tokenizer stage or --init-tokenizer"
        )
    return args


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = build_parser()
    return check_args(parser, parser.parse_args(argv))


def time_split(
    args: argparse.Namespace, frames: dict[str, pd.DataFrame]
) -> tuple[pd.Timestamp, pd.Timestamp | None]:
    """(train end, validation end): the options', or the newest ``--val-days`` validate."""
    days = None if args.val_days is None else pd.Timedelta(days=args.val_days)
    train_end = _timestamp(args.train_end)
    if train_end is None:
        newest = max(frame["timestamp"].iloc[-1] for frame in frames.values())
        return newest - days, _timestamp(args.val_end)
    val_end = _timestamp(args.val_end)
    return train_end, (train_end + days if val_end is None and days is not None else val_end)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Run the requested stages; returns (and writes to <out>/train_summary.json) a summary."""
    return run(parse_args(argv))


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Run the stages ``args`` asks for (see ``build_parser``); returns the summary."""
    set_process_threads(args.threads)
    device = resolve_device(args.device)
    torch.manual_seed(args.seed)  # module initialisation
    args.out.mkdir(parents=True, exist_ok=True)
    frames = load_candle_dir(args.data, args.interval, args.symbols)
    train_end, val_end = time_split(args, frames)
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
    data = {
        "dir": str(args.data),
        "interval": args.interval,
        "symbols": sorted(frames),
        "trainStart": args.train_start,
        "trainEnd": train_end.isoformat(),
        "valEnd": None if val_end is None else val_end.isoformat(),
        "trainedAt": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }

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
            patience=args.patience,
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
            provenance={"base": args.init_tokenizer, "data": data},
        )
        summary["stages"]["tokenizer"] = result
        if not result["done"]:
            return _write_summary(summary, args.out)
        tokenizer = KronosTokenizer.from_pretrained(args.out / TOKENIZER_DIR).to(device)
    elif args.init_tokenizer:
        tokenizer.save_pretrained(args.out / TOKENIZER_DIR)  # <out> is a whole checkpoint
    else:
        tokenizer = KronosTokenizer.from_pretrained(args.out / TOKENIZER_DIR).to(device)
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
            provenance={"base": args.init_model, "data": data},
        )
    return _write_summary(summary, args.out)


def _write_summary(summary: dict[str, Any], out: Path) -> dict[str, Any]:
    (out / "train_summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


if __name__ == "__main__":
    main()
