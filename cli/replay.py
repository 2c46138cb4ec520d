"""`kronos-forecast replay`: the ledger's schedule, scoring and calibration over history.

    kronos-forecast replay --from 2025-10-01 --to 2026-04-01 --every 6h [--symbols BTC,ETH]
        [--forecaster kronos|naive|drift|fallback]

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
from data_sources.candle_files import candle_frames
from forecast_api.settings import ServiceSettings
from forecasting.blend import DEFAULT_BLEND, blend_switch
from ledger.replay import replay
from ledger.replay_models import BASELINES, ReplayForecaster, baseline
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
    rp.add_argument(
        "--forecaster",
        default="kronos",
        choices=["kronos", *BASELINES],
        help="the model (KRONOS_MODEL) or a baseline",
    )
    rp.add_argument("--no-progress", action="store_true")
    rp.set_defaults(run=run_replay)


def kronos_forecaster(settings: ServiceSettings, threads: int | None) -> ReplayForecaster:
    """The Kronos pipeline of the settings (loaded once) as a replay forecaster."""
    pipeline = load_pipeline(settings, threads)
    sampler = {"temperature": settings.kronos_temperature, "top_k": settings.kronos_top_k}
    sampler["top_p"] = settings.kronos_top_p

    def predict(series: list[pd.DataFrame], horizon: int, seeds: list[int]) -> list[np.ndarray]:
        """Close paths (samples, horizon) per regular series."""
        paths = pipeline.predict(
            series, horizon, samples=settings.kronos_samples, seed=seeds, **sampler
        )
        return [f.closes for f in paths]

    return ReplayForecaster(
        model_kind="kronos",
        model_id=settings.kronos_model,
        samples=settings.kronos_samples,
        predict=predict,
        sampler=sampler,
        tokenizer_id=settings.kronos_tokenizer,
        revision=settings.kronos_model_revision,
    )


def run_replay(args: argparse.Namespace, settings: ServiceSettings) -> None:
    """Replay with the Kronos pipeline of the settings, or a baseline (`--forecaster`)."""
    blend = DEFAULT_BLEND if blend_switch(os.environ.get("LEDGER_BLEND")) else None  # check first
    if args.forecaster == "kronos":
        forecaster = kronos_forecaster(settings, args.threads)
    else:
        forecaster = baseline(args.forecaster, settings.kronos_samples)
    interval = args.interval
    report = replay(
        Ledger.open(settings.ledger_url),
        candle_frames(require_candle_dir(settings.market.market_data_dir), interval, args.symbols),
        interval=interval,
        start=args.start,
        end=args.end,
        every=args.every,
        horizon=args.horizon,
        forecast_many=forecaster.forecast_many(
            interval, max_fill=settings.kronos_max_fill, min_length=settings.min_context
        ),
        meta_for=forecaster.meta_for(interval),
        trend_threshold=settings.trend_threshold,
        context=settings.kronos_lookback,
        blend=blend,
        progress=not args.no_progress,
    )
    print(report)
