"""`kronos-forecast replay`: the ledger's schedule, scoring and calibration over history.

    kronos-forecast replay --from 2025-10-01 --to 2026-04-01 --every 6h [--symbols BTC,ETH]

`replay` runs the ledger's scheduler-equivalent, scorer and calibrator over historical candles
of the files source between two dates at a cadence, into the ledger at LEDGER_URL, with strict
no-look-ahead (see `ledger.replay`). Model, sampler, lookback and data directory come from the
same settings as the service (KRONOS_*, MARKET_DATA_DIR); LEDGER_BLEND=off replays without the
blend (the model served calibrated). Resumable: origins already in the ledger are skipped.
"""

from __future__ import annotations

import argparse
import os
from datetime import datetime, timezone

import numpy as np
import pandas as pd

from cli.envvars import CONTEXT, MODEL, SAMPLER, env_help
from cli.errors import require_candle_dir
from cli.model import load_pipeline
from data_sources.files import load_candle_dir
from forecast_api.settings import ServiceSettings
from forecasting.blend import DEFAULT_BLEND, blend_switch
from forecasting.gaps import regularise
from ledger.records import RecordMeta, derive_seed
from ledger.replay import replay
from ledger.store import Ledger


def _date(text: str) -> datetime:
    """An ISO date or time, UTC."""
    stamp = pd.Timestamp(text)
    return (stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp).to_pydatetime()


ENV = (*MODEL, *SAMPLER, *CONTEXT, "trend_threshold", "market_data_dir", "ledger_url")


def add_parser(commands: argparse._SubParsersAction) -> None:
    """Register `replay`."""
    rp = commands.add_parser(
        "replay",
        help="replay scheduled forecasts over history into the ledger",
        description=__doc__,
        epilog=env_help(*ENV, hub=True),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    rp.add_argument("--from", dest="start", type=_date, required=True)
    rp.add_argument("--to", dest="end", type=_date, default=datetime.now(timezone.utc))
    rp.add_argument("--every", default="6h", help="cadence of the origins, e.g. 1h, 6h, 1d")
    rp.add_argument("--symbols", default=None, help="comma list (default: every file)")
    rp.add_argument("--interval", default="1h")
    rp.add_argument("--horizon", type=int, default=24)
    rp.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    rp.add_argument("--no-progress", action="store_true")
    rp.set_defaults(run=run_replay)


def candle_frames(settings: ServiceSettings, interval: str, symbols: str | None) -> dict:
    """The files source's candles per symbol, indexed by open time."""
    wanted = [s.strip().upper() for s in symbols.split(",")] if symbols else None
    frames = load_candle_dir(require_candle_dir(settings.market.market_data_dir), interval, wanted)
    out = {}
    for symbol, frame in frames.items():
        indexed = frame.set_index("timestamp")
        indexed.attrs["symbol"] = symbol
        out[symbol] = indexed
    return out


def run_replay(args: argparse.Namespace, settings: ServiceSettings) -> None:
    """Replay with the Kronos pipeline of the settings (loaded once)."""
    blend = DEFAULT_BLEND if blend_switch(os.environ.get("LEDGER_BLEND")) else None  # check first
    frames = candle_frames(settings, args.interval, args.symbols)
    pipeline = load_pipeline(settings, args.threads)
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
        frames,
        interval=interval,
        start=args.start,
        end=args.end,
        every=args.every,
        horizon=args.horizon,
        forecast_many=forecast_many,
        meta_for=meta_for,
        trend_threshold=settings.trend_threshold,
        context=settings.kronos_lookback,
        blend=blend,
        progress=not args.no_progress,
    )
    print(report)
