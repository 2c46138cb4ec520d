"""Market data for the forecast service: CoinGecko, Binance and offline candle files.

`build_source(settings)` returns a :class:`MarketDataSource` (`live` or `files`).
"""

from __future__ import annotations

from .assets import DEFAULT_ASSETS, Asset, AssetRegistry
from .base import MarketDataSource
from .errors import (
    DataRegressionError,
    MalformedDataError,
    MarketDataError,
    UnknownSymbolError,
    UpstreamRateLimitedError,
    UpstreamUnavailableError,
)
from .files import FilesSource
from .live import LiveSource
from .models import CANDLE_COLUMNS, History, Quote
from .settings import MarketDataSettings


def build_source(
    settings: MarketDataSettings | None = None, assets: AssetRegistry | None = None
) -> MarketDataSource:
    """The source named by `settings.market_data_source` (`live` or `files`)."""
    settings = MarketDataSettings() if settings is None else settings
    assets = AssetRegistry.from_settings(settings) if assets is None else assets
    if settings.market_data_source == "files":
        return FilesSource(
            settings.market_data_dir,
            assets,
            now=settings.market_data_files_now,
            every_file=settings.exchange_assets,
        )
    return LiveSource(settings, assets)


__all__ = [
    "CANDLE_COLUMNS",
    "DEFAULT_ASSETS",
    "Asset",
    "AssetRegistry",
    "DataRegressionError",
    "FilesSource",
    "History",
    "LiveSource",
    "MalformedDataError",
    "MarketDataError",
    "MarketDataSettings",
    "MarketDataSource",
    "Quote",
    "UnknownSymbolError",
    "UpstreamRateLimitedError",
    "UpstreamUnavailableError",
    "build_source",
]
