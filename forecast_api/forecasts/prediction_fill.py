"""The prediction cache's fill: forecast the missing keys in one runner call, each as a
`CachedForecast` with its time to live (shorter for the fallback), the ledger's blend and
calibration applied and its record submitted to the ledger. A series with unusable market data
is a `DataUnavailableError`, not cached."""

from __future__ import annotations

from collections.abc import Callable

from forecast_api.forecasts.forecaster import Forecaster, Outcome, Params
from forecast_api.forecasts.intervals import next_close, time_to_live
from forecast_api.forecasts.market import MarketView
from forecast_api.forecasts.prediction_cache import PredictionKey
from forecast_api.forecasts.prediction_inputs import forecast_seed, view_series
from forecast_api.forecasts.recording import Recorder, blend_choice, blend_of, record_of, served
from forecast_api.http.errors import DataUnavailableError, ServiceError
from forecast_api.http.responses import CachedForecast
from forecast_api.http.schemas import Prediction, iso_utc, now_iso
from forecast_api.settings import ServiceSettings
from forecasting.recalibration import Calibration
from ledger.records import ForecastRecord


class PredictionFill:
    """Makes the forecasts the prediction cache is missing, and records them."""

    def __init__(
        self,
        settings: ServiceSettings,
        forecaster: Forecaster,
        recorder: Recorder | None,
        checkpoint: Callable[[], str | None],
    ) -> None:
        self.settings = settings
        self.forecaster = forecaster
        self.recorder = recorder
        self.checkpoint = checkpoint  # the digest of the runner's weights, as last reported

    async def compute(
        self,
        keys: list[PredictionKey],
        *,
        views: dict[PredictionKey, MarketView],
        params: Params,
        kind: str,
        rivals: dict[PredictionKey, dict],
        clock: Callable[[], float],
    ) -> list[tuple[CachedForecast | ServiceError, float]]:
        """Forecast `keys` (recorded as `kind`, blended with `rivals`), each with its TTL."""
        series = [view_series(self.settings, views[key]) for key in keys]
        seeds = [forecast_seed(key, views[key], params) for key in keys]
        done = await self.forecaster.forecast_series(
            series, params, seeds=seeds, scheduled=kind == "scheduled"
        )
        generated, issued = now_iso(), clock()
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
                view.last_candle, params.interval, clock(), self.settings.prediction_min_ttl
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
        """The prediction as served, its ledger record (submitted) and the calibration used."""
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
