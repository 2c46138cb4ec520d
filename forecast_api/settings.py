"""Service settings from the environment and `.env` (pydantic-settings).

Every name here is documented in `.env.example`; the market-data names belong to
`data_sources.MarketDataSettings`, which these settings compose as `settings.market`.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from data_sources import MarketDataSettings
from forecasting.blend import DEFAULT_BLEND, BlendSettings, blend_switch
from forecasting.candles import INTERVALS
from forecasting.gaps import DEFAULT_MAX_FILL
from forecasting.recalibration import BLEND_SETTINGS, DEFAULT_SETTINGS, RecalibrationSettings

logger = logging.getLogger(__name__)


class ServiceSettings(BaseSettings):
    """Model, sampling, batching, caching and HTTP settings of the forecast service."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    kronos_model: str = "NeoQuasar/Kronos-small"
    kronos_tokenizer: str = "NeoQuasar/Kronos-Tokenizer-base"
    kronos_model_revision: str | None = None
    kronos_tokenizer_revision: str | None = None
    device: str = "auto"
    kronos_dtype: Literal["float32", "bfloat16"] = "float32"
    kronos_max_context: int = Field(512, ge=16)
    kronos_threads: int | None = Field(
        None, ge=1, description="runner torch threads (None: all CPUs)"
    )
    kronos_lookback: int = Field(400, ge=16)
    kronos_max_fill: int = Field(DEFAULT_MAX_FILL, ge=0)
    kronos_min_context: int | None = Field(None, ge=2)
    kronos_samples: int = Field(30, ge=1)
    kronos_max_samples: int = Field(100, ge=1)
    kronos_max_horizon: int = Field(72, ge=1, description="steps at 1h (and unlisted intervals)")
    kronos_max_horizons: dict[str, Annotated[int, Field(ge=1)]] = {"15m": 96, "4h": 42, "1d": 30}
    forecast_intervals: Annotated[list[str], NoDecode] = ["15m", "1h", "4h", "1d"]
    max_quantiles: int = Field(9, ge=1)
    max_levels: int = Field(5, ge=1)
    max_thresholds: int = Field(10, ge=1)
    prediction_min_ttl: float = Field(60.0, ge=0)
    kronos_temperature: float = Field(1.0, gt=0)
    kronos_top_k: int = Field(0, ge=0)
    kronos_top_p: float = Field(0.9, gt=0, le=1)
    kronos_timeout: float = Field(120.0, gt=0, description="seconds the API waits for the runner")
    kronos_calibration: Path | None = None
    kronos_batching: bool = True
    kronos_max_batch_size: int = Field(16, ge=1)
    kronos_max_latency_ms: int | None = Field(None, ge=1, description="default: KRONOS_TIMEOUT")
    runner_workers: int = Field(1, ge=1)
    api_workers: int = Field(2, ge=1)
    api_access_log: bool = Field(False, description="BentoML's access log line per API request")
    drain_timeout: float = Field(15.0, gt=0, description="seconds a stopping worker drains")
    health_refresh: float = Field(1.0, gt=0, description="seconds between runner state checks")
    trend_threshold: float = Field(0.005, ge=0)
    fallback_cache_ttl: float = Field(60.0, ge=0)
    stale_max_age: float = Field(6 * 3600.0, ge=0)
    prediction_cache_size: int = Field(1024, ge=1)
    ledger_url: str = Field(
        "sqlite:///data/ledger.db",
        description="the forecast ledger: sqlite:///path.db or postgresql://user@host/db; "
        "empty: no ledger",
    )
    ledger_schedule: Annotated[list[str], NoDecode] = Field(
        ["1h", "4h", "1d"], description="intervals forecast for every asset at each candle close"
    )
    ledger_symbols: Annotated[list[str], NoDecode] = Field(
        [], description="the assets scheduled (empty: all)"
    )
    ledger_tick: float = Field(30.0, gt=0, description="seconds between ledger upkeep rounds")
    ledger_chunk_symbols: int = Field(
        32, ge=1, description="scheduled series sent to the runner per call (one chunk at a time)"
    )
    ledger_grid_retention_days: float | None = Field(
        None, gt=0, description="days the quantile grids of scored forecasts are kept (None: all)"
    )
    ledger_calibration_window: int | None = Field(
        None,
        ge=1,
        description="recent scored forecasts per step the calibration is fitted on "
        f"(None: {DEFAULT_SETTINGS.window} for the model alone, {BLEND_SETTINGS.window} "
        "after the blend)",
    )
    ledger_confidence_window: int = Field(
        DEFAULT_SETTINGS.confidence_window,
        ge=1,
        description="recent scored forecasts per step the confidence map is fitted on",
    )
    ledger_min_scored: int = Field(
        DEFAULT_SETTINGS.min_scored,
        ge=1,
        description="scored forecasts a step needs before it is served calibrated",
    )
    ledger_blend: bool = Field(
        True, description="serve the blend the ledger learns (LEDGER_BLEND=on/off)"
    )
    ledger_blend_min_scored: int = Field(
        DEFAULT_BLEND.min_scored,
        ge=1,
        description="scored forecasts a step needs before it is served blended",
    )
    ledger_score_grace: float = Field(
        3600.0, ge=0, description="seconds a closed candle may be missing before unscorable"
    )
    alert_max_rules: int = Field(20, ge=1, description="alert rules one client may hold")
    alert_max_attempts: int = Field(5, ge=1, description="tries per webhook delivery")
    alert_backoff: float = Field(
        2.0, ge=0, description="seconds before a delivery's first retry (doubling after)"
    )
    alert_timeout: float = Field(10.0, gt=0, description="seconds a webhook may take to answer")
    backtest_dir: Path = Field(Path("data/backtests"), description="the jobs' scratch ledgers")
    backtest_max_concurrent: int = Field(2, ge=1, description="backtests queued or running")
    backtest_max_origins: int = Field(
        2000, ge=1, description="forecasts one backtest may replay (origins x symbols)"
    )
    backtest_lease: float = Field(
        300.0,
        gt=0,
        description="seconds without a heartbeat before a job's worker is presumed gone",
    )
    stream_heartbeat: float = Field(
        15.0, gt=0, description="seconds between /api/stream's heartbeat comment lines"
    )
    stream_max_per_client: int = Field(
        4, ge=1, description="open /api/stream connections per client (API key, else IP) per worker"
    )
    batch_max_symbols: int = Field(32, ge=1)
    forecast_max_candles: int = Field(4096, ge=2)
    redis_url: str = Field(
        "",
        description="shared cache, single-flight and quotas (redis://host:6379/0); empty: "
        "each worker alone",
    )
    runner_url: str = Field(
        "", description="a runner served elsewhere (http://host:3000); empty: served here"
    )
    runner_max_in_flight: int = Field(
        16,
        ge=1,
        description="runner calls one API worker keeps in flight (default: one runner batch, "
        "KRONOS_MAX_BATCH_SIZE's default); the rest queue fairly, round-robin by client",
    )
    require_keys: bool = Field(False, description="every route needs an API key")
    key_compute_per_minute: int = Field(
        100_000, ge=0, description="path-steps (samples x horizon) a key may compute per minute"
    )
    anonymous_compute_per_minute: int = Field(
        20_000,
        ge=0,
        description="path-steps all keyless clients together may compute per "
        "minute (0: computing needs a key)",
    )
    key_metrics_labels: int = Field(
        20, ge=0, description="key names with their own /metrics label; the rest are `other`"
    )
    port: int = Field(5000, ge=1, le=65535)
    cors_origins: Annotated[list[str], NoDecode] = ["*"]
    kronos_test_hooks: bool = Field(False, description="TEST ONLY: honour KRONOS_TEST_* hooks")
    kronos_test_slowdown_s: float = Field(
        0.0, ge=0, description="TEST ONLY: runner wait before each model pass (needs the hooks)"
    )
    market: MarketDataSettings = Field(default_factory=MarketDataSettings, exclude=True)

    @field_validator(
        "cors_origins", "forecast_intervals", "ledger_schedule", "ledger_symbols", mode="before"
    )
    @classmethod
    def _split_origins(cls, value: object) -> object:
        """Accept a comma-separated string (`CORS_ORIGINS=https://a.example,https://b.example`)."""
        if isinstance(value, str):
            return [origin.strip() for origin in value.split(",") if origin.strip()]
        return value

    @field_validator("ledger_blend", mode="before")
    @classmethod
    def _blend_switch(cls, value: object) -> object:
        """LEDGER_BLEND is `on` (or unset/empty) or `off`; anything else is an error."""
        return blend_switch(value) if isinstance(value, str) else value

    @field_validator(
        "kronos_calibration",
        "kronos_model_revision",
        "kronos_tokenizer_revision",
        "kronos_threads",
        "kronos_min_context",
        "kronos_max_latency_ms",
        "ledger_grid_retention_days",
        "ledger_calibration_window",
        mode="before",
    )
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        """An empty value in `.env` means "not set"."""
        return None if value == "" else value

    @model_validator(mode="after")
    def _check_limits(self) -> ServiceSettings:
        """The defaults must lie inside the limits they are checked against."""
        if self.kronos_samples > self.kronos_max_samples:
            raise ValueError("KRONOS_SAMPLES must not exceed KRONOS_MAX_SAMPLES")
        if self.kronos_lookback > self.kronos_max_context:
            raise ValueError("KRONOS_LOOKBACK must not exceed KRONOS_MAX_CONTEXT")
        if self.min_context > self.kronos_lookback:
            raise ValueError("KRONOS_MIN_CONTEXT must not exceed KRONOS_LOOKBACK")
        unknown = sorted(set(self.forecast_intervals) - set(INTERVALS))
        if unknown or "1h" not in self.forecast_intervals:
            raise ValueError(f"FORECAST_INTERVALS: need 1h, and only some of {INTERVALS}")
        if not set(self.ledger_schedule) <= set(self.forecast_intervals):
            raise ValueError("LEDGER_SCHEDULE: only intervals listed in FORECAST_INTERVALS")
        return self

    def max_horizon(self, interval: str = "1h") -> int:
        """The most steps of `interval` a forecast may have."""
        return self.kronos_max_horizons.get(interval, self.kronos_max_horizon)

    def interval_horizon(self, interval: str = "1h") -> int:
        """The steps used when a request names no horizon: 24, or the maximum if smaller."""
        return min(24, self.max_horizon(interval))

    @property
    def min_context(self) -> int:
        """Fewest regular candles the model is given (KRONOS_MIN_CONTEXT, default half the
        lookback, as in the backtest): a shorter stretch after a gap goes to the fallback."""
        if self.kronos_min_context is None:
            return max(2, self.kronos_lookback // 2)
        return self.kronos_min_context

    @property
    def batch_latency_ms(self) -> int:
        """The runner's batching latency budget: KRONOS_MAX_LATENCY_MS, else KRONOS_TIMEOUT."""
        return self.kronos_max_latency_ms or max(1, round(self.kronos_timeout * 1000))

    @property
    def test_slowdown_s(self) -> float:
        """The runner's test slowdown: KRONOS_TEST_SLOWDOWN_S only with KRONOS_TEST_HOOKS=true
        (otherwise 0, and a warning that it is ignored)."""
        if self.kronos_test_hooks:
            return self.kronos_test_slowdown_s
        if self.kronos_test_slowdown_s:
            logger.warning("KRONOS_TEST_SLOWDOWN_S ignored: test hooks are off (KRONOS_TEST_HOOKS)")
        return 0.0

    def ledger_fits(self) -> tuple[RecalibrationSettings, BlendSettings | None]:
        """The model's calibration settings and the blend's (None: LEDGER_BLEND=off), the
        LEDGER_* values over the defaults of each (LEDGER_CALIBRATION_WINDOW sets both)."""
        model, blended = (
            replace(
                defaults,
                window=self.ledger_calibration_window or defaults.window,
                confidence_window=self.ledger_confidence_window,
                min_scored=self.ledger_min_scored,
            )
            for defaults in (DEFAULT_SETTINGS, BLEND_SETTINGS)
        )
        blend = BlendSettings(min_scored=self.ledger_blend_min_scored, calibration=blended)
        return model, blend if self.ledger_blend else None

    @property
    def default_horizon(self) -> int:
        """The horizon (hours) used when a request names none at 1h."""
        return self.interval_horizon("1h")


@lru_cache(maxsize=1)
def get_settings() -> ServiceSettings:
    """The process-wide settings, read once."""
    return ServiceSettings()
