"""A scheduled round over 400 symbols (ASSETS=all on 400 candle files, the tiny checkpoint):
every symbol is forecast in chunks of LEDGER_CHUNK_SYMBOLS series per runner call, the next
candles score them all, and the round's retention deletes their grids once out of the window."""

from __future__ import annotations

import asyncio
import math

from sqlalchemy import func, select

from data_sources import MarketDataSettings
from forecast_api.app import build_services
from kronos_runner.wire import RunnerItem, RunnerResult
from ledger.models import SCORED, ForecastRow, StepRow
from ledger.store import Ledger
from tests.data_sources.synthetic_candles import universe_symbols, write_universe
from tests.forecast_api.api_helpers import LocalRunnerClient

PAIRS, CHUNK, START, HORIZON = 400, 64, 96, 2


class CountingRunner(LocalRunnerClient):
    """The in-process runner, counting the series of each call."""

    def __init__(self, core) -> None:
        super().__init__(core)
        self.calls: list[int] = []

    async def forecast(
        self, items: list[RunnerItem], *, scheduled: bool = False
    ) -> list[RunnerResult]:
        self.calls.append(len(items))
        return await super().forecast(items, scheduled=scheduled)


def test_a_round_over_400_symbols_is_chunked_and_scored(make_settings, core, tmp_path) -> None:
    frames = write_universe(tmp_path, PAIRS, hours=START + HORIZON)
    for symbol, frame in frames.items():  # the market as of START closed candles
        frame.head(START).to_csv(tmp_path / f"{symbol}_1h.csv", index=False)
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    settings = make_settings(
        ledger_url=url,
        ledger_schedule=["1h"],
        ledger_chunk_symbols=CHUNK,
        kronos_max_horizon=HORIZON,
        ledger_score_grace=0,
        ledger_grid_retention_days=1 / 24,  # an hour
        market=MarketDataSettings(
            _env_file=None, market_data_source="files", market_data_dir=tmp_path, assets="all"
        ),
    )
    runner = CountingRunner(core)
    services = build_services(settings, runner)
    upkeep = services.ledger
    assert upkeep is not None

    async def scenario() -> None:
        await upkeep.round()
        assert upkeep.state.last_error is None, upkeep.state.last_error
        assert upkeep.state.scheduled == PAIRS
        assert runner.calls == [CHUNK] * (PAIRS // CHUNK) + [PAIRS % CHUNK]
        assert len(runner.calls) == math.ceil(PAIRS / CHUNK)
        assert await upkeep.link.writer.flush()  # the records reach the ledger
        for symbol, frame in frames.items():  # the next HORIZON candles close
            frame.to_csv(tmp_path / f"{symbol}_1h.csv", index=False)
        await upkeep.round()
        assert upkeep.state.last_error is None, upkeep.state.last_error
        assert upkeep.state.scored == PAIRS * HORIZON
        # the first round's forecasts (origin 3 h before now) are scored and out of the hour
        assert upkeep.state.grids_pruned == PAIRS * HORIZON
        assert (await services.health.report()).ledger.gridsPruned == PAIRS * HORIZON
        assert await upkeep.link.writer.flush()
        await services.health.monitor.stop()

    asyncio.run(scenario())
    with Ledger.open(url).engine.connect() as conn:
        rows = conn.execute(
            select(ForecastRow.symbol, ForecastRow.model_kind).where(
                ForecastRow.kind == "scheduled",
                ForecastRow.origin == int(frames["BTC"]["timestamp"].iloc[START - 1].timestamp()),
            )
        ).all()
        scored = conn.execute(select(func.count()).where(StepRow.status == SCORED)).scalar()
    assert sorted(s for s, _ in rows) == sorted(universe_symbols(PAIRS))
    assert {kind for _, kind in rows} == {"kronos"}  # the model, not the fallback
    assert scored == PAIRS * HORIZON
