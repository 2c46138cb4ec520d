"""Settings of the market data layer, read from the environment and `.env`."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from .assets import Asset

COINGECKO_PUBLIC_URL = "https://api.coingecko.com/api/v3"
COINGECKO_PRO_URL = "https://pro-api.coingecko.com/api/v3"
BINANCE_DEFAULT_URL = "https://data-api.binance.vision"
ALL_ASSETS = "all"  # ASSETS=all: the exchange's universe


class MarketDataSettings(BaseSettings):
    """Every knob of `data_sources`; the env name of a field is its name in upper case."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", populate_by_name=True
    )

    market_data_source: Literal["live", "files"] = "live"
    market_data_dir: Path = Path("data/ohlcv")
    market_data_files_now: datetime | None = None

    coingecko_base_url: str | None = None
    coingecko_api_key: SecretStr | None = None
    coingecko_api_plan: Literal["demo", "pro"] = "demo"
    binance_base_url: str = BINANCE_DEFAULT_URL

    assets_extra: Annotated[list[Asset | Literal["all"]], NoDecode] = Field(
        default_factory=list, validation_alias=AliasChoices("assets_extra", "assets")
    )
    assets_refresh_s: float = Field(3600.0, gt=0)

    market_data_quote_ttl_s: float = Field(60.0, gt=0)
    market_data_history_ttl_s: float = Field(300.0, gt=0)
    market_data_max_stale_s: float = Field(3600.0, ge=0)
    market_data_error_ttl_s: float = Field(5.0, ge=0)
    market_data_cache_size: int = Field(1024, ge=1)

    market_data_timeout_s: float = Field(5.0, gt=0)
    market_data_attempts: int = Field(3, ge=1)
    market_data_backoff_s: float = Field(0.5, ge=0)
    market_data_backoff_max_s: float = Field(8.0, ge=0)
    market_data_max_retry_after_s: float = Field(30.0, ge=0)
    market_data_ban_s: float = Field(120.0, ge=0)

    coingecko_calls_per_minute: float = Field(10.0, gt=0)
    binance_weight_per_minute: float = Field(1200.0, gt=0)

    @field_validator("market_data_source", "coingecko_api_plan", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("assets_extra", mode="before")
    @classmethod
    def _parse_assets(cls, value: Any) -> Any:
        """Accept a JSON list of objects or `SYMBOL:coingecko-id[:PAIR]` items split by commas;
        the item `all` (any case) asks for the exchange's universe."""
        if not isinstance(value, str):
            return value
        text = value.strip()
        if not text:
            return []
        if text.startswith(("[", "{")):
            parsed = json.loads(text)
            return [parsed] if isinstance(parsed, dict) else parsed
        assets = []
        for item in filter(None, (part.strip() for part in text.split(","))):
            if item.lower() == ALL_ASSETS:
                assets.append(ALL_ASSETS)
                continue
            fields = item.split(":")
            if len(fields) not in (2, 3):
                raise ValueError(f"asset {item!r}: expected SYMBOL:coingecko-id[:PAIR]")
            assets.append(dict(zip(("symbol", "name", "binance_pair"), fields, strict=False)))
        return assets

    @property
    def exchange_assets(self) -> bool:
        """Whether `ASSETS` names `all`: the universe comes from the exchange (or the files)."""
        return ALL_ASSETS in self.assets_extra

    @property
    def listed_assets(self) -> list[Asset]:
        """The assets `ASSETS` lists explicitly."""
        return [asset for asset in self.assets_extra if isinstance(asset, Asset)]

    @property
    def coingecko_url(self) -> str:
        """The CoinGecko base URL: the configured one, else the host of the plan."""
        if self.coingecko_base_url:
            return self.coingecko_base_url
        return COINGECKO_PRO_URL if self.coingecko_api_plan == "pro" else COINGECKO_PUBLIC_URL

    @property
    def coingecko_headers(self) -> dict[str, str]:
        """The API key header of the plan (none without a key)."""
        if self.coingecko_api_key is None or not self.coingecko_api_key.get_secret_value():
            return {}
        name = "x-cg-pro-api-key" if self.coingecko_api_plan == "pro" else "x-cg-demo-api-key"
        return {name: self.coingecko_api_key.get_secret_value()}
