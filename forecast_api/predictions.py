"""Forecasts for the API: the runner (or the fallback), the prediction cache, stale answers.

One symbol's failure never affects another: per-symbol outcomes are a response or a
`ServiceError`. Model problems (not loaded, error, timeout, unusable output) fall back to the
statistical forecaster with the reason in the response; market-data problems fall back to the
latest cached forecast, labelled stale, or to a 503 when there is none.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import partial

import numpy as np
import pandas as pd

from data_sources import MarketDataError
from forecast_api.distribution import DistributionRequest, with_distribution
from forecast_api.errors import (
    DataUnavailableError,
    InvalidRequestError,
    ServiceError,
    from_market_error,
)
from forecast_api.intervals import calibration_for, checked_interval, next_close, time_to_live
from forecast_api.market import MarketData, MarketView, Snapshot, canonical
from forecast_api.prediction_cache import PredictionCache, PredictionKey
from forecast_api.recording import Recorder, as_kind, record_of, served
from forecast_api.responses import CachedForecast, ForecastMeta, predict_response, prediction_from
from forecast_api.runner_client import RunnerClient
from forecast_api.schemas import (
    ForecastRequest,
    ForecastResponse,
    Prediction,
    PredictResponse,
    iso_utc,
    now_iso,
)
from forecast_api.series import Series
from forecast_api.settings import ServiceSettings
from forecasting.baselines import FallbackForecaster
from forecasting.calibration import BandCalibration
from forecasting.forecast import Forecast
from forecasting.recalibration import Calibration
from kronos_runner.wire import RunnerItem, RunnerResult, SamplingParams, forecast_problem
from ledger.records import ForecastRecord, derive_seed

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Params:
    """Resolved request parameters of a forecast."""

    horizon: int
    samples: int
    seed: int | None
    interval: str = "1h"


@dataclass(frozen=True)
class Outcome:
    """One series' summarised forecast, whether the Kronos model produced it, its close paths
    (samples, horizon) and the band calibration its summary used."""

    prediction: Prediction
    from_model: bool
    closes: np.ndarray | None = None
    calibration: BandCalibration | None = None
    context: pd.DataFrame | None = None  # the candles its forecaster saw


class PredictionService:
    """Forecasts per symbol or for caller-supplied candles, cached until the next candle."""

    def __init__(
        self,
        settings: ServiceSettings,
        market: MarketData,
        runner: RunnerClient,
        *,
        fallback: FallbackForecaster | None = None,
        calibration: BandCalibration | None = None,
        recorder: Recorder | None = None,
        checkpoint: Callable[[], str | None] = lambda: None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.clock = clock  # Unix seconds: when the next candle closes is wall-clock time
        self.market = market
        self.runner = runner
        self.fallback = fallback or FallbackForecaster()
        self.calibration = calibration
        self.recorder = recorder
        self.checkpoint = checkpoint  # the digest of the runner's weights, as last reported
        self.cache: PredictionCache[CachedForecast | ServiceError] = PredictionCache(
            settings.prediction_cache_size
        )

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
        interval = checked_interval(s, interval)
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

    async def _run_model(self, items: list[RunnerItem]) -> list[RunnerResult]:
        """Runner results per item; a timeout or transport error becomes a per-item failure."""
        try:
            raw = await asyncio.wait_for(
                self.runner.forecast(items), timeout=self.settings.kronos_timeout
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

    async def forecast_series(
        self,
        series: Sequence[Series],
        params: Params,
        *,
        seeds: Sequence[int | None] | None = None,
        invalid_is_error: bool = False,
    ) -> list[Outcome | ServiceError]:
        """Forecast every series in one runner call: per series its outcome, or the error that
        series alone gets. The model sees the last KRONOS_LOOKBACK candles of each usable series;
        a series the gap rule left unusable goes to the fallback without a runner call. A series
        the runner calls invalid is a 422 when `invalid_is_error` (the caller sent it), else it
        falls back like any model failure. `seeds` (per series) default to the request's."""
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
            for index, result in zip(usable, await self._run_model(items), strict=True):
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
            return result.forecast(), replace(meta, gaps_filled=seen.gaps_filled)
        try:
            [forecast] = self.fallback.forecast(
                [series.candles], params.horizon, samples=params.samples, seed=params.seed
            )
        except ValueError as exc:
            why = str(exc) if series.unusable is None else f"{series.unusable} ({exc})"
            return DataUnavailableError(f"the candles cannot be forecast: {why}")
        meta = ForecastMeta("fallback", "fallback", None, params.samples, params.seed, result.error)
        return forecast, replace(meta, gaps_filled=series.gaps_filled)

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

    # ---- /api/predict and /api/predict/batch --------------------------------------------------

    def _key(self, symbol: str, last_candle_ms: int, params: Params) -> PredictionKey:
        return PredictionKey(
            symbol=symbol,
            last_candle_ms=last_candle_ms,
            model_id=self.settings.kronos_model,
            horizon=params.horizon,
            samples=params.samples,
            seed=params.seed,
            sampling=tuple(self.sampling(params.samples).model_dump().values()),
            interval=params.interval,
        )

    async def _forecasts(
        self, symbols: Sequence[str], params: Params, kind: str
    ) -> list[tuple[CachedForecast, bool] | BaseException]:
        """Per symbol: (forecast, whether it came from the cache) or why there is none. All
        missing forecasts are made in one runner call, single-flight per cache key."""
        fetched = await self.market.views(symbols, params.interval)
        found: list[tuple[CachedForecast, bool] | BaseException] = list(fetched)
        views: dict[PredictionKey, MarketView] = {}
        wanted: list[tuple[int, PredictionKey]] = []
        for index, view in enumerate(fetched):
            if not isinstance(view, BaseException):
                key = self._key(view.symbol, view.last_candle.value // 1_000_000, params)
                views[key] = view
                wanted.append((index, key))
        if wanted:
            compute = partial(self._compute, views=views, params=params, kind=kind)
            values = await self.cache.get_or_compute_many([key for _, key in wanted], compute)
            for (index, _), (value, cached) in zip(wanted, values, strict=True):
                found[index] = value if isinstance(value, ServiceError) else (value, cached)
        return found

    async def predict_symbols(
        self,
        symbols: Sequence[str],
        horizon: int | None,
        samples: int | None,
        seed: int | None,
        *,
        interval: str | None = None,
        distribution: DistributionRequest | None = None,
    ) -> list[PredictResponse | ServiceError]:
        """One response or error per symbol; all missing forecasts in one runner call, cached
        and single-flight per (symbol, interval, candle, parameters)."""
        params = self.params(horizon, samples, seed, interval)
        asked = distribution or DistributionRequest()
        found = await self._forecasts(symbols, params, "requested")
        return [
            self._stale_or_error(f, symbol, params, asked)
            if isinstance(f, BaseException)
            else _respond(f[0].symbol, f[0], f[1], f[0].snapshot, asked)
            for symbol, f in zip(symbols, found, strict=True)
        ]

    async def schedule(self, symbols: Sequence[str], interval: str) -> list[str | None]:
        """The scheduled forecasts of the latest candle with the default parameters: made (or
        taken from the cache, where a client's request made the same forecast) and recorded as
        scheduled. Per symbol None, or why it failed."""
        params = self.params(None, None, None, interval)
        found = await self._forecasts(symbols, params, "scheduled")
        failed: list[str | None] = []
        for f in found:
            if isinstance(f, BaseException):
                failed.append(f"{type(f).__name__}: {f}")
                continue
            value, cached = f
            if cached and self.recorder is not None and value.record is not None:
                self.recorder.submit(as_kind(value.record, "scheduled"))
            failed.append(None)
        return failed

    def _seed(self, key: PredictionKey, view: MarketView, params: Params) -> int:
        """The request's seed, else one fixed by symbol, interval and origin: a default forecast
        is the same in every worker and replica, and reproducible from the ledger."""
        if params.seed is not None:
            return params.seed
        return derive_seed(key.symbol, params.interval, view.last_candle)

    async def _compute(
        self,
        keys: list[PredictionKey],
        *,
        views: dict[PredictionKey, MarketView],
        params: Params,
        kind: str,
    ) -> list[tuple[CachedForecast | ServiceError, float]]:
        """The prediction cache's fill: forecast the missing keys, each with its time to live;
        every forecast made is recorded in the ledger (as `kind`)."""
        s = self.settings
        series = [
            Series.regularised(
                views[key].candles, max_fill=s.kronos_max_fill, min_context=s.min_context
            )
            for key in keys
        ]
        seeds = [self._seed(key, views[key], params) for key in keys]
        done = await self.forecast_series(series, params, seeds=seeds)
        generated, issued = now_iso(), self.clock()
        values: list[tuple[CachedForecast | ServiceError, float]] = []
        for key, outcome in zip(keys, done, strict=True):
            if isinstance(outcome, ServiceError):  # unusable market data: not cached
                values.append((DataUnavailableError(f"{key.symbol}: {outcome.message}"), 0))
                continue
            view = views[key]
            prediction, record, rolling = self._recorded(key.symbol, outcome, params, kind, issued)
            value = CachedForecast(
                prediction,
                generated,
                iso_utc(view.last_candle),
                view.snapshot,
                outcome.closes,
                outcome.calibration,
                params.interval,
                iso_utc(next_close(view.last_candle, params.interval)),
                symbol=key.symbol,
                record=record,
                rolling=rolling,
            )
            ttl = time_to_live(
                view.last_candle, params.interval, self.clock(), self.settings.prediction_min_ttl
            )
            if not outcome.from_model:
                ttl = min(ttl, self.settings.fallback_cache_ttl)
            values.append((value, ttl))
        return values

    def _recorded(
        self, symbol: str, outcome: Outcome, params: Params, kind: str, issued: float
    ) -> tuple[Prediction, ForecastRecord | None, Calibration | None]:
        """The prediction as served (the ledger's calibration applied), its ledger record
        (submitted to the recorder) and the calibration used."""
        if outcome.closes is None or outcome.context is None:
            return outcome.prediction, None, None
        rolling = None
        if self.recorder is not None and outcome.from_model:
            rolling = self.recorder.calibration(params.interval)
        record = record_of(
            outcome.prediction,
            outcome.closes,
            outcome.context,
            symbol=symbol,
            interval=params.interval,
            kind=kind,
            sampler=self.sampling(params.samples).model_dump(exclude={"samples"}),
            revision=self.settings.kronos_model_revision,
            checkpoint_digest=self.checkpoint(),
            trend_threshold=self.settings.trend_threshold,
            calibration=rolling,
            issued_at=issued,
        )
        if self.recorder is not None:
            self.recorder.submit(record)
        return served(outcome.prediction, record, rolling), record, rolling

    async def predict(
        self,
        symbol: str,
        horizon: int | None,
        samples: int | None,
        seed: int | None,
        *,
        interval: str | None = None,
        distribution: DistributionRequest | None = None,
    ) -> PredictResponse:
        """`GET /api/predict` for one symbol; raises the symbol's `ServiceError`."""
        outcome = (
            await self.predict_symbols(
                [symbol], horizon, samples, seed, interval=interval, distribution=distribution
            )
        )[0]
        if isinstance(outcome, ServiceError):
            raise outcome
        return outcome

    def _stale_or_error(
        self, exc: BaseException, symbol: str, params: Params, wanted: DistributionRequest
    ) -> ServiceError | PredictResponse:
        """A market-data failure: the latest cached forecast, labelled stale, or the error."""
        if isinstance(exc, MarketDataError):
            error = from_market_error(exc)
        elif isinstance(exc, ServiceError):
            error = exc
        else:
            logger.exception("unexpected error fetching %s", symbol, exc_info=exc)
            error = DataUnavailableError(f"market data unavailable: {type(exc).__name__}")
        if error.status != 503:
            return error
        key = self._key(canonical(symbol), 0, params)
        latest = self.cache.latest(key, self.settings.stale_max_age)
        if latest is None:
            return error
        value, age = latest
        return _respond(value.symbol, value, True, value.snapshot.aged(age), wanted)

    # ---- /api/forecast ------------------------------------------------------------------------

    async def forecast_candles(self, request: ForecastRequest) -> ForecastResponse:
        """`POST /api/forecast`: forecast the caller's own candles (not cached)."""
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


def _respond(
    symbol: str, value: CachedForecast, cached: bool, snap: Snapshot, wanted: DistributionRequest
) -> PredictResponse:
    """The response for a cached forecast, with the distribution fields `wanted` added."""
    response = predict_response(symbol, value, cached, snap)
    if wanted and value.closes is not None:
        response.prediction = with_distribution(
            value.prediction, value.closes, wanted, value.calibration, value.rolling
        )
    return response
