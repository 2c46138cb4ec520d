"""The scheduler under a controllable clock: candle closes advance the ledger; restarts resume;
two replicas on one PostgreSQL make one scheduled forecast per origin."""

from __future__ import annotations

import asyncio
from datetime import datetime

import pytest
from ledger_helpers import HOUR, T0, record
from sqlalchemy import func, select

from ledger.models import ForecastRow
from ledger.scheduler import Scheduler
from ledger.store import Ledger

SYMBOLS = ["BTC", "ETH", "SOL"]


class Clock:
    """A clock the test moves; `sleep` advances it instead of waiting."""

    def __init__(self, t: float) -> None:
        self.t = t
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.t += seconds
        await asyncio.sleep(0)


def _issuer(ledger: Ledger, calls: list):
    """An issue callable recording a scheduled forecast (as the service's would)."""

    async def issue(symbols: list[str], origin: datetime) -> list[None]:
        calls.extend((symbol, int(origin.timestamp())) for symbol in symbols)
        await asyncio.sleep(0.01)  # replicas overlap while "forecasting"
        ledger.insert([record(symbol=s, origin=int(origin.timestamp())) for s in symbols])
        return [None] * len(symbols)

    return issue


def _scheduled(ledger: Ledger) -> list[tuple[str, int]]:
    stmt = select(ForecastRow.symbol, ForecastRow.origin).where(ForecastRow.kind == "scheduled")
    with ledger.engine.connect() as conn:
        return sorted((s, int(o)) for s, o in conn.execute(stmt))


async def test_candle_closes_advance_the_ledger_and_a_restart_resumes(ledger: Ledger) -> None:
    clock, calls = Clock(T0 + HOUR + 10), []
    sched = Scheduler(ledger, "1h", SYMBOLS, _issuer(ledger, calls), clock=clock, sleep=clock.sleep)
    assert sched.latest_origin(clock()) == T0
    assert await sched.tick() == SYMBOLS
    assert await sched.tick() == []  # same candle: nothing new
    clock.t = T0 + 2 * HOUR + 4  # the next candle closed 4 s ago, under the 5 s delay
    assert await sched.tick() == []
    clock.t += 2
    assert await sched.tick() == SYMBOLS
    # a restarted replica (fresh scheduler, same ledger) does not forecast the origin again
    restarted = Scheduler(ledger, "1h", SYMBOLS, _issuer(ledger, calls), clock=clock)
    assert await restarted.tick() == []
    # after a long downtime only the latest origin is caught up
    clock.t = T0 + 10 * HOUR + 30
    assert await restarted.tick() == SYMBOLS
    assert sorted({o for _, o in _scheduled(ledger)}) == [T0, T0 + HOUR, T0 + 9 * HOUR]
    assert len(calls) == 9


async def test_run_wakes_after_each_close(ledger: Ledger) -> None:
    clock, calls = Clock(T0 + HOUR + 10), []
    stop = asyncio.Event()
    sched = Scheduler(ledger, "1h", ["BTC"], _issuer(ledger, calls), clock=clock, sleep=clock.sleep)

    async def stop_after_three() -> None:
        while len(calls) < 3:
            await asyncio.sleep(0.001)
        stop.set()

    await asyncio.wait_for(asyncio.gather(sched.run(stop), stop_after_three()), 10)
    assert [o for _, o in calls] == [T0, T0 + HOUR, T0 + 2 * HOUR]
    assert clock.sleeps[0] == pytest.approx(HOUR - 5)  # from 10 s after close to 5 s after next


async def test_a_failed_forecast_is_retried_within_its_candle(ledger: Ledger) -> None:
    clock, attempts = Clock(T0 + HOUR + 10), []

    async def flaky(symbols: list[str], origin: datetime) -> list[None]:
        attempts.extend(symbols)
        if len(attempts) == 1:
            raise RuntimeError("runner busy")
        return [None] * len(symbols)

    sched = Scheduler(ledger, "1h", ["BTC"], flaky, clock=clock, sleep=clock.sleep, retry=30)
    assert await sched.tick() == []
    assert await sched.tick() == ["BTC"]  # the claim was released, so it can be retried
    assert len(attempts) == 2


async def test_a_round_issues_chunks_one_after_the_other(ledger: Ledger) -> None:
    clock, chunks, running = Clock(T0 + HOUR + 10), [], []
    symbols = [f"S{i:03d}" for i in range(10)]

    async def issue(part: list[str], origin: datetime) -> list[str | None]:
        running.append(len(part))
        assert len(running) == 1  # never two chunks at once
        retried = any("S004" in c for c in chunks)
        chunks.append(list(part))
        await asyncio.sleep(0.01)
        running.pop()
        return [None if s != "S004" or retried else "no candles" for s in part]

    sched = Scheduler(ledger, "1h", symbols, issue, clock=clock, chunk=4)
    issued = await sched.tick()
    assert [len(c) for c in chunks] == [4, 4, 2]
    assert issued == [s for s in symbols if s != "S004"]
    assert await sched.tick() == ["S004"]  # its claim was released: retried alone
    assert chunks[-1] == ["S004"]


async def test_chunks_stop_once_the_next_candle_closes(ledger: Ledger) -> None:
    clock, chunks = Clock(T0 + HOUR + 10), []
    symbols = [f"S{i:03d}" for i in range(6)]

    async def slow(part: list[str], origin: datetime) -> list[None]:
        chunks.append(list(part))
        clock.t += HOUR  # this chunk took the whole candle
        return [None] * len(part)

    sched = Scheduler(ledger, "1h", symbols, slow, clock=clock, chunk=2)
    assert await sched.tick() == symbols[:2]
    assert len(chunks) == 1  # the next origin's tick starts over with every symbol
    assert await sched.tick() == symbols[:2]
    assert len(chunks) == 2


async def test_an_unreachable_database_still_issues(tmp_path) -> None:
    class Down(Ledger):
        def claim(self, *args, **kwargs):
            raise ConnectionError("down")

    clock, calls = Clock(T0 + HOUR + 10), []
    ledger = Ledger.open(f"sqlite:///{tmp_path / 'l.db'}")
    down = Down(ledger.engine)
    sched = Scheduler(down, "1h", ["BTC"], _issuer(ledger, calls), clock=clock)
    assert await sched.tick() == ["BTC"]


async def test_two_replicas_make_one_forecast_per_origin(pg_url: str) -> None:
    replicas = [Ledger.open(pg_url), Ledger.open(pg_url)]  # two engines: two processes' pools
    clock, calls = Clock(T0 + HOUR + 6), []
    scheds = [
        Scheduler(lg, "1h", SYMBOLS, _issuer(lg, calls), clock=clock, owner=f"replica-{i}")
        for i, lg in enumerate(replicas)
    ]
    for _ in range(4):
        won = await asyncio.gather(*(s.tick() for s in scheds))
        assert sorted(won[0] + won[1]) == sorted(SYMBOLS)
        clock.t += HOUR
    assert len(calls) == 4 * len(SYMBOLS)
    rows = _scheduled(replicas[0])
    assert len(rows) == len(set(rows)) == 4 * len(SYMBOLS)
    with replicas[0].engine.connect() as conn:
        count = select(func.count()).select_from(ForecastRow)
        assert conn.execute(count).scalar_one() == 12


REPLICA = """
import asyncio, json, sys
sys.path[:0] = [{root!r}, {here!r}]
from ledger_helpers import record
from ledger.scheduler import Scheduler
from ledger.store import Ledger

ledger = Ledger.open({url!r})

async def issue(symbols, origin):
    await asyncio.sleep(0.05)
    ledger.insert([record(symbol=s, origin=int(origin.timestamp())) for s in symbols])
    return [None] * len(symbols)

async def main():
    won = []
    for t in {times!r}:
        sched = Scheduler(ledger, "1h", {symbols!r}, issue, clock=lambda t=t: t)
        won += [(s, sched.latest_origin(t)) for s in await sched.tick()]
    print(json.dumps(won))

asyncio.run(main())
"""


def test_two_processes_make_one_forecast_per_origin(pg_url: str) -> None:
    import json
    import subprocess
    import sys
    from pathlib import Path

    here = Path(__file__).resolve().parent
    times = [T0 + HOUR + 6 + i * HOUR for i in range(3)]
    code = REPLICA.format(
        root=str(here.parents[1]), here=str(here), url=pg_url, times=times, symbols=SYMBOLS
    )
    # both replicas start on a fresh database: their migrations serialise on an advisory lock
    procs = [
        subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    won = [json.loads(p.communicate(timeout=120)[0]) for p in procs]
    assert all(p.returncode == 0 for p in procs)
    a, b = ({tuple(x) for x in w} for w in won)
    assert not a & b
    assert len(a | b) == 3 * len(SYMBOLS)
    assert len(_scheduled(Ledger.open(pg_url))) == 3 * len(SYMBOLS)
