"""`kronos-forecast train | finetune | backtest`: the kronos_runner tools with their defaults
from the service's settings (MARKET_DATA_DIR, DEVICE and, for finetune and backtest, KRONOS_MODEL
and KRONOS_TOKENIZER). Their parsers live in kronos_runner and import torch, so these commands
build them only when run."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Callable, Sequence
from typing import Any

from cli.envvars import env_help
from cli.errors import model_failure, require_candle_dir
from forecast_api.settings import ServiceSettings

HELP = {
    "train": "train a Kronos tokenizer + predictor from scratch on candle files",
    "finetune": "continue training a checkpoint on the market data's candles",
    "backtest": "rolling-origin backtest of Kronos and baselines on candle files",
}
ENV = {
    "train": ("market_data_dir", "device"),
    "finetune": ("kronos_model", "kronos_tokenizer", "market_data_dir", "device"),
    "backtest": ("kronos_model", "kronos_tokenizer", "market_data_dir", "device"),
}


def with_defaults(parser: argparse.ArgumentParser, **values: Any) -> None:
    """Defaults for options; an option given a default is no longer required."""
    for action in parser._actions:
        if action.dest in values:
            action.required = False
    parser.set_defaults(**values)


def build(name: str, settings: ServiceSettings) -> tuple[argparse.ArgumentParser, Callable]:
    """The tool's parser (defaults from the settings) and the function that checks its
    options and runs it."""
    from kronos_runner import backtest, finetune, train  # torch: these commands only
    from kronos_runner.layout import checkpoint_pair

    prog, epilog = f"kronos-forecast {name}", env_help(*ENV[name], hub=name != "train")
    data, device = settings.market.market_data_dir, settings.device
    if name == "backtest":
        parser = backtest.build_parser(prog=prog, epilog=epilog)
        with_defaults(parser, data=data, device=device, model=settings.kronos_model)
        with_defaults(parser, tokenizer=settings.kronos_tokenizer)
        return parser, lambda args: backtest.run(backtest.check_args(parser, args))
    if name == "finetune":
        parser = finetune.build_parser(prog=prog, epilog=epilog)
        model, tokenizer = checkpoint_pair(settings.kronos_model, settings.kronos_tokenizer)
        with_defaults(parser, data=data, device=device, init_model=str(model))
        with_defaults(parser, init_tokenizer=str(tokenizer))
        return parser, lambda args: train.run(finetune.check_args(parser, args))
    parser = train.build_parser(prog=prog, epilog=epilog)
    with_defaults(parser, data=data, device=device)
    return parser, lambda args: train.run(train.check_args(parser, args))


def stage_table(summary: dict[str, Any], out: str) -> str:
    """What each stage did, and where the checkpoint is."""
    lines = [f"{'stage':<10} {'steps':>6} {'best val loss':>14}  stopped early"]
    for stage, result in summary["stages"].items():
        lines.append(
            f"{stage:<10} {result['step']:>6} {result['best_val_loss']:>14.4f}  "
            f"{'yes' if result.get('stopped_early') else 'no'}"
        )
    lines.append(f"checkpoint: {out} (model/ + tokenizer/, marked trained)")
    lines.append(f"serve it beside the main model: KRONOS_CHALLENGERS=<name>={out}")
    return "\n".join(lines)


def run_tool(name: str, argv: Sequence[str], settings: ServiceSettings) -> None:
    """Parse `argv` for tool `name`, run it and print its result."""
    from safetensors import SafetensorError

    from kronos_runner.hub import CheckpointError

    parser, execute = build(name, settings)
    if name != "backtest":
        parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    args = parser.parse_args(argv)
    require_candle_dir(args.data)
    quiet = contextlib.redirect_stdout(sys.stderr) if getattr(args, "json", False) else None
    try:
        with quiet or contextlib.nullcontext():
            summary = execute(args)
    except (FileNotFoundError, CheckpointError, SafetensorError) as exc:
        base = getattr(args, "init_model", None) or getattr(args, "model", None) or "checkpoint"
        raise model_failure(str(base), exc) from exc
    if summary is None:  # backtest printed its own tables
        return
    print(json.dumps(summary, indent=2) if args.json else stage_table(summary, str(args.out)))
