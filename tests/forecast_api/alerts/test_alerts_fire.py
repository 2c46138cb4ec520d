"""Alert rules fire on scheduled forecasts: once per forecast, signed, retried after a failure
(a real webhook server on 127.0.0.1, the tiny model, a SQLite ledger)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pandas as pd
import pytest

from forecast_api.alerts.schemas import AlertRequest
from forecast_api.app import build_services
from forecast_api.http.routes import Services
from tests.forecast_api.api_helpers import LocalRunnerClient
from tests.webhook_server import valid_signature, webhook

START = 700  # candles in the file when the service starts


@pytest.fixture
def services(make_settings, ohlcv_dir: Path, tmp_path: Path, core) -> Services:
    """One worker's services scheduling BTC hourly on a copy of its first START candles."""
    data = tmp_path / "ohlcv"
    data.mkdir()
    pd.read_csv(ohlcv_dir / "BTC_1h.csv", nrows=START).to_csv(data / "BTC_1h.csv", index=False)
    settings = make_settings(
        ledger_url=f"sqlite:///{tmp_path / 'ledger.db'}",
        ledger_schedule=["1h"],
        ledger_symbols=["BTC"],
        kronos_max_horizon=4,
        alert_backoff=0.05,
        alert_max_attempts=3,
    )
    settings.market.market_data_dir = data
    return build_services(settings, LocalRunnerClient(core))


async def settle(services: Services, count: int, received) -> None:
    """Until `count` webhook requests arrived and no delivery is in flight."""
    for _ in range(200):
        if len(received.requests) >= count and not services.alerts._tasks:
            return
        await asyncio.sleep(0.05)


async def test_a_rule_fires_once_signed_and_is_retried_after_a_500(services: Services) -> None:
    assert services.alerts is not None and services.ledger is not None
    with webhook(statuses=[500]) as received:
        sure = AlertRequest(symbol="btc", above=1.0, hours=2, probability=0.9, webhook=received.url)
        never = AlertRequest(
            symbol="BTC", above=1e12, hours=2, probability=0.5, webhook=received.url
        )
        rule = await services.alerts.create(sure, "127.0.0.1")
        quiet = await services.alerts.create(never, "127.0.0.1")
        services.ledger.link.writer.start()
        await services.ledger.round()  # schedules BTC's forecast: the rule fires
        await settle(services, 2, received)
        await services.ledger.round()  # no new candle: no new forecast, nothing fires
        [again] = await services.predictions.schedule(["BTC"], "1h")  # the same origin
        services.alerts.observe(again)  # evaluated again (another replica): fired already
        await asyncio.sleep(0.2)
        await settle(services, 2, received)
        assert len(received.requests) == 2  # the 500, then the retry that was taken
        (h1, body1), (h2, body2) = received.requests
        assert valid_signature(rule["secret"], h1, body1)
        assert body1 == body2 and valid_signature(rule["secret"], h2, body2)
        assert not valid_signature(quiet["secret"], h2, body2)
        sent = json.loads(body2)
        assert sent["rule"]["id"] == rule["id"] and "secret" not in sent["rule"]
        assert sent["fired"]["probability"] >= 0.9 and sent["fired"]["step"] == 2
        assert sent["forecast"]["symbol"] == "BTC" and sent["forecast"]["model"] == "kronos"
        shown = await services.alerts.show(rule["id"])
        [delivery] = shown["deliveries"]
        assert delivery["status"] == "delivered" and delivery["attempts"] == 2
        assert [f["error"] for f in delivery["failures"]] == ["HTTP 500"]
        assert (await services.alerts.show(quiet["id"]))["deliveries"] == []
    await services.ledger.stop()


async def test_a_webhook_that_keeps_failing_is_given_up_visibly(services: Services) -> None:
    assert services.alerts is not None and services.ledger is not None
    with webhook(statuses=[503, 503, 503]) as received:
        body = AlertRequest(symbol="BTC", above=1.0, hours=1, probability=0.5, webhook=received.url)
        rule = await services.alerts.create(body, "127.0.0.1")
        services.ledger.link.writer.start()
        await services.ledger.round()
        await settle(services, 3, received)
        [delivery] = (await services.alerts.show(rule["id"]))["deliveries"]
    assert len(received.requests) == 3  # ALERT_MAX_ATTEMPTS
    assert delivery["status"] == "failed" and delivery["attempts"] == 3
    assert len(delivery["failures"]) == 3
    await services.ledger.stop()
