"""The challengers (KRONOS_CHALLENGERS) forecast in the scheduled round, as their own forecasters.

For each challenger the runner has loaded, the scheduled round forecasts the same origins as the
model with the same candles, sampler and seeds (`Forecaster.challenger_paths`) and records each
forecast as its own forecaster (kind "challenger", its name as model id), scored like the model.
The paths are also handed to the model's record, where the blend may weigh them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from forecast_api.forecasts.forecaster import Forecaster, Params
from forecast_api.forecasts.recording import challenger_record
from forecast_api.forecasts.series import Series
from kronos_runner.wire import ChallengerState
from ledger.records import ForecastRecord


async def forecast_challengers(
    forecaster: Forecaster,
    states: Sequence[ChallengerState],
    series: Sequence[tuple[str, Series, int]],
    params: Params,
    issued: float,
    submit: Callable[[ForecastRecord], None],
) -> list[dict[str, np.ndarray]]:
    """Per (symbol, series, seed): {challenger name: close paths} of the challengers that
    forecast it; each forecast is submitted as its own record."""
    found: list[dict[str, np.ndarray]] = [{} for _ in series]
    sampler = forecaster.sampling(params.samples).model_dump(exclude={"samples"})
    lookback = forecaster.settings.kronos_lookback
    for state in states:
        paths = await forecaster.challenger_paths(
            [s for _, s, _ in series], params, [seed for *_, seed in series], state.name
        )
        for out, (symbol, s, seed), closes in zip(found, series, paths, strict=True):
            if closes is None:
                continue
            out[state.name] = closes
            submit(
                challenger_record(
                    state,
                    closes,
                    s.tail(lookback).candles,
                    symbol=symbol,
                    interval=params.interval,
                    seed=seed,
                    sampler=sampler,
                    trend_threshold=forecaster.settings.trend_threshold,
                    issued_at=issued,
                )
            )
    return found
