"""Asset registry, settings (env names, plans) and build_source."""

from __future__ import annotations

import pytest

from data_sources import (
    DEFAULT_ASSETS,
    AssetRegistry,
    FilesSource,
    LiveSource,
    MarketDataSettings,
    UnknownSymbolError,
    build_source,
)

ENV = {
    "MARKET_DATA_SOURCE": "FILES",
    "MARKET_DATA_DIR": "/data/candles",
    "COINGECKO_BASE_URL": "http://127.0.0.1:1/api/v3",
    "COINGECKO_API_KEY": "secret",
    "COINGECKO_API_PLAN": "Pro",
    "BINANCE_BASE_URL": "http://127.0.0.1:2",
    "MARKET_DATA_QUOTE_TTL_S": "45",
    "MARKET_DATA_TIMEOUT_S": "3.5",
    "MARKET_DATA_FILES_NOW": "2025-01-01T12:30:00Z",
}


def test_default_registry_is_case_insensitive() -> None:
    registry = AssetRegistry(DEFAULT_ASSETS)
    assert [a.symbol for a in registry.all()] == [
        *("BTC", "ETH", "BNB", "SOL", "XRP", "ADA", "DOGE", "DOT")
    ]
    assert registry.get("btc") is registry.get(" BTC ")
    assert registry.get("Doge").name == "dogecoin"
    assert registry.get("bnb").binance_pair == "BNBUSDT"
    assert "eth" in registry and "LINK" not in registry
    with pytest.raises(UnknownSymbolError):
        registry.get("LINK")


@pytest.mark.parametrize(
    "value",
    [
        '[{"symbol": "link", "name": "chainlink", "binance_pair": "LINKUSDT"},'
        ' {"symbol": "BTC", "name": "bitcoin", "binance_pair": "BTCFDUSD"}]',
        "link:chainlink:LINKUSDT, BTC:bitcoin:btcfdusd",
    ],
)
def test_extra_assets_from_env(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("ASSETS_EXTRA", value)
    registry = AssetRegistry.from_settings(MarketDataSettings(_env_file=None))
    assert len(registry) == 9
    assert registry.get("Link").name == "chainlink"
    assert registry.get("btc").binance_pair == "BTCFDUSD"  # an extra replaces a default


def test_settings_read_the_documented_env_names(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    settings = MarketDataSettings(_env_file=None)
    assert settings.market_data_source == "files"
    assert str(settings.market_data_dir) == "/data/candles"
    assert settings.coingecko_url == "http://127.0.0.1:1/api/v3"
    assert settings.coingecko_headers == {"x-cg-pro-api-key": "secret"}
    assert settings.binance_base_url == "http://127.0.0.1:2"
    assert settings.market_data_quote_ttl_s == 45
    assert settings.market_data_timeout_s == 3.5
    assert "secret" not in repr(settings)
    source = build_source(settings)
    assert isinstance(source, FilesSource)
    assert source.now.isoformat() == "2025-01-01T12:30:00+00:00"


def test_settings_read_dotenv(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / ".env").write_text("MARKET_DATA_SOURCE=files\nCOINGECKO_API_PLAN=pro\n")
    monkeypatch.chdir(tmp_path)
    settings = MarketDataSettings()
    assert settings.market_data_source == "files"
    assert settings.coingecko_url == "https://pro-api.coingecko.com/api/v3"


def test_coingecko_host_and_header_follow_the_plan() -> None:
    demo = MarketDataSettings(_env_file=None, coingecko_api_key="k")
    assert demo.coingecko_url == "https://api.coingecko.com/api/v3"
    assert demo.coingecko_headers == {"x-cg-demo-api-key": "k"}
    keyless = MarketDataSettings(_env_file=None)
    assert keyless.coingecko_headers == {}
    assert keyless.binance_base_url == "https://data-api.binance.vision"


async def test_build_source_picks_the_configured_source(tmp_path) -> None:
    files = build_source(
        MarketDataSettings(_env_file=None, market_data_source="files", market_data_dir=tmp_path)
    )
    assert isinstance(files, FilesSource) and files.name == "files"
    assert len(files.assets) == 8
    live = build_source(MarketDataSettings(_env_file=None), AssetRegistry(DEFAULT_ASSETS))
    assert isinstance(live, LiveSource) and live.name == "live"
    await live.aclose()


def test_bad_settings_are_rejected() -> None:
    with pytest.raises(ValueError):
        MarketDataSettings(_env_file=None, market_data_source="yahoo")
    with pytest.raises(ValueError):
        MarketDataSettings(_env_file=None, coingecko_api_plan="enterprise")
    with pytest.raises(ValueError):
        MarketDataSettings(_env_file=None, assets_extra="LINK")
