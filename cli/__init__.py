"""`kronos-forecast`: command-line tools wired like `service.py` (settings from the environment).

Subcommands: predict, backtest, train, finetune, replay, init-checkpoint, keys (`--help` of each
lists the environment variables it reads). A known failure prints one line saying what failed
and how to fix it, and exits with status 2. Torch is imported only by the commands that need it.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

from cli import checkpoint, keys, predict, replay
from cli.errors import EXIT_KNOWN, explain
from cli.tools import HELP, run_tool


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser (train, finetune and backtest parse their own options)."""
    parser = argparse.ArgumentParser(prog="kronos-forecast", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    predict.add_parser(commands)
    for name, text in HELP.items():
        commands.add_parser(name, help=f"{text} (see `kronos-forecast {name} --help`)")
    replay.add_parser(commands)
    checkpoint.add_parser(commands)
    keys.add_parser(commands)
    return parser


def dispatch(argv: list[str]) -> None:
    """Run the command `argv` names."""
    from forecast_api.settings import get_settings

    if argv and argv[0] in HELP:
        run_tool(argv[0], argv[1:], get_settings())
        return
    args = build_parser().parse_args(argv)
    settings = get_settings() if getattr(args, "needs_settings", True) else None
    args.run(args, settings)


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the `kronos-forecast` console script."""
    # the libraries' warnings (a source falling back, a retry) would add lines to the one-line
    # failures; what the user needs is in the command's output or its error line
    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")
    try:
        dispatch(list(sys.argv[1:] if argv is None else argv))
    except BrokenPipeError:  # `kronos-forecast ... | head`: the reader left
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise SystemExit(1) from None
    except Exception as exc:
        message = explain(exc)
        if message is None:
            raise
        print(f"kronos-forecast: error: {message}", file=sys.stderr)
        raise SystemExit(EXIT_KNOWN) from None
