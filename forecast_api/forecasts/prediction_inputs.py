"""What a forecast of one market view is made from and cached under: its prediction-cache key,
its seed and its candle series after the gap rule."""

from __future__ import annotations

from forecast_api.forecasts.forecaster import Forecaster, Params
from forecast_api.forecasts.market import MarketView
from forecast_api.forecasts.prediction_cache import PredictionKey
from forecast_api.forecasts.series import Series
from forecast_api.settings import ServiceSettings
from ledger.records import derive_seed


def prediction_key(
    settings: ServiceSettings,
    forecaster: Forecaster,
    symbol: str,
    last_candle_ms: int,
    params: Params,
) -> PredictionKey:
    """The cache key of `symbol`'s forecast from the candle closing at `last_candle_ms`."""
    return PredictionKey(
        symbol=symbol,
        last_candle_ms=last_candle_ms,
        model_id=settings.kronos_model,
        horizon=params.horizon,
        samples=params.samples,
        seed=params.seed,
        sampling=tuple(forecaster.sampling(params.samples).model_dump().values()),
        interval=params.interval,
        blend=params.blend,
    )


def view_series(settings: ServiceSettings, view: MarketView) -> Series:
    """The candles of `view` after the gap rule, as every forecaster of it sees them."""
    return Series.regularised(
        view.candles, max_fill=settings.kronos_max_fill, min_context=settings.min_context
    )


def forecast_seed(key: PredictionKey, view: MarketView, params: Params) -> int:
    """The request's seed, else one fixed by symbol, interval and origin (same everywhere)."""
    if params.seed is not None:
        return params.seed
    return derive_seed(key.symbol, params.interval, view.last_candle)
