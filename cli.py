"""`kronos-forecast`: command-line tools wired like `service.py` (settings from the environment).

    kronos-forecast replay --from 2025-10-01 --to 2026-04-01 --every 6h [--symbols BTC,ETH]

`replay` runs the ledger's scheduler-equivalent, scorer and calibrator over historical candles
of the files source between two dates at a cadence, into the ledger at LEDGER_URL, with strict
no-look-ahead (see `ledger.replay`). Model, sampler, lookback and data directory come from the
same settings as the service (KRONOS_*, MARKET_DATA_DIR). Resumable: origins already in the
ledger are skipped.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from datetime import datetime, timezone

import numpy as np
import pandas as pd

import cli_keys
from data_sources.files import load_candle_dir
from forecast_api.settings import ServiceSettings, get_settings
from forecasting.gaps import regularise
from ledger.records import RecordMeta, derive_seed
from ledger.replay import replay
from ledger.store import Ledger


def _date(text: str) -> datetime:
    """An ISO date or time, UTC."""
    stamp = pd.Timestamp(text)
    return (stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp).to_pydatetime()


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(prog="kronos-forecast")
    commands = parser.add_subparsers(dest="command", required=True)
    cli_keys.add_parser(commands)
    rp = commands.add_parser("replay", help="replay scheduled forecasts over history")
    rp.add_argument("--from", dest="start", type=_date, required=True)
    rp.add_argument("--to", dest="end", type=_date, default=datetime.now(timezone.utc))
    rp.add_argument("--every", default="6h", help="cadence of the origins, e.g. 1h, 6h, 1d")
    rp.add_argument("--symbols", default=None, help="comma list (default: every file)")
    rp.add_argument("--interval", default="1h")
    rp.add_argument("--horizon", type=int, default=24)
    rp.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    rp.add_argument("--no-progress", action="store_true")
    return parser.parse_args(argv)


def candle_frames(settings: ServiceSettings, interval: str, symbols: str | None) -> dict:
    """The files source's candles per symbol, indexed by open time."""
    wanted = [s.strip().upper() for s in symbols.split(",")] if symbols else None
    frames = load_candle_dir(settings.market.market_data_dir, interval, wanted)
    out = {}
    for symbol, frame in frames.items():
        indexed = frame.set_index("timestamp")
        indexed.attrs["symbol"] = symbol
        out[symbol] = indexed
    return out


def run_replay(args: argparse.Namespace, settings: ServiceSettings) -> None:
    """Replay with the Kronos pipeline of the settings (loaded once)."""
    from kronos_runner.pipeline import KronosPipeline  # torch: this command only
    from kronos_runner.threads import set_process_threads

    set_process_threads(args.threads)
    pipeline = KronosPipeline.from_pretrained(
        settings.kronos_model,
        settings.kronos_tokenizer,
        device=settings.device,
        max_context=settings.kronos_max_context,
        dtype=settings.kronos_dtype,
    )
    sampler = {"temperature": settings.kronos_temperature, "top_k": settings.kronos_top_k}
    sampler["top_p"] = settings.kronos_top_p
    interval = args.interval

    def forecast_many(frames: list[pd.DataFrame], horizon: int) -> list[np.ndarray]:
        """Close paths (samples, horizon) per context, after the gap rule."""
        regular, seeds = [], []
        for frame in frames:
            series, _ = regularise(
                frame.reset_index(),
                max_fill=settings.kronos_max_fill,
                min_length=settings.min_context,
            )
            regular.append(series)
            seeds.append(derive_seed(frame.attrs["symbol"], interval, frame.index[-1]))
        paths = pipeline.predict(
            regular, horizon, samples=settings.kronos_samples, seed=seeds, **sampler
        )
        return [f.closes for f in paths]

    def meta_for(symbol: str, origin: int) -> RecordMeta:
        """Provenance of a replayed forecast."""
        return RecordMeta(
            symbol=symbol,
            interval=interval,
            kind="replay",
            model_kind="kronos",
            model_id=settings.kronos_model,
            tokenizer_id=settings.kronos_tokenizer,
            revision=settings.kronos_model_revision,
            samples=settings.kronos_samples,
            seed=derive_seed(symbol, interval, origin),
            sampler=sampler,
        )

    report = replay(
        Ledger.open(settings.ledger_url),
        candle_frames(settings, interval, args.symbols),
        interval=interval,
        start=args.start,
        end=args.end,
        every=args.every,
        horizon=args.horizon,
        forecast_many=forecast_many,
        meta_for=meta_for,
        trend_threshold=settings.trend_threshold,
        context=settings.kronos_lookback,
        progress=not args.no_progress,
    )
    print(report)


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the `kronos-forecast` console script."""
    args = parse_args(argv)
    if args.command == "replay":
        run_replay(args, get_settings())
    elif args.command == "keys":
        sys.exit(cli_keys.run(args, get_settings().ledger_url))


if __name__ == "__main__":
    main()
