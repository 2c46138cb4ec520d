"""ASSETS=all: the exchange's TRADING USDT pairs (exchangeInfo) or every file, CoinGecko ids
mapped where known; assets without one get quotes and history from their Binance candles."""

from __future__ import annotations

from pathlib import Path

import pytest

from data_sources import (
    DEFAULT_ASSETS,
    Asset,
    AssetRegistry,
    FilesSource,
    LiveSource,
    MalformedDataError,
    MarketDataSettings,
    build_source,
)
from data_sources.assets import exchange_universe
from data_sources.binance import parse_usdt_pairs
from tests.data_sources.fake_upstreams import FakeUpstreams
from tests.data_sources.synthetic_candles import universe_symbols, write_universe

PAIRS = 400


def entry(base: str, quote: str = "USDT", status: str = "TRADING") -> dict:
    return {"symbol": f"{base}{quote}", "status": status, "baseAsset": base, "quoteAsset": quote}


def test_exchange_info_keeps_trading_usdt_pairs_in_order() -> None:
    payload = {
        "timezone": "UTC",
        "symbols": [
            entry("SOL"),
            entry("ETH", "BTC"),
            entry("LUNA", status="BREAK"),
            entry("PEPE"),
            {"symbol": "NOBASEUSDT", "status": "TRADING", "quoteAsset": "USDT"},
        ],
    }
    assert parse_usdt_pairs(payload) == [("SOL", "SOLUSDT"), ("PEPE", "PEPEUSDT")]
    for bad in ({"symbols": "x"}, [], {"symbols": [1]}):
        with pytest.raises(MalformedDataError):
            parse_usdt_pairs(bad)


def test_the_universe_maps_known_ids_and_keeps_listed_assets() -> None:
    link = Asset(symbol="LINK", name="chainlink", binance_pair="LINKUSDT")
    pairs = [("PEPE", "PEPEUSDT"), ("SOL", "SOLUSDT"), ("BTC", "BTCUSDT")]
    got = exchange_universe(pairs, [*DEFAULT_ASSETS, link], kept=[link])
    assert [a.symbol for a in got] == ["BTC", "SOL", "LINK", "PEPE"]  # known first
    assert got[0].coingecko_id == "bitcoin" and got[1].coingecko_id == "solana"
    pepe = got[-1]
    assert (pepe.name, pepe.coingecko_id, pepe.binance_pair) == ("pepe", None, "PEPEUSDT")


def test_assets_all_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASSETS", "all, LINK:chainlink")
    settings = MarketDataSettings(_env_file=None)
    assert settings.exchange_assets
    assert [a.symbol for a in settings.listed_assets] == ["LINK"]
    assert len(AssetRegistry.from_settings(settings)) == 9
    assert not MarketDataSettings(_env_file=None, assets_extra="LINK:chainlink").exchange_assets


@pytest.fixture(scope="module")
def universe_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("universe")
    write_universe(directory, PAIRS, hours=72)
    return directory


async def test_live_universe_from_exchange_info(universe_dir: Path) -> None:
    with FakeUpstreams(universe_dir) as fake:
        source = build_source(fake.settings(assets_extra="all", assets_refresh_s=600))
        assert isinstance(source, LiveSource) and len(source.assets) == len(DEFAULT_ASSETS)
        await source.refresh_assets()
        await source.refresh_assets()  # within ASSETS_REFRESH_S: no second call
        assert fake.count("exchange_info") == 1
        assert [a.symbol for a in source.assets] == universe_symbols(PAIRS)
        assert source.assets.get("BTC").coingecko_id == "bitcoin"
        other = source.assets.get("C123")
        assert (other.coingecko_id, other.binance_pair) == (None, "C123USDT")

        candles = await source.candles("C123", "1h", 48)
        quote = await source.quote("C123")  # derived from the candles: no CoinGecko call
        assert (quote.source, quote.price) == ("binance", candles["close"].iloc[-1])
        assert quote.change_24h == pytest.approx(
            (candles["close"].iloc[-1] / candles["close"].iloc[-25] - 1) * 100
        )
        history = await source.history("C123", 1)
        assert history.source == "binance" and len(history.prices) == 24
        assert history.prices[-1][1] == quote.price
        assert fake.count("simple_price") == fake.count("market_chart") == 0
        btc = await source.quote("BTC")
        assert btc.source == "coingecko"
        ids = next(r.params["ids"] for r in fake.requests if r.route == "simple_price")
        assert ids == "bitcoin,ethereum"  # only the assets with a CoinGecko id
        await source.aclose()


async def test_files_universe_is_every_file(universe_dir: Path) -> None:
    settings = MarketDataSettings(
        _env_file=None, market_data_source="files", market_data_dir=universe_dir, assets="all"
    )
    source = build_source(settings)
    assert isinstance(source, FilesSource)
    await source.refresh_assets()
    assert [a.symbol for a in source.assets] == universe_symbols(PAIRS)
    assert source.assets.get("ETH").name == "ethereum"
    assert (await source.quote("C007")).source == "files"
