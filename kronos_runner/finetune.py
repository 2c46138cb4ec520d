"""Fine-tune a Kronos checkpoint on a directory of candle files: `train` with the base
checkpoint as its start, the predictor stage only (``--tokenizer``: the tokenizer first), the
newest ``--val-days`` validating, early stopping, and fine-tuning learning rates.

The output directory is a whole checkpoint (``model/`` and ``tokenizer/``, the base tokenizer
copied when it is not fine-tuned), marked trained, with a provenance record (base checkpoint,
data range, steps, validation loss) in each safetensors header: name it in KRONOS_CHALLENGERS.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from kronos_runner import train

DEFAULTS = {
    "stages": ["predictor"],
    "val_days": 30.0,
    "patience": 3,
    "tokenizer_steps": 300,
    "predictor_steps": 600,
    "eval_every": 50,
    "save_every": 50,
}


def build_parser(
    prog: str = "python -m kronos_runner.finetune", epilog: str | None = None
) -> argparse.ArgumentParser:
    """`train`'s options with fine-tuning defaults, plus ``--tokenizer``."""
    parser = train.build_parser(prog=prog, description=__doc__, epilog=epilog)
    parser.add_argument(
        "--tokenizer", action="store_true", help="fine-tune the tokenizer too (before the model)"
    )
    parser.set_defaults(**DEFAULTS)
    return parser


def check_args(parser: argparse.ArgumentParser, args: argparse.Namespace) -> argparse.Namespace:
    """A base checkpoint is required; ``--tokenizer`` adds the tokenizer stage."""
    if not (args.init_model and args.init_tokenizer):
        parser.error("fine-tuning needs a base: --init-model and --init-tokenizer")
    if args.tokenizer:
        args.stages = list(train.STAGES)
    return train.check_args(parser, args)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Fine-tune as the options say; returns the training summary."""
    parser = build_parser()
    return train.run(check_args(parser, parser.parse_args(argv)))


if __name__ == "__main__":
    main()
