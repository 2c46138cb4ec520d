"""The buffered writer: never blocks or raises, buffers through outages, drops oldest when full."""

from __future__ import annotations

import asyncio

from ledger_helpers import HOUR, T0, record
from sqlalchemy import func, select

from ledger.models import ForecastRow
from ledger.store import Ledger
from ledger.writer import LedgerWriter, WriterSettings
from tests.postgres_server import PostgresServer

FAST = WriterSettings(capacity=50, batch=8, flush_interval=0.02, retry_initial=0.02, retry_max=0.05)


def _count(ledger: Ledger) -> int:
    with ledger.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(ForecastRow)).scalar_one()


class Outage:
    """A connect callable that fails while `down` is set."""

    def __init__(self, url: str) -> None:
        self.url, self.down = url, True

    def __call__(self) -> Ledger:
        if self.down:
            raise ConnectionError("database unreachable")
        return Ledger.open(self.url)


async def _wait(predicate, timeout: float = 20.0) -> None:
    async def loop() -> None:
        while not predicate():
            await asyncio.sleep(0.02)

    await asyncio.wait_for(loop(), timeout)


async def test_records_are_flushed_in_the_background(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'l.db'}"
    writer = LedgerWriter(lambda: Ledger.open(url), FAST)
    writer.start()
    for i in range(20):
        writer.submit(record(origin=T0 + i * HOUR, seed=i))
    await _wait(lambda: writer.written == 20)
    await writer.stop()
    assert _count(Ledger.open(url)) == 20
    assert writer.state()["status"] == "ok" and writer.buffered == 0


async def test_an_outage_at_start_up_buffers_until_the_database_returns(tmp_path) -> None:
    outage = Outage(f"sqlite:///{tmp_path / 'l.db'}")
    writer = LedgerWriter(outage, FAST)
    writer.start()
    for i in range(10):
        writer.submit(record(origin=T0 + i * HOUR, seed=i))
    await _wait(lambda: writer.status == "down")
    state = writer.state()
    assert state["buffered"] == 10 and state["dropped"] == 0
    assert "database unreachable" in state["lastError"]
    assert writer.metrics()["ledger_up"] == 0.0
    outage.down = False
    await _wait(lambda: writer.written == 10)
    assert writer.status == "ok"
    await writer.stop()


async def test_a_full_buffer_drops_the_oldest_and_counts() -> None:
    writer = LedgerWriter(Outage("sqlite://"), FAST)
    records = [record(origin=T0 + i * HOUR, seed=i) for i in range(60)]
    for r in records:
        writer.submit(r)  # no loop task needed: submit never waits
    assert writer.buffered == 50 and writer.dropped == 10
    assert writer.metrics()["ledger_dropped_total"] == 10.0
    assert not await writer.flush()
    assert writer.status == "degraded"


async def test_a_postgres_stopped_mid_run_loses_no_record(postgres: PostgresServer) -> None:
    url = postgres.create_database()
    writer = LedgerWriter(lambda: Ledger.open(url), FAST)
    writer.start()
    for i in range(10):
        writer.submit(record(origin=T0 + i * HOUR, seed=i))
    await _wait(lambda: writer.written == 10)
    postgres.stop()
    try:
        for i in range(10, 30):
            writer.submit(record(origin=T0 + i * HOUR, seed=i))
        await _wait(lambda: writer.status == "down")
        assert writer.buffered == 20 and writer.dropped == 0
    finally:
        postgres.start()
    await _wait(lambda: writer.written == 30)
    await writer.stop()
    assert _count(Ledger.open(url)) == 30
    assert writer.status == "ok"


async def test_stop_flushes_what_is_left(tmp_path) -> None:
    n = 3
    url = f"sqlite:///{tmp_path / 'l.db'}"
    writer = LedgerWriter(lambda: Ledger.open(url), WriterSettings(flush_interval=60.0))
    writer.start()
    for i in range(n):
        writer.submit(record(origin=T0 + i * HOUR, seed=i))
    await writer.stop()
    assert _count(Ledger.open(url)) == n
