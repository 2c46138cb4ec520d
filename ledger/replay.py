"""Replay: the scheduler, scorer and calibrator of the service run over historical candles.

For each origin t from `start` to `end` at cadence `every` (t on the candle grid), strictly
without look-ahead:
1. score every pending step whose candle opened at or before t, from candles up to t only;
2. fit the blend (unless off) and then the rolling calibration on steps realised by t + one
   interval (the forecast's issue time), as the service does (`ledger.blending.fit_served`);
3. slice each symbol's frame at t (`frame.loc[:t]`, the last `context` candles) and call
   `forecast_many(frames, horizon)`, which returns one (samples, horizon) array of closes each;
4. record the forecasts (kind "replay") with that blend and calibration.
Origins already in the ledger for a symbol are skipped, so an interrupted replay resumes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd
from tqdm import tqdm

from forecasting.blend import DEFAULT_BLEND, BlendSettings
from forecasting.candles import interval_seconds
from forecasting.recalibration import DEFAULT_SETTINGS, RecalibrationSettings
from ledger.blending import fit_served
from ledger.records import RecordMeta, build_record, to_epoch
from ledger.scorer import closes_in, score_due
from ledger.store import Ledger

ForecastMany = Callable[[list[pd.DataFrame], int], Sequence[np.ndarray]]
MetaFor = Callable[[str, int], RecordMeta]


@dataclass
class ReplayReport:
    """Counts of one replay run."""

    origins: int = 0
    recorded: int = 0
    skipped: int = 0
    scored: int = 0
    unscorable: int = 0


def _context(frame: pd.DataFrame, t: pd.Timestamp, length: int) -> pd.DataFrame:
    """The last `length` candles opened at or before t (`frame.loc[:t].tail(length)`, no copy
    of the whole prefix); the frame is sorted by open time."""
    end = int(frame.index.searchsorted(t, side="right"))
    return frame.iloc[max(0, end - length) : end]


def origins(start: datetime, end: datetime, every: str | pd.Timedelta, step: int) -> list[int]:
    """The replay's origins: from start to end at the cadence, floored to the candle grid."""
    first = -(-to_epoch(start) // step) * step
    cadence = int(pd.Timedelta(every).total_seconds())
    if cadence <= 0 or cadence % step:
        raise ValueError(f"cadence {every} must be a positive multiple of the interval")
    return list(range(first, to_epoch(end) + 1, cadence))


def _score(ledger: Ledger, frames, t: int, step: int, report: ReplayReport) -> None:
    """Score what was realised by t, from candles up to t."""
    done = score_due(
        ledger,
        closes_in({s: f["close"] for s, f in frames.items()}, pd.Timestamp(t, unit="s", tz="UTC")),
        t + step,
        grace=0,
    )
    report.scored += done.scored
    report.unscorable += done.unscorable


def replay(
    ledger: Ledger,
    frames: Mapping[str, pd.DataFrame],
    *,
    interval: str,
    start: datetime,
    end: datetime,
    every: str,
    horizon: int,
    forecast_many: ForecastMany,
    meta_for: MetaFor,
    trend_threshold: float,
    context: int = 512,
    settings: RecalibrationSettings = DEFAULT_SETTINGS,
    blend: BlendSettings | None = DEFAULT_BLEND,
    progress: bool = True,
    on_origin: Callable[[int], None] | None = None,
) -> ReplayReport:
    """Replay forecasts for every frame's symbol between start and end; see the module doc.
    `blend` None: the blend is off (LEDGER_BLEND=off), the model is served calibrated.
    `on_origin(n)` is told after each origin how many of the window's origins are done."""
    step = interval_seconds(interval)
    grid = origins(start, end, every, step)
    report = ReplayReport(origins=len(grid))
    seen = ledger.origins(interval, "replay", list(frames), grid[0], grid[-1]) if grid else set()
    for n, t in enumerate(tqdm(grid, desc="replay", unit="origin", disable=not progress)):
        if on_origin is not None and n:
            on_origin(n)
        _score(ledger, frames, t, step, report)
        ts = pd.Timestamp(t, unit="s", tz="UTC")
        todo = [s for s, df in frames.items() if (s, t) not in seen and ts in df.index]
        report.skipped += len(frames) - len(todo)
        if not todo:
            continue
        inputs = [_context(frames[s], ts, context) for s in todo]
        paths = forecast_many(inputs, horizon)
        fitted, calibration = fit_served(ledger, interval, t + step, horizon, settings, blend)
        records = [
            build_record(
                meta_for(symbol, t),
                np.asarray(p, dtype=float),
                origin=t,
                issued_at=t + step,
                last_close=float(df["close"].iloc[-1]),
                context_closes=df["close"].to_numpy(),
                trend_threshold=trend_threshold,
                calibration=calibration,
                blend=fitted,
            )
            for symbol, df, p in zip(todo, inputs, paths, strict=True)
        ]
        report.recorded += ledger.insert(records)
    if grid:
        _score(ledger, frames, grid[-1], step, report)
        if on_origin is not None:
            on_origin(len(grid))
    return report
