"""Asset registry: symbols, CoinGecko ids and Binance pairs (symbols are case-insensitive)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, field_validator

from .errors import UnknownSymbolError

if TYPE_CHECKING:
    from .settings import MarketDataSettings


class Asset(BaseModel):
    """One tradable asset: `name` is its CoinGecko id, `binance_pair` its Binance spot pair."""

    model_config = ConfigDict(frozen=True)

    symbol: str
    name: str
    binance_pair: str | None = None

    @field_validator("symbol", "binance_pair")
    @classmethod
    def _upper(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip().upper()
        if not value:
            raise ValueError("must not be empty")
        return value

    @field_validator("name")
    @classmethod
    def _coingecko_id(cls, value: str) -> str:
        value = value.strip().lower()
        if not value:
            raise ValueError("must not be empty")
        return value

    @property
    def coingecko_id(self) -> str:
        """The CoinGecko id (same as `name`)."""
        return self.name


DEFAULT_ASSETS: tuple[Asset, ...] = tuple(
    Asset(symbol=symbol, name=name, binance_pair=f"{symbol}USDT")
    for symbol, name in (
        ("BTC", "bitcoin"),
        ("ETH", "ethereum"),
        ("BNB", "binancecoin"),
        ("SOL", "solana"),
        ("XRP", "ripple"),
        ("ADA", "cardano"),
        ("DOGE", "dogecoin"),
        ("DOT", "polkadot"),
    )
)


class AssetRegistry:
    """Ordered, case-insensitive mapping of symbol -> :class:`Asset`."""

    def __init__(self, assets: Iterable[Asset]) -> None:
        self._assets: dict[str, Asset] = {}
        for asset in assets:
            self._assets[asset.symbol] = asset  # a later entry replaces an earlier one

    @classmethod
    def from_settings(cls, settings: MarketDataSettings) -> AssetRegistry:
        """The defaults plus `settings.assets_extra` (an extra asset replaces a default one)."""
        return cls([*DEFAULT_ASSETS, *settings.assets_extra])

    def get(self, symbol: str) -> Asset:
        """The asset for `symbol` (any case); raises :class:`UnknownSymbolError`."""
        asset = self._assets.get(str(symbol).strip().upper())
        if asset is None:
            raise UnknownSymbolError(f"unknown symbol {symbol!r}")
        return asset

    def all(self) -> list[Asset]:
        """All assets in registration order."""
        return list(self._assets.values())

    def __contains__(self, symbol: object) -> bool:
        return isinstance(symbol, str) and symbol.strip().upper() in self._assets

    def __iter__(self):
        return iter(self._assets.values())

    def __len__(self) -> int:
        return len(self._assets)
