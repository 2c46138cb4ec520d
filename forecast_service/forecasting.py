"""Orchestration: candles -> Kronos runner (or the fallback) -> summary -> response.

The engine never lets one symbol's failure affect another: per-symbol outcomes are either a
response or a `ServiceError`. Model problems (not loaded, error, timeout, non-finite output) fall
back to the statistical forecaster with the reason in the response; market-data problems fall back
to the latest cached forecast, labelled stale, or to a 503 when there is none.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, TypeVar

import numpy as np
import pandas as pd

from data_sources import MarketDataError, MarketDataSource, Quote, UnknownSymbolError
from forecast_service.errors import (
    DataUnavailableError,
    InvalidRequestError,
    ServiceError,
    from_market_error,
)
from forecast_service.fallback import FallbackForecaster
from forecast_service.prediction_cache import PredictionCache, PredictionKey
from forecast_service.schemas import (
    AssetEntry,
    AssetsResponse,
    DataSourceHealth,
    ForecastRequest,
    ForecastResponse,
    HealthResponse,
    HistoryData,
    HistoryResponse,
    ModelHealth,
    Prediction,
    PredictResponse,
    RunnerItem,
    RunnerResult,
    RunnerStatus,
    SamplingParams,
    iso_utc,
)
from forecast_service.settings import ServiceSettings
from forecast_service.summary import BAND_LEVEL, ForecastMeta, summarize
from kronos_runner import FEATURES, Forecast

if TYPE_CHECKING:
    from kronos_runner.calibration import BandCalibration

logger = logging.getLogger(__name__)

PRICE_FEATURES = ("open", "high", "low", "close")
INTERVAL = "1h"
INTERVAL_SECONDS = 3600.0
STATUS_TIMEOUT = 3.0
MIN_CANDLES = 2  # the least any forecaster (and the 24h figures) can work from
T = TypeVar("T")


class RunnerClient(Protocol):
    """How the engine reaches the Kronos runner (a BentoML dependency, or in-process)."""

    async def forecast(self, items: list[RunnerItem]) -> list[RunnerResult]: ...

    async def status(self) -> RunnerStatus: ...


@dataclass(frozen=True)
class Snapshot:
    """Market figures shown next to a forecast: price, 24h change %, 24h volume, and the source
    of the candles the forecast was made from."""

    price: float
    change_24h: float
    volume_24h: float
    source: str
    stale: bool = False
    age_seconds: float = 0.0


@dataclass(frozen=True)
class CachedForecast:
    """A summarised forecast as kept in the prediction cache, with the market figures it saw."""

    prediction: Prediction
    generated_at: str
    last_candle: str
    snapshot: Snapshot


def canonical(symbol: str) -> str:
    """A symbol as the asset registry spells it (`" btc"` -> `"BTC"`), known or not."""
    return symbol.strip().upper()


def now_iso() -> str:
    """The current UTC time in the seed's format."""
    return iso_utc(datetime.now(timezone.utc))


def snapshot(candles: pd.DataFrame, quote: Quote | None) -> Snapshot:
    """Market figures from the quote; what it lacks is derived from the hourly candles."""
    attrs = candles.attrs
    close = candles["close"].to_numpy(dtype=np.float64)
    day_ago = close[-25] if close.size > 24 else close[0]
    volume = candles["amount"] if "amount" in candles.columns else candles["volume"] * close
    derived = Snapshot(
        price=float(close[-1]),
        change_24h=float((close[-1] / day_ago - 1) * 100),
        volume_24h=float(volume.iloc[-24:].sum()),
        source=str(attrs.get("source", "candles")),
        stale=bool(attrs.get("stale", False)),
        age_seconds=float(attrs.get("age_seconds", 0.0)),
    )
    if quote is None:
        return derived
    return Snapshot(
        price=float(quote.price),
        change_24h=derived.change_24h if quote.change_24h is None else float(quote.change_24h),
        volume_24h=derived.volume_24h if quote.volume_24h is None else float(quote.volume_24h),
        source=derived.source,
        stale=derived.stale or bool(quote.stale),
        age_seconds=max(derived.age_seconds, float(quote.age_seconds)),
    )


def feature_scales(frame: pd.DataFrame) -> np.ndarray:
    """Per-feature units (FEATURES order) that bring a series near 1: prices in units of the last
    close, volume and amount in units of their means.

    The model normalises each feature with a fixed epsilon, so its forecasts of tiny values (a
    coin at $0.00001) are noise, or even negative, unless the series is put on a unit scale first.
    """
    with np.errstate(over="ignore"):
        price = float(frame["close"].iloc[-1])
        volume = float(frame["volume"].mean()) if "volume" in frame.columns else 0.0
        volume = volume if np.isfinite(volume) and volume > 0 else 1.0
        amount = float(frame["amount"].mean()) if "amount" in frame.columns else price * volume
        amount = amount if np.isfinite(amount) and amount > 0 else price * volume
    units = {"volume": volume, "amount": amount} | dict.fromkeys(PRICE_FEATURES, price)
    return np.array([units[name] for name in FEATURES])


def unit_scale(frame: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    """(`frame` divided by its `feature_scales`, the scales); `frame` as it is with unit scales
    when dividing would overflow or zero a price (the runner then judges the raw values)."""
    scales = feature_scales(frame)
    out = frame.copy()
    with np.errstate(over="ignore", under="ignore"):
        for name, scale in zip(FEATURES, scales, strict=True):
            if name in out.columns:
                out[name] = out[name].to_numpy(dtype=np.float64) / scale
    values = out[[name for name in FEATURES if name in out.columns]].to_numpy(dtype=np.float64)
    if not np.isfinite(values).all() or not (out[list(PRICE_FEATURES)].to_numpy() > 0).all():
        return frame, np.ones(len(FEATURES))
    return out, scales


def model_forecast(result: RunnerResult, scale: np.ndarray) -> tuple[Forecast | None, str | None]:
    """(forecast in the series' units, None) when the runner's result is usable, else (None, why
    not): an error, or prices that are not all positive (the model's de-normalisation can go
    below zero)."""
    if not result.ok:
        return None, result.error
    raw = result.forecast()
    with np.errstate(over="ignore"):
        forecast = Forecast(timestamps=raw.timestamps, paths=raw.paths * scale)
    prices = forecast.paths[:, :, [FEATURES.index(name) for name in PRICE_FEATURES]]
    if not (prices > 0).all():
        return None, "the model returned non-positive prices"
    return forecast, None


def load_calibration(path: Path | None) -> tuple[BandCalibration | None, str | None]:
    """(calibration, None) from KRONOS_CALIBRATION, (None, why) when it cannot be used."""
    if path is None:
        return None, None
    try:
        from kronos_runner.calibration import BandCalibration

        calibration = BandCalibration.load(path)
        if BAND_LEVEL not in calibration.levels or calibration.feature != "close":
            raise ValueError(f"needs a close-price calibration for level {BAND_LEVEL}")
    except Exception as exc:  # missing file, bad JSON, module not available...
        logger.warning("band calibration %s not used: %s", path, exc)
        return None, f"{type(exc).__name__}: {exc}"
    return calibration, None


class ForecastEngine:
    """Everything behind the routes: data, runner/fallback, cache, summaries, health."""

    def __init__(
        self,
        settings: ServiceSettings,
        source: MarketDataSource,
        runner: RunnerClient,
        *,
        fallback: FallbackForecaster | None = None,
        calibration: BandCalibration | None = None,
        calibration_error: str | None = None,
    ) -> None:
        self.settings = settings
        self.source = source
        self.runner = runner
        self.fallback = fallback or FallbackForecaster()
        self.calibration = calibration
        self.calibration_error = calibration_error
        self.cache: PredictionCache[CachedForecast | ServiceError] = PredictionCache(
            settings.prediction_cache_size
        )
        self._data_error: tuple[str, str] | None = None
        self._data_ok_at: str | None = None

    # ---- parameters -------------------------------------------------------------------------

    def resolve_params(self, horizon: int | None, samples: int | None) -> tuple[int, int]:
        """Defaults and limits for horizon and samples (422 outside the limits)."""
        s = self.settings
        horizon = s.default_horizon if horizon is None else horizon
        samples = s.kronos_samples if samples is None else samples
        if not 1 <= horizon <= s.kronos_max_horizon:
            raise InvalidRequestError(f"horizon must be between 1 and {s.kronos_max_horizon}")
        if not 1 <= samples <= s.kronos_max_samples:
            raise InvalidRequestError(f"samples must be between 1 and {s.kronos_max_samples}")
        return horizon, samples

    def sampling(self, samples: int) -> SamplingParams:
        """Sampling parameters for a request: its path count plus the configured sampler."""
        s = self.settings
        return SamplingParams(
            samples=samples,
            temperature=s.kronos_temperature,
            top_k=s.kronos_top_k,
            top_p=s.kronos_top_p,
        )

    # ---- market data ------------------------------------------------------------------------

    async def _market(self, call: Awaitable[T]) -> T:
        """Await a data-source call, remembering upstream failures for /health."""
        try:
            result = await call
        except UnknownSymbolError:
            raise
        except MarketDataError as exc:
            self._data_error = (f"{type(exc).__name__}: {exc}", now_iso())
            raise
        self._data_ok_at = now_iso()
        return result

    async def _fetch(self, symbol: str) -> tuple[pd.DataFrame, Quote | None]:
        """Candles (required) and the quote (optional: derived from candles when missing)."""
        limit = max(self.settings.kronos_lookback, self.fallback.min_history)
        candles, quote = await asyncio.gather(
            self._market(self.source.candles(symbol, interval=INTERVAL, limit=limit)),
            self._market(self.source.quote(symbol)),
            return_exceptions=True,
        )
        if isinstance(candles, BaseException):
            raise candles
        if len(candles) < MIN_CANDLES:
            raise DataUnavailableError(
                f"{len(candles)} candle(s) for {symbol}: too few to forecast"
            )
        return candles, None if isinstance(quote, BaseException) else quote

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

    async def forecast_frames(
        self, frames: Sequence[pd.DataFrame], params: Sequence[tuple[int, int, int | None]]
    ) -> list[tuple[Prediction, bool] | ServiceError]:
        """Forecast every frame (horizon, samples, seed each) in one runner call.

        Per frame: the summarised prediction and whether it came from Kronos (not the fallback),
        or the error that frame alone gets (its neighbours are still answered).
        """
        lookback = self.settings.kronos_lookback
        scaled = [unit_scale(frame.tail(lookback)) for frame in frames]
        scales = [scale for _, scale in scaled]
        items = [
            RunnerItem.from_frame(series, horizon, self.sampling(samples), seed)
            for (series, _), (horizon, samples, seed) in zip(scaled, params, strict=True)
        ]
        results = await self._run_model(items)
        s = self.settings
        out: list[tuple[Prediction, bool] | ServiceError] = []
        for frame, scale, (horizon, samples, seed), result in zip(
            frames, scales, params, results, strict=True
        ):
            forecast, reason = model_forecast(result, scale)
            if forecast is not None:
                meta = ForecastMeta("kronos", s.kronos_model, s.kronos_tokenizer, samples, seed)
            else:
                forecast = self.fallback.predict([frame], horizon, samples=samples, seed=seed)[0]
                meta = ForecastMeta("fallback", "fallback", None, samples, seed, reason)
            with np.errstate(over="ignore", invalid="ignore"):
                if not np.isfinite(forecast.paths.mean(axis=0)).all():
                    out.append(InvalidRequestError("the candles are too extreme to forecast"))
                    continue
            prediction = summarize(
                forecast,
                float(frame["close"].iloc[-1]),
                meta,
                trend_threshold=s.trend_threshold,
                calibration=self.calibration,
            )
            out.append((prediction, meta.model == "kronos"))
        return out

    def _key(
        self, symbol: str, last_candle_ms: int, horizon: int, samples: int, seed: int | None
    ) -> PredictionKey:
        return PredictionKey(
            symbol=symbol,
            last_candle_ms=last_candle_ms,
            model_id=self.settings.kronos_model,
            horizon=horizon,
            samples=samples,
            seed=seed,
            sampling=tuple(self.sampling(samples).model_dump().values()),
        )

    async def predict_many(
        self, symbols: Sequence[str], horizon: int | None, samples: int | None, seed: int | None
    ) -> list[PredictResponse | ServiceError]:
        """One response or error per symbol; all missing forecasts in one runner call."""
        horizon, samples = self.resolve_params(horizon, samples)
        fetched = await asyncio.gather(
            *(self._fetch_known(symbol) for symbol in symbols), return_exceptions=True
        )
        outcomes: list[PredictResponse | ServiceError | None] = [None] * len(symbols)
        keyed: dict[PredictionKey, tuple[pd.DataFrame, Quote | None]] = {}
        wanted: list[tuple[int, PredictionKey]] = []
        for index, result in enumerate(fetched):
            if isinstance(result, BaseException):
                outcomes[index] = self._stale_or_error(
                    result, symbols[index], horizon, samples, seed
                )
                continue
            symbol, candles, quote = result
            last = pd.Timestamp(candles["timestamp"].iloc[-1])
            key = self._key(symbol, last.value // 1_000_000, horizon, samples, seed)
            keyed[key] = (candles, quote)
            wanted.append((index, key))

        async def compute(
            keys: list[PredictionKey],
        ) -> list[tuple[CachedForecast | ServiceError, float]]:
            frames = [keyed[key][0] for key in keys]
            done = await self.forecast_frames(frames, [(horizon, samples, seed)] * len(keys))
            generated = now_iso()
            values: list[tuple[CachedForecast | ServiceError, float]] = []
            for key, outcome in zip(keys, done, strict=True):
                if isinstance(outcome, ServiceError):  # unusable market data: not cached
                    values.append((DataUnavailableError(f"{key.symbol}: {outcome.message}"), 0))
                    continue
                prediction, from_model = outcome
                last_candle = iso_utc(pd.Timestamp(key.last_candle_ms, unit="ms", tz="UTC"))
                value = CachedForecast(prediction, generated, last_candle, snapshot(*keyed[key]))
                values.append(
                    (value, INTERVAL_SECONDS if from_model else self.settings.fallback_cache_ttl)
                )
            return values

        if wanted:
            values = await self.cache.get_or_compute_many([key for _, key in wanted], compute)
            for (index, key), (value, cached) in zip(wanted, values, strict=True):
                outcomes[index] = (
                    self._stale_or_error(value, key.symbol, horizon, samples, seed)
                    if isinstance(value, ServiceError)
                    else self._response(key.symbol, value, cached, snapshot(*keyed[key]))
                )
        return [o for o in outcomes if o is not None]

    async def predict(
        self, symbol: str, horizon: int | None, samples: int | None, seed: int | None
    ) -> PredictResponse:
        """`GET /api/predict` for one symbol; raises the symbol's `ServiceError`."""
        outcome = (await self.predict_many([symbol], horizon, samples, seed))[0]
        if isinstance(outcome, ServiceError):
            raise outcome
        return outcome

    async def _fetch_known(self, symbol: str) -> tuple[str, pd.DataFrame, Quote | None]:
        asset = self.source.assets.get(symbol)
        candles, quote = await self._fetch(asset.symbol)
        return asset.symbol, candles, quote

    def _stale_or_error(
        self, exc: BaseException, symbol: str, horizon: int, samples: int, seed: int | None
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
        key = self._key(canonical(symbol), 0, horizon, samples, seed)
        latest = self.cache.latest(key, self.settings.stale_max_age)
        if latest is None:
            return error
        value, age = latest
        stale = Snapshot(
            **{
                **value.snapshot.__dict__,
                "stale": True,
                "age_seconds": value.snapshot.age_seconds + age,
            }
        )
        return self._response(canonical(symbol), value, True, stale)

    @staticmethod
    def _response(
        symbol: str, value: CachedForecast, cached: bool, snap: Snapshot
    ) -> PredictResponse:
        return PredictResponse(
            symbol=symbol,
            currentPrice=snap.price,
            change24h=snap.change_24h,
            volume24h=snap.volume_24h,
            prediction=value.prediction,
            timestamp=now_iso(),
            dataSource=snap.source,
            lastCandle=value.last_candle,
            cached=cached,
            stale=snap.stale,
            dataAgeSeconds=round(snap.age_seconds, 3),
            generatedAt=value.generated_at,
        )

    async def forecast_candles(self, request: ForecastRequest) -> ForecastResponse:
        """`POST /api/forecast`: forecast the caller's own candles (not cached)."""
        horizon, samples = self.resolve_params(request.horizon, request.samples)
        if len(request.candles) > self.settings.forecast_max_candles:
            raise InvalidRequestError(
                f"at most {self.settings.forecast_max_candles} candles per request"
            )
        frame = request.frame()
        stamps = pd.DatetimeIndex(frame["timestamp"])
        last, step = int(stamps.asi8[-1]), int(stamps.asi8[1] - stamps.asi8[0])
        if last + step * horizon > pd.Timestamp.max.value:
            raise InvalidRequestError(f"the forecast would end after {pd.Timestamp.max}")
        [outcome] = await self.forecast_frames([frame], [(horizon, samples, request.seed)])
        if isinstance(outcome, ServiceError):
            raise outcome
        prediction, _ = outcome
        return ForecastResponse(
            prediction=prediction,
            lastClose=float(frame["close"].iloc[-1]),
            lastCandle=iso_utc(stamps[-1]),
            intervalSeconds=step / 1e9,
            timestamp=now_iso(),
            generatedAt=now_iso(),
        )

    # ---- history, assets, health ------------------------------------------------------------

    async def history(self, symbol: str, days: int) -> HistoryResponse:
        """`GET /api/history` in the seed's shape."""
        asset = self.source.assets.get(symbol)
        history = await self._market(self.source.history(asset.symbol, days))
        return HistoryResponse(
            symbol=asset.symbol,
            days=days,
            data=HistoryData(**history.to_seed_dict()),
            timestamp=now_iso(),
            dataSource=str(history.source),
            stale=bool(history.stale),
        )

    def assets(self) -> AssetsResponse:
        """`GET /api/assets` in the seed's shape."""
        entries = [AssetEntry(symbol=a.symbol, name=a.name) for a in self.source.assets.all()]
        return AssetsResponse(assets=entries, count=len(entries))

    async def health(self) -> HealthResponse:
        """`GET /health`: answers even when the runner or every upstream is down."""
        s = self.settings
        try:
            status = await asyncio.wait_for(self.runner.status(), timeout=STATUS_TIMEOUT)
            if not isinstance(status, RunnerStatus):
                status = RunnerStatus.model_validate(status)
            model = ModelHealth(
                state="loaded" if status.loaded else "fallback",
                reason=None if status.loaded else status.error,
                modelId=s.kronos_model,
                tokenizerId=s.kronos_tokenizer,
                device=status.device,
                calibrated=self.calibration is not None,
                calibrationError=self.calibration_error,
            )
        except Exception as exc:  # runner unreachable: say so, keep answering
            model = ModelHealth(
                state="fallback",
                reason=f"runner unavailable: {type(exc).__name__}: {exc}",
                modelId=s.kronos_model,
                tokenizerId=s.kronos_tokenizer,
                calibrated=self.calibration is not None,
                calibrationError=self.calibration_error,
            )
        error, error_at = self._data_error or (None, None)
        if error_at is not None and (self._data_ok_at is None or self._data_ok_at <= error_at):
            state = "degraded"
        else:
            state = "ok" if self._data_ok_at else "unknown"
        data = DataSourceHealth(
            name=self.source.name, state=state, lastError=error, lastErrorAt=error_at
        )
        return HealthResponse(timestamp=now_iso(), model=model, dataSource=data)
