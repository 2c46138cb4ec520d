"""Forecasts of candle series: one runner call for many series, the fallback where the model's
answer is unusable (with the reason), each summarised into the response's `prediction`; and
`POST /api/forecast`, the caller's own candles (not cached)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from forecast_api.forecasts.intervals import calibration_for, checked_interval
from forecast_api.forecasts.series import Series
from forecast_api.http.errors import DataUnavailableError, InvalidRequestError, ServiceError
from forecast_api.http.forecast_schemas import ForecastRequest, ForecastResponse
from forecast_api.http.responses import ForecastMeta, prediction_from
from forecast_api.http.schemas import Prediction, iso_utc, now_iso
from forecast_api.ops.runner_client import RunnerClient
from forecast_api.settings import ServiceSettings
from forecasting.baselines import FallbackForecaster
from forecasting.calibration import BandCalibration
from forecasting.forecast import Forecast
from kronos_runner.wire import RunnerItem, RunnerResult, SamplingParams, forecast_problem

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Params:
    """Resolved request parameters of a forecast."""

    horizon: int
    samples: int
    seed: int | None
    interval: str = "1h"
    blend: bool = True  # serve the ledger's blend (False: the model alone)


@dataclass(frozen=True)
class Outcome:
    """One series' summarised forecast, whether the Kronos model produced it, its close paths
    (samples, horizon) and the band calibration its summary used."""

    prediction: Prediction
    from_model: bool
    closes: np.ndarray | None = None
    calibration: BandCalibration | None = None
    context: pd.DataFrame | None = None  # the candles its forecaster saw


class Forecaster:
    """Forecasts series on the runner, or the fallback; resolves request parameters."""

    def __init__(
        self,
        settings: ServiceSettings,
        runner: RunnerClient,
        *,
        fallback: FallbackForecaster | None = None,
        calibration: BandCalibration | None = None,
        intervals: Sequence[str] | None = None,
    ) -> None:
        self.settings = settings
        self.intervals = settings.forecast_intervals if intervals is None else list(intervals)
        self.runner = runner
        self.fallback = fallback or FallbackForecaster()
        self.calibration = calibration

    # ---- parameters -------------------------------------------------------------------------

    def params(
        self,
        horizon: int | None,
        samples: int | None,
        seed: int | None,
        interval: str | None = None,
    ) -> Params:
        """Defaults and limits for interval, horizon (steps of it) and samples (422 outside)."""
        s = self.settings
        interval = checked_interval(self.intervals, interval, s.forecast_intervals)
        limit = s.max_horizon(interval)
        horizon = s.interval_horizon(interval) if horizon is None else horizon
        samples = s.kronos_samples if samples is None else samples
        if not 1 <= horizon <= limit:
            raise InvalidRequestError(f"horizon must be between 1 and {limit} at {interval}")
        if not 1 <= samples <= s.kronos_max_samples:
            raise InvalidRequestError(f"samples must be between 1 and {s.kronos_max_samples}")
        return Params(horizon, samples, seed, interval)

    def sampling(self, samples: int) -> SamplingParams:
        """Sampling parameters for a request: its path count plus the configured sampler."""
        s = self.settings
        return SamplingParams(
            samples=samples,
            temperature=s.kronos_temperature,
            top_k=s.kronos_top_k,
            top_p=s.kronos_top_p,
        )

    # ---- forecasting ------------------------------------------------------------------------

    async def _run_model(self, items: list[RunnerItem], scheduled: bool) -> list[RunnerResult]:
        """Runner results per item; a timeout or transport error becomes a per-item failure."""
        try:
            raw = await asyncio.wait_for(
                self.runner.forecast(items, scheduled=scheduled),
                timeout=self.settings.kronos_timeout,
            )
            results = [
                r if isinstance(r, RunnerResult) else RunnerResult.model_validate(r) for r in raw
            ]
            if len(results) != len(items):
                raise RuntimeError("runner returned a wrong number of results")
            return results
        except asyncio.TimeoutError:
            reason = f"model timed out after {self.settings.kronos_timeout:g} s"
        except Exception as exc:  # runner unreachable, overloaded (503), crashed...
            reason = f"runner error: {type(exc).__name__}: {exc}"
        logger.warning("falling back: %s", reason)
        return [RunnerResult.failure("failed", reason) for _ in items]

    async def challenger_paths(
        self, series: Sequence[Series], params: Params, seeds: Sequence[int], name: str
    ) -> list[np.ndarray | None]:
        """A challenger's close paths (samples, horizon) of each series, forecast like the
        model's (the same candles, sampler and seeds); None where the series is unusable or the
        challenger failed (a challenger has no fallback)."""
        sampling = self.sampling(params.samples)
        usable = [i for i, s in enumerate(series) if s.unusable is None]
        items = [
            RunnerItem.from_frame(
                series[i].tail(self.settings.kronos_lookback).candles,
                params.horizon,
                sampling,
                seeds[i],
            ).model_copy(update={"model": name})
            for i in usable
        ]
        paths: list[np.ndarray | None] = [None] * len(series)
        for i, r in zip(usable, await self._run_model(items, True) if items else [], strict=True):
            if r.ok and forecast_problem(r.forecast()) is None:
                paths[i] = r.forecast().closes
        return paths

    async def forecast_series(
        self,
        series: Sequence[Series],
        params: Params,
        *,
        seeds: Sequence[int | None] | None = None,
        invalid_is_error: bool = False,
        scheduled: bool = False,
    ) -> list[Outcome | ServiceError]:
        """Forecast every series in one runner call: per series its outcome, or the error that
        series alone gets. The model sees the last KRONOS_LOOKBACK candles of each usable series;
        a series the gap rule left unusable goes to the fallback without a runner call. A series
        the runner calls invalid is a 422 when `invalid_is_error` (the caller sent it), else it
        falls back like any model failure. `seeds` (per series) default to the request's.
        `scheduled` forecasts (the ledger's) yield to interactive ones in the runner."""
        seeds = [params.seed] * len(series) if seeds is None else list(seeds)
        seen = [s.tail(self.settings.kronos_lookback) for s in series]
        usable = [i for i, s in enumerate(series) if s.unusable is None]
        sampling = self.sampling(params.samples)
        items = [
            RunnerItem.from_frame(seen[i].candles, params.horizon, sampling, seeds[i])
            for i in usable
        ]
        results = [RunnerResult.failure("invalid", s.unusable or "") for s in series]
        if items:
            done = await self._run_model(items, scheduled)
            for index, result in zip(usable, done, strict=True):
                results[index] = result
        return [
            self._outcome(s, view, replace(params, seed=seed), result, invalid_is_error)
            for s, view, result, seed in zip(series, seen, results, seeds, strict=True)
        ]

    def _produce(
        self, series: Series, seen: Series, params: Params, result: RunnerResult
    ) -> tuple[Forecast, ForecastMeta] | ServiceError:
        """The runner's forecast, or the fallback's when it is unusable, and who made it."""
        s = self.settings
        if result.ok and (problem := forecast_problem(result.forecast())) is not None:
            result = RunnerResult.failure(*problem)  # checked here too: the runner is remote
        if result.ok:
            meta = ForecastMeta(
                "kronos", s.kronos_model, s.kronos_tokenizer, params.samples, params.seed
            )
            trained = result.trained_weights is not False  # None: a runner that cannot tell
            return result.forecast(), replace(
                meta, gaps_filled=seen.gaps_filled, trained_weights=trained
            )
        try:
            [forecast] = self.fallback.forecast(
                [series.candles], params.horizon, samples=params.samples, seed=params.seed
            )
        except ValueError as exc:
            why = str(exc) if series.unusable is None else f"{series.unusable} ({exc})"
            return DataUnavailableError(f"the candles cannot be forecast: {why}")
        meta = ForecastMeta("fallback", "fallback", None, params.samples, params.seed, result.error)
        return forecast, replace(meta, gaps_filled=series.gaps_filled, trained_weights=None)

    def _outcome(
        self,
        series: Series,
        seen: Series,
        params: Params,
        result: RunnerResult,
        invalid_is_error: bool,
    ) -> Outcome | ServiceError:
        """Summarise the runner's result, or the fallback's forecast when it is unusable."""
        if invalid_is_error and not result.ok and result.error_kind == "invalid":
            return InvalidRequestError(f"the candles cannot be forecast: {result.error}")
        produced = self._produce(series, seen, params, result)
        if isinstance(produced, ServiceError):
            return produced
        forecast, meta = produced
        with np.errstate(over="ignore", invalid="ignore"):
            if not np.isfinite(forecast.paths.mean(axis=0)).all():
                return InvalidRequestError("the candles are too extreme to forecast")
        step = forecast.timestamps[0] - pd.Timestamp(series.candles["timestamp"].iloc[-1])
        calibration = calibration_for(self.calibration, step) if meta.model == "kronos" else None
        prediction = prediction_from(
            forecast,
            float(series.candles["close"].iloc[-1]),
            meta,
            step=step,
            trend_threshold=self.settings.trend_threshold,
            calibration=calibration,
        )
        context = seen.candles if meta.model == "kronos" else series.candles
        return Outcome(prediction, meta.model == "kronos", forecast.closes, calibration, context)

    # ---- /api/forecast ------------------------------------------------------------------------

    async def forecast_candles(
        self,
        request: ForecastRequest,
        charge: Callable[[int], Awaitable[None]] | None = None,
    ) -> ForecastResponse:
        """`POST /api/forecast`: forecast the caller's own candles (not cached); `charge` is
        asked for its path-steps first and may refuse (raise)."""
        params = self.params(request.horizon, request.samples, request.seed)
        if len(request.candles) > self.settings.forecast_max_candles:
            raise InvalidRequestError(
                f"at most {self.settings.forecast_max_candles} candles per request"
            )
        frame = request.frame()
        stamps = pd.DatetimeIndex(frame["timestamp"])
        last, step = int(stamps.asi8[-1]), int(stamps.asi8[1] - stamps.asi8[0])
        if last + step * params.horizon > pd.Timestamp.max.value:
            raise InvalidRequestError(f"the forecast would end after {pd.Timestamp.max}")
        if charge is not None:
            await charge(params.samples * params.horizon)
        [outcome] = await self.forecast_series([Series.given(frame)], params, invalid_is_error=True)
        if isinstance(outcome, ServiceError):
            raise outcome
        return ForecastResponse(
            prediction=outcome.prediction,
            lastClose=float(frame["close"].iloc[-1]),
            lastCandle=iso_utc(stamps[-1]),
            intervalSeconds=step / 1e9,
            timestamp=now_iso(),
            generatedAt=now_iso(),
        )
