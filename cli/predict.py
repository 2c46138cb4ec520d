"""`kronos-forecast predict`: one forecast of a symbol's candles (the configured market data
source) or of a CSV file, printed as a table of prices with the 80% band, or as JSON.

The distribution is the model's own (the paths' quantiles), not the service's calibrated one.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path
from typing import Any

import pandas as pd

from cli.envvars import CONTEXT, MARKET, MODEL, SAMPLER, env_help
from cli.errors import DATA_FIX, KnownFailure, one_line
from cli.model import load_pipeline
from data_sources import MarketDataError, UnknownSymbolError, build_source
from data_sources.candle_files import read_candle_file
from forecast_api.settings import ServiceSettings
from forecasting.gaps import infer_step, regularise
from forecasting.summary import BAND_LEVELS, summarize

ENV = (*MODEL, *SAMPLER, *CONTEXT, "trend_threshold", "market_data_dir", *MARKET)


def add_parser(commands: argparse._SubParsersAction) -> None:
    """Register `predict`."""
    p = commands.add_parser(
        "predict",
        help="one forecast of a symbol or a CSV file",
        description=__doc__,
        epilog=env_help(*ENV, hub=True),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--symbol", help="an asset of the market data source, e.g. BTC")
    where.add_argument(
        "--csv", type=Path, help="candles: timestamp,open,high,low,close[,volume,amount]"
    )
    p.add_argument("--interval", default="1h", help="candle interval (--symbol only)")
    p.add_argument("--horizon", type=int, default=24, help="steps ahead")
    p.add_argument("--samples", type=int, default=None, help="paths (default KRONOS_SAMPLES)")
    p.add_argument("--seed", type=int, default=None, help="makes the paths reproducible")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default 1)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(run=run)


def candles(args: argparse.Namespace, settings: ServiceSettings) -> tuple[pd.DataFrame, str]:
    """The newest KRONOS_LOOKBACK candles to forecast from, and where they came from."""
    if args.csv is not None:
        try:
            frame = read_candle_file(args.csv)
        except MarketDataError as exc:
            raise KnownFailure(
                f"bad CSV {args.csv}: {one_line(exc)} (expected columns "
                "timestamp,open,high,low,close[,volume,amount], oldest first)"
            ) from exc
        return frame.tail(settings.kronos_lookback).reset_index(drop=True), str(args.csv)

    async def fetch() -> pd.DataFrame:
        async with build_source(settings.market) as source:
            return await source.candles(args.symbol, args.interval, settings.kronos_lookback)

    market = settings.market
    origin = market.market_data_source
    if origin == "files":
        origin += f" {market.market_data_dir}"
    try:
        return asyncio.run(fetch()), origin
    except UnknownSymbolError as exc:
        raise KnownFailure(f"unknown symbol {args.symbol!r}: {one_line(exc)}") from exc
    except MarketDataError as exc:
        raise KnownFailure(
            f"market data unavailable from {origin} ({one_line(exc)}): {DATA_FIX}"
        ) from exc


def forecast(args: argparse.Namespace, settings: ServiceSettings) -> dict[str, Any]:
    """The forecast as a JSON-ready dict."""
    frame, origin = candles(args, settings)
    series, gaps = regularise(
        frame, max_fill=settings.kronos_max_fill, min_length=settings.min_context
    )
    if not gaps.ok:
        raise KnownFailure(f"cannot forecast {origin}: {gaps.reason}")
    pipeline = load_pipeline(settings, args.threads)
    samples = args.samples or settings.kronos_samples
    try:
        (paths,) = pipeline.predict(
            series,
            args.horizon,
            samples=samples,
            seed=args.seed,
            temperature=settings.kronos_temperature,
            top_k=settings.kronos_top_k,
            top_p=settings.kronos_top_p,
        )
    except ValueError as exc:
        raise KnownFailure(f"cannot forecast: {one_line(exc)}") from exc
    last_close = float(series["close"].iloc[-1])
    summary = summarize(paths, last_close, trend_threshold=settings.trend_threshold)
    step = infer_step(series["timestamp"])
    return {
        "symbol": args.symbol.upper() if args.symbol else None,
        "source": origin,
        "interval": args.interval if args.symbol else f"{int(step.total_seconds())}s",
        "lastCandleOpen": pd.Timestamp(series["timestamp"].iloc[-1]).isoformat(),
        "lastClose": last_close,
        "model": settings.kronos_model,
        "tokenizer": settings.kronos_tokenizer,
        "trainedWeights": pipeline.trained,
        "samples": samples,
        "seed": args.seed,
        "band": list(BAND_LEVELS),
        "trend": summary.trend,
        "confidence": summary.confidence,
        "upProbability": summary.up_probability,
        "steps": [
            {
                "step": i + 1,
                "closesAt": (opened + step).isoformat(),
                "mean": float(summary.mean[i]),
                "median": float(summary.median[i]),
                "low": float(summary.low[i]),
                "high": float(summary.high[i]),
            }
            for i, opened in enumerate(summary.timestamps)
        ],
    }


def price(value: float) -> str:
    """A price for people: cents above 100, six significant digits below."""
    return f"{value:,.2f}" if abs(value) >= 100 else f"{value:.6g}"


def table(result: dict[str, Any]) -> str:
    """The forecast for people: a header, one row per step, the trend."""
    what = result["symbol"] or result["source"]
    lines = [
        f"{what} ({result['interval']}, from {result['source']}): last close "
        f"{price(result['lastClose'])} (candle opened {result['lastCandleOpen']})",
        f"model {result['model']} + {result['tokenizer']}, {result['samples']} paths"
        + ("" if result["seed"] is None else f", seed {result['seed']}"),
    ]
    if not result["trainedWeights"]:
        lines.append("WARNING: untrained (random) weights: these numbers mean nothing")
    lines.append(
        f"{'step':>4}  {'closes at (UTC)':<25} {'median':>12} {'mean':>12} {'10%':>12} {'90%':>12}"
    )
    for row in result["steps"]:
        closes = pd.Timestamp(row["closesAt"]).strftime("%Y-%m-%d %H:%M")
        lines.append(
            f"{row['step']:>4}  {closes:<25} "
            + " ".join(f"{price(row[k]):>12}" for k in ("median", "mean", "low", "high"))
        )
    lines.append(
        f"trend {result['trend']} (confidence {result['confidence']:.0%}), "
        f"P(up) {result['upProbability']:.0%} at step {min(24, len(result['steps']))}"
    )
    return "\n".join(lines)


def run(args: argparse.Namespace, settings: ServiceSettings) -> None:
    """Forecast and print."""
    result = forecast(args, settings)
    print(json.dumps(result, indent=2) if args.json else table(result))
