"""The fair queue in front of the runner: a polite client never waits behind a greedy one's
queued backlog, only for a call in flight."""

from __future__ import annotations

import asyncio

from forecast_api.ops.fair_queue import FairRunnerClient, current_client


class SlowRunner:
    """Records the order of calls by client; each takes `delay` seconds."""

    def __init__(self, delay: float = 0.05) -> None:
        self.order: list[str] = []
        self.delay = delay

    async def forecast(self, items: list) -> list:
        self.order.append(items[0])
        await asyncio.sleep(self.delay)
        return items

    async def status(self) -> None:
        return None


async def call(fair: FairRunnerClient, client: str) -> None:
    current_client.set(client)
    await fair.forecast([client])


async def test_polite_request_goes_next_not_after_the_backlog() -> None:
    runner = SlowRunner()
    fair = FairRunnerClient(runner, max_in_flight=1)
    greedy = [asyncio.create_task(call(fair, "greedy")) for _ in range(10)]
    await asyncio.sleep(0.01)  # one greedy call in flight, nine queued
    polite = asyncio.create_task(call(fair, "polite"))
    await asyncio.gather(*greedy, polite)
    assert runner.order.index("polite") == 1  # after the call in flight only
    assert len(runner.order) == 11


async def test_cancelled_waiters_free_their_place() -> None:
    runner = SlowRunner()
    fair = FairRunnerClient(runner, max_in_flight=1)
    first = asyncio.create_task(call(fair, "a"))
    await asyncio.sleep(0.01)
    gone = asyncio.create_task(call(fair, "b"))
    await asyncio.sleep(0.01)
    gone.cancel()
    await asyncio.gather(first, call(fair, "c"), return_exceptions=True)
    assert runner.order == ["a", "c"]
    assert fair.queued == 0


async def test_scheduled_forecasts_take_no_slot() -> None:
    lanes: list[tuple[str, bool]] = []

    class Lanes(SlowRunner):
        async def forecast(self, items: list, *, scheduled: bool = False) -> list:
            lanes.append((items[0], scheduled))
            await asyncio.sleep(0.5 if scheduled else 0.0)  # a long scheduled round
            return await super().forecast(items)

    fair = FairRunnerClient(Lanes(delay=0.01), max_in_flight=1)
    rounds = [asyncio.create_task(fair.forecast([f"s{i}"], scheduled=True)) for i in range(3)]
    await asyncio.sleep(0.01)  # three scheduled calls in flight in the runner's own lane
    await call(fair, "user")  # not queued behind them
    assert lanes[3] == ("user", False) and all(s for _, s in lanes[:3])
    assert not any(r.done() for r in rounds)  # the user was answered first
    await asyncio.gather(*rounds)
