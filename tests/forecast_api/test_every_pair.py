"""ASSETS=all in the API: /api/assets lists the exchange's 400 USDT pairs in the seed's shape
(fields added, none renamed); a pair without a CoinGecko id serves history from its candles."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.data_sources.fake_upstreams import FakeUpstreams
from tests.data_sources.synthetic_candles import universe_symbols, write_universe
from tests.forecast_api.api_helpers import LocalRunnerClient, client_for

PAIRS = 400


@pytest.fixture
def exchange(tmp_path: Path):
    write_universe(tmp_path, PAIRS, hours=72)
    with FakeUpstreams(tmp_path) as fake:
        yield fake


def test_assets_lists_every_pair_of_the_exchange(make_settings, core, exchange) -> None:
    settings = make_settings(market=exchange.settings(assets_extra="all"))
    with client_for(settings, LocalRunnerClient(core)) as client:
        body = client.get("/api/assets").json()
        assert body["count"] == PAIRS == len(body["assets"])
        assert [a["symbol"] for a in body["assets"]] == universe_symbols(PAIRS)
        btc, other = body["assets"][0], body["assets"][-1]
        assert btc == {
            "symbol": "BTC",
            "name": "bitcoin",
            "supported": True,
            "coingeckoId": "bitcoin",
            "pair": "BTCUSDT",
        }
        assert other == {
            "symbol": "C397",
            "name": "c397",
            "supported": True,
            "coingeckoId": None,
            "pair": "C397USDT",
        }
        history = client.get("/api/history", params={"symbol": "c397", "days": 1})
        assert history.status_code == 200, history.text
        assert history.json()["dataSource"] == "binance"
        assert len(history.json()["data"]["prices"]) == 24
        assert client.get("/api/history", params={"symbol": "NOPE", "days": 1}).status_code == 404
    assert exchange.count("exchange_info") == 1  # NOPE within ASSETS_REFRESH_S: no refetch


def test_without_all_the_assets_stay_the_listed_ones(make_settings, core, exchange) -> None:
    settings = make_settings(market=exchange.settings())
    with client_for(settings, LocalRunnerClient(core)) as client:
        assert client.get("/api/assets").json()["count"] == 8
    assert exchange.count("exchange_info") == 0
