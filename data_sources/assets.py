"""Asset registry: symbols, CoinGecko ids and Binance pairs (symbols are case-insensitive)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, field_validator

from .errors import UnknownSymbolError

if TYPE_CHECKING:
    from .settings import MarketDataSettings


class Asset(BaseModel):
    """One tradable asset: `name` is its CoinGecko id (its lower-case symbol when `coingecko` is
    False: a pair the exchange lists that no CoinGecko id is known for), `binance_pair` its
    Binance spot pair."""

    model_config = ConfigDict(frozen=True)

    symbol: str
    name: str
    binance_pair: str | None = None
    coingecko: bool = True

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
    def coingecko_id(self) -> str | None:
        """The CoinGecko id (same as `name`), None when none is known."""
        return self.name if self.coingecko else None


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
        """The defaults plus the listed `ASSETS` (an extra asset replaces a default one)."""
        return cls([*DEFAULT_ASSETS, *settings.listed_assets])

    def replace(self, assets: Iterable[Asset]) -> None:
        """Make `assets` the registry's assets (a refreshed exchange universe)."""
        self._assets = {asset.symbol: asset for asset in assets}

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


def exchange_universe(
    pairs: Iterable[tuple[str, str | None]], known: Iterable[Asset], kept: Iterable[Asset] = ()
) -> list[Asset]:
    """The assets of the exchange's (base symbol, pair) list. A known asset (the defaults and the
    listed `ASSETS`) keeps its CoinGecko id and pair; any other gets no CoinGecko id. Known
    assets come first, in their order; a `kept` one (listed explicitly) stays when the exchange
    does not list it, a default does not."""
    by_symbol = {asset.symbol: asset for asset in known}
    always = {asset.symbol for asset in kept}
    listed: dict[str, Asset] = {}
    for base, pair in pairs:
        symbol = base.strip().upper()
        listed[symbol] = by_symbol.get(symbol) or Asset(
            symbol=symbol, name=symbol.lower(), binance_pair=pair, coingecko=False
        )
    first = [a for s, a in by_symbol.items() if s in listed or s in always]
    return [*first, *(a for s, a in listed.items() if s not in by_symbol)]
