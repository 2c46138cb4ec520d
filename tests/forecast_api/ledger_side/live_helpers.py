"""Helpers of the ledger-in-the-API tests: candle files that grow, services on them, rounds."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from sqlalchemy import func, select

from forecast_api.app import build_services
from forecast_api.http.routes import Services
from ledger.models import SCORED, ForecastRow, StepRow
from ledger.store import Ledger
from tests.forecast_api.api_helpers import LocalRunnerClient

SYMBOLS = ["BTC", "ETH"]
START = 700  # candles in the files when the service starts


def write_until(directory: Path, candles: dict[str, pd.DataFrame], count: int) -> None:
    """The market as of `count` closed candles: each file holds its first `count` rows."""
    for symbol, frame in candles.items():
        frame.head(count).to_csv(directory / f"{symbol}_1h.csv", index=False)


def build(make_settings, directory: Path, ledger_url: str, core, **more) -> Services:
    """One API worker's services on the growing files, scheduling BTC and ETH hourly."""
    settings = make_settings(
        ledger_url=ledger_url,
        ledger_schedule=["1h"],
        ledger_symbols=SYMBOLS,
        ledger_min_scored=6,
        kronos_max_horizon=4,
        ledger_score_grace=0,
        **more,
    )
    settings.market.market_data_dir = directory
    return build_services(settings, LocalRunnerClient(core))


async def advance(services: Services) -> None:
    """One upkeep round, then the writer's buffer flushed."""
    assert services.ledger is not None
    await services.ledger.round()
    assert services.ledger.state.last_error is None, services.ledger.state.last_error
    assert await services.ledger.link.writer.flush()


def counts(url: str) -> tuple[int, int, int]:
    """(scheduled forecasts, requested forecasts, scored steps) in the ledger."""
    ledger = Ledger.open(url)
    with ledger.engine.connect() as conn:
        rows = conn.execute(select(ForecastRow.kind, func.count()).group_by(ForecastRow.kind))
        kinds = {kind: n for kind, n in rows}
        scored = conn.execute(select(func.count()).where(StepRow.status == SCORED)).scalar()
    return kinds.get("scheduled", 0), kinds.get("requested", 0), int(scored or 0)
