"""Forecasts for the API, per symbol through the prediction cache: `PredictionService` is the
entry point of `/api/predict`, `/api/predict/batch` and the scheduled forecasts.

One symbol's failure never affects another: per-symbol outcomes are a response or a
`ServiceError`. Model problems (not loaded, error, timeout, unusable output) fall back to the
statistical forecaster with the reason in the response; market-data problems fall back to the
latest cached forecast, labelled stale, or to a 503 when there is none. The pieces: cache keys,
seeds and series (`prediction_inputs`), the cache's fill and ledger records (`prediction_fill`),
responses and stale answers (`answers`); the forecasting itself (runner or fallback) is
`forecaster`.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from functools import partial

from forecast_api.forecasts.answers import respond, stale_or_error
from forecast_api.forecasts.challengers import forecast_challengers
from forecast_api.forecasts.distribution import DistributionRequest
from forecast_api.forecasts.forecaster import Forecaster, Params
from forecast_api.forecasts.market import MarketData, MarketView
from forecast_api.forecasts.prediction_cache import Origin, PredictionCache, PredictionKey
from forecast_api.forecasts.prediction_fill import PredictionFill
from forecast_api.forecasts.prediction_inputs import forecast_seed, prediction_key, view_series
from forecast_api.forecasts.recording import Recorder, as_kind
from forecast_api.http.errors import ServiceError
from forecast_api.http.responses import CachedForecast
from forecast_api.http.schemas import PredictResponse
from forecast_api.ops.runner_client import RunnerClient
from forecast_api.settings import ServiceSettings
from forecast_api.shared.state import SharedState
from forecasting.baselines import FallbackForecaster
from forecasting.calibration import BandCalibration
from kronos_runner.wire import ChallengerState

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
        self.fill = PredictionFill(settings, self.forecaster, recorder, checkpoint)
        self.challengers = challengers  # the challengers the runner has loaded, as last reported
        self.cache: PredictionCache[CachedForecast | ServiceError] = PredictionCache(
            settings.prediction_cache_size,
            shared=shared,
            lease_s=settings.kronos_timeout + LEASE_MARGIN_S,
        )

    def _key(self, symbol: str, last_candle_ms: int, params: Params) -> PredictionKey:
        """The cache key of `symbol`'s forecast from the candle closing at `last_candle_ms`."""
        return prediction_key(self.settings, self.forecaster, symbol, last_candle_ms, params)

    def _latest(self, symbol: str, params: Params) -> tuple[CachedForecast, float] | None:
        """The latest cached forecast of `symbol` with `params` (up to `STALE_MAX_AGE` old)."""
        return self.cache.latest(self._key(symbol, 0, params), self.settings.stale_max_age)

    async def _rivals(
        self, views: dict[PredictionKey, MarketView], params: Params
    ) -> dict[PredictionKey, dict]:
        """The loaded challengers' close paths per key (scheduled forecasts), each recorded."""
        states = list(self.challengers())
        if not states or self.recorder is None:
            return {}
        keys = list(views)
        series = [
            (k.symbol, view_series(self.settings, views[k]), forecast_seed(k, views[k], params))
            for k in keys
        ]
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
            compute = partial(
                self.fill.compute,
                views=views,
                params=params,
                kind=kind,
                rivals=rivals,
                clock=self.clock,
            )
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
        latest = partial(self._latest, params=params)
        found = await self._forecasts(symbols, params, "requested", charge)
        return [
            stale_or_error(f, symbol, latest, asked)
            if isinstance(f, BaseException)
            else respond(f[0], f[1], f[0].snapshot, asked)
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


async def _admit(missing: list[PredictionKey], *, charge: Charge, cost: int) -> None:
    """Charge `cost` path-steps per forecast about to be computed."""
    await charge(cost * len(missing))
