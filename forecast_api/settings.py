"""Service settings from the environment and `.env` (pydantic-settings).

Every name here is documented in `.env.example`; the market-data names belong to
`data_sources.MarketDataSettings`, which these settings compose as `settings.market`.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from data_sources import MarketDataSettings


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
    kronos_lookback: int = Field(400, ge=16)
    kronos_samples: int = Field(30, ge=1)
    kronos_max_samples: int = Field(100, ge=1)
    kronos_max_horizon: int = Field(72, ge=1)
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
    drain_timeout: float = Field(15.0, gt=0, description="seconds a stopping worker drains")
    health_refresh: float = Field(1.0, gt=0, description="seconds between runner state checks")
    trend_threshold: float = Field(0.005, ge=0)
    fallback_cache_ttl: float = Field(60.0, ge=0)
    stale_max_age: float = Field(6 * 3600.0, ge=0)
    prediction_cache_size: int = Field(1024, ge=1)
    batch_max_symbols: int = Field(32, ge=1)
    forecast_max_candles: int = Field(4096, ge=2)
    port: int = Field(5000, ge=1, le=65535)
    cors_origins: Annotated[list[str], NoDecode] = ["*"]
    market: MarketDataSettings = Field(default_factory=MarketDataSettings, exclude=True)

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        """Accept a comma-separated string (`CORS_ORIGINS=https://a.example,https://b.example`)."""
        if isinstance(value, str):
            return [origin.strip() for origin in value.split(",") if origin.strip()]
        return value

    @field_validator(
        "kronos_calibration",
        "kronos_model_revision",
        "kronos_tokenizer_revision",
        "kronos_max_latency_ms",
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
        return self

    @property
    def batch_latency_ms(self) -> int:
        """The runner's batching latency budget: KRONOS_MAX_LATENCY_MS, else KRONOS_TIMEOUT."""
        return self.kronos_max_latency_ms or max(1, round(self.kronos_timeout * 1000))

    @property
    def default_horizon(self) -> int:
        """The horizon (hours) used when a request names none: 24, or the maximum if smaller."""
        return min(24, self.kronos_max_horizon)


@lru_cache(maxsize=1)
def get_settings() -> ServiceSettings:
    """The process-wide settings, read once."""
    return ServiceSettings()
