"""Forecasts for the API: per symbol through the prediction cache, stale answers, ledger records;
the forecasting itself (runner or fallback) is `forecast_api.forecasts.forecaster`.

One symbol's failure never affects another: per-symbol outcomes are a response or a
`ServiceError`. Model problems (not loaded, error, timeout, unusable output) fall back to the
statistical forecaster with the reason in the response; market-data problems fall back to the
latest cached forecast, labelled stale, or to a 503 when there is none.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from functools import partial

from data_sources import MarketDataError
from forecast_api.forecasts.challengers import forecast_challengers
from forecast_api.forecasts.distribution import DistributionRequest, with_distribution
from forecast_api.forecasts.forecaster import Forecaster, Outcome, Params
from forecast_api.forecasts.intervals import (
    next_close,
    time_to_live,
)
from forecast_api.forecasts.market import MarketData, MarketView, canonical
from forecast_api.forecasts.prediction_cache import Origin, PredictionCache, PredictionKey
from forecast_api.forecasts.recording import (
    Recorder,
    as_kind,
    blend_choice,
    blend_of,
    record_of,
    served,
)
from forecast_api.forecasts.series import Series
from forecast_api.http.errors import (
    DataUnavailableError,
    ServiceError,
    from_market_error,
)
from forecast_api.http.responses import (
    CachedForecast,
    Snapshot,
    predict_response,
)
from forecast_api.http.schemas import (
    Prediction,
    PredictResponse,
    iso_utc,
    now_iso,
)
from forecast_api.ops.runner_client import RunnerClient
from forecast_api.settings import ServiceSettings
from forecast_api.shared.state import SharedState
from forecasting.baselines import FallbackForecaster
from forecasting.calibration import BandCalibration
from forecasting.recalibration import Calibration
from kronos_runner.wire import ChallengerState
from ledger.records import ForecastRecord, derive_seed

logger = logging.getLogger(__name__)

LEASE_MARGIN_S = 15.0  # a computation's lock outlives the runner's timeout by this much
# Charges the path-steps (samples x horizon, summed) a computation would cost; raises to refuse.
Charge = Callable[[int], Awaitable[None]]


class PredictionService:
    """Forecasts per symbol, cached until the next candle (own candles: `forecaster`)."""

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
        challengers: Callable[[], Sequence[ChallengerState]] = tuple,
        clock: Callable[[], float] = time.time,
        shared: SharedState | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock  # Unix seconds: when the next candle closes is wall-clock time
        self.market = market
        self.forecaster = Forecaster(
            settings, runner, fallback=fallback, calibration=calibration, intervals=market.intervals
        )
        self.recorder = recorder
        self.checkpoint = checkpoint  # the digest of the runner's weights, as last reported
        self.challengers = challengers  # the challengers the runner has loaded, as last reported
        self.cache: PredictionCache[CachedForecast | ServiceError] = PredictionCache(
            settings.prediction_cache_size,
            shared=shared,
            lease_s=settings.kronos_timeout + LEASE_MARGIN_S,
        )

    # ---- /api/predict and /api/predict/batch --------------------------------------------------

    def _key(self, symbol: str, last_candle_ms: int, params: Params) -> PredictionKey:
        return PredictionKey(
            symbol=symbol,
            last_candle_ms=last_candle_ms,
            model_id=self.settings.kronos_model,
            horizon=params.horizon,
            samples=params.samples,
            seed=params.seed,
            sampling=tuple(self.forecaster.sampling(params.samples).model_dump().values()),
            interval=params.interval,
            blend=params.blend,
        )

    def _series(self, view: MarketView) -> Series:
        """The candles of `view` after the gap rule, as every forecaster of it sees them."""
        s = self.settings
        return Series.regularised(
            view.candles, max_fill=s.kronos_max_fill, min_context=s.min_context
        )

    async def _rivals(
        self, views: dict[PredictionKey, MarketView], params: Params
    ) -> dict[PredictionKey, dict]:
        """The loaded challengers' close paths per key (scheduled forecasts), each recorded."""
        states = list(self.challengers())
        if not states or self.recorder is None:
            return {}
        keys = list(views)
        series = [(k.symbol, self._series(views[k]), self._seed(k, views[k], params)) for k in keys]
        found = await forecast_challengers(
            self.forecaster, states, series, params, self.clock(), self.recorder.submit
        )
        return dict(zip(keys, found, strict=True))

    async def _forecasts(
        self, symbols: Sequence[str], params: Params, kind: str, charge: Charge | None = None
    ) -> list[tuple[CachedForecast, Origin] | BaseException]:
        """Per symbol: (forecast, where it came from) or why there is none. All missing
        forecasts are made in one runner call, single-flight per cache key; `charge` is asked
        first for the path-steps of the ones this worker would compute."""
        fetched = await self.market.views(symbols, params.interval)
        found: list[tuple[CachedForecast, Origin] | BaseException] = list(fetched)
        views: dict[PredictionKey, MarketView] = {}
        wanted: list[tuple[int, PredictionKey]] = []
        for index, view in enumerate(fetched):
            if not isinstance(view, BaseException):
                key = self._key(view.symbol, view.last_candle.value // 1_000_000, params)
                views[key] = view
                wanted.append((index, key))
        if wanted:
            rivals = await self._rivals(views, params) if kind == "scheduled" else {}
            compute = partial(self._compute, views=views, params=params, kind=kind, rivals=rivals)
            admit = None
            if charge is not None:
                admit = partial(_admit, charge=charge, cost=params.samples * params.horizon)
            keys = [key for _, key in wanted]
            values = await self.cache.get_or_compute_many(keys, compute, admit)
            for (index, _), (value, origin) in zip(wanted, values, strict=True):
                found[index] = value if isinstance(value, ServiceError) else (value, origin)
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
        charge: Charge | None = None,
        blend: bool = True,
    ) -> list[PredictResponse | ServiceError]:
        """One response or error per symbol; all missing forecasts in one runner call, cached
        and single-flight per (symbol, interval, candle, parameters); `charge` may refuse the
        computation (its error is raised); `blend` False serves the model alone (calibrated on
        its own record)."""
        params = replace(self.forecaster.params(horizon, samples, seed, interval), blend=blend)
        asked = distribution or DistributionRequest()
        found = await self._forecasts(symbols, params, "requested", charge)
        return [
            self._stale_or_error(f, symbol, params, asked)
            if isinstance(f, BaseException)
            else _respond(f[0].symbol, f[0], f[1], f[0].snapshot, asked)
            for symbol, f in zip(symbols, found, strict=True)
        ]

    async def schedule(self, symbols: Sequence[str], interval: str) -> list[CachedForecast | str]:
        """The scheduled forecasts of the latest candle with the default parameters: made (or
        taken from the cache, where a client's request made the same forecast) and recorded as
        scheduled. Per symbol the forecast, or why it failed."""
        params = self.forecaster.params(None, None, None, interval)
        found = await self._forecasts(symbols, params, "scheduled")
        made: list[CachedForecast | str] = []
        for f in found:
            if isinstance(f, BaseException):
                made.append(f"{type(f).__name__}: {f}")
                continue
            value, origin = f
            if origin != "miss" and self.recorder is not None and value.record is not None:
                self.recorder.submit(as_kind(value.record, "scheduled"))
            made.append(value)
        return made

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
        rivals: dict[PredictionKey, dict],
    ) -> list[tuple[CachedForecast | ServiceError, float]]:
        """The prediction cache's fill: forecast the missing keys, each with its time to live;
        every forecast made is recorded in the ledger (as `kind`), blended with `rivals` (the
        challengers' paths) where the blend weighs them."""
        series = [self._series(views[key]) for key in keys]
        seeds = [self._seed(key, views[key], params) for key in keys]
        done = await self.forecaster.forecast_series(
            series, params, seeds=seeds, scheduled=kind == "scheduled"
        )
        generated, issued = now_iso(), self.clock()
        values: list[tuple[CachedForecast | ServiceError, float]] = []
        for key, outcome in zip(keys, done, strict=True):
            if isinstance(outcome, ServiceError):  # unusable market data: not cached
                values.append((DataUnavailableError(f"{key.symbol}: {outcome.message}"), 0))
                continue
            view = views[key]
            prediction, record, rolling = self._recorded(
                key.symbol, outcome, params, kind, issued, rivals.get(key, {})
            )
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
        self,
        symbol: str,
        outcome: Outcome,
        params: Params,
        kind: str,
        issued: float,
        rivals: dict,
    ) -> tuple[Prediction, ForecastRecord | None, Calibration | None]:
        """The prediction as served (the ledger's blend and calibration applied), its ledger
        record (submitted to the recorder) and the calibration used."""
        if outcome.closes is None or outcome.context is None:
            return outcome.prediction, None, None
        fitted, unblended = blend_choice(
            self.recorder, outcome.from_model, params.interval, params.blend
        )
        blend = blend_of(fitted, rivals)
        rolling = None
        if self.recorder is not None and outcome.from_model:
            rolling = self.recorder.calibration(params.interval, blended=blend is not None)
        record = record_of(
            outcome.prediction,
            outcome.closes,
            outcome.context,
            symbol=symbol,
            interval=params.interval,
            kind=kind,
            sampler=self.forecaster.sampling(params.samples).model_dump(exclude={"samples"}),
            revision=self.settings.kronos_model_revision,
            checkpoint_digest=self.checkpoint(),
            trend_threshold=self.settings.trend_threshold,
            calibration=rolling,
            issued_at=issued,
            blend=blend,
            challengers=rivals if blend is not None else None,
        )
        if self.recorder is not None:
            self.recorder.submit(record)
        return served(outcome.prediction, record, rolling, blend, unblended), record, rolling

    async def predict(
        self,
        symbol: str,
        horizon: int | None,
        samples: int | None,
        seed: int | None,
        *,
        interval: str | None = None,
        distribution: DistributionRequest | None = None,
        charge: Charge | None = None,
        blend: bool = True,
    ) -> PredictResponse:
        """`GET /api/predict` for one symbol; raises the symbol's `ServiceError`."""
        outcome = (
            await self.predict_symbols(
                [symbol],
                horizon,
                samples,
                seed,
                interval=interval,
                distribution=distribution,
                charge=charge,
                blend=blend,
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
        return _respond(value.symbol, value, "hit", value.snapshot.aged(age), wanted)


async def _admit(missing: list[PredictionKey], *, charge: Charge, cost: int) -> None:
    """Charge `cost` path-steps per forecast about to be computed."""
    await charge(cost * len(missing))


def _respond(
    symbol: str, value: CachedForecast, origin: str, snap: Snapshot, wanted: DistributionRequest
) -> PredictResponse:
    """The response for a cached forecast, with the distribution fields `wanted` added."""
    response = predict_response(symbol, value, origin, snap)
    if wanted and value.closes is not None:
        response.prediction = with_distribution(
            value.prediction, value.closes, wanted, value.calibration, value.rolling, value.record
        )
    return response
