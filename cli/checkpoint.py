"""`kronos-forecast init-checkpoint`: random weights of an official Kronos size, marked untrained
in their safetensors headers, so the service, the runner and every forecast say so."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from forecast_api.settings import ServiceSettings
from kronos_runner.layout import SIZES


def add_parser(commands: argparse._SubParsersAction) -> None:
    """Register `init-checkpoint`."""
    p = commands.add_parser(
        "init-checkpoint",
        help="write random (untrained) weights of an official size",
        description=__doc__ + "\nReads no environment variables.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--size", choices=sorted(SIZES), default="small")
    p.add_argument("--out", type=Path, required=True, help="writes OUT/model and OUT/tokenizer")
    p.add_argument("--seed", type=int, default=0, help="seed of the random initialisation")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.set_defaults(run=run, needs_settings=False)


def run(args: argparse.Namespace, settings: ServiceSettings | None) -> None:
    """Write the checkpoint and say how to serve it."""
    from kronos_runner.random_init import init_checkpoint  # torch: this command only

    model, tokenizer = init_checkpoint(args.size, args.out, seed=args.seed)
    result = {
        "size": args.size,
        "model": str(model),
        "tokenizer": str(tokenizer),
        "trainedWeights": False,
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(
        f"wrote random, UNTRAINED weights of Kronos-{args.size}: {model} and {tokenizer}\n"
        f"serve them with KRONOS_MODEL={model} KRONOS_TOKENIZER={tokenizer}; every forecast "
        "from them says trainedWeights: false"
    )
