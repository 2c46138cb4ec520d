"""The API's runner client: retries transient failures until the deadline, stamps deadlines."""

from __future__ import annotations

from collections.abc import Coroutine
from http import HTTPStatus
from typing import Any

import pandas as pd
import pytest
from aiohttp import ClientOSError
from bentoml.exceptions import BentoMLException

from forecast_api.ops.runner_client import BentoRunnerClient, is_transient
from kronos_runner.wire import RunnerItem, RunnerResult, SamplingParams


def item() -> RunnerItem:
    stamps = pd.date_range("2025-01-01", periods=3, freq="h", tz="UTC")
    frame = pd.DataFrame({"timestamp": stamps, "open": 1.0, "high": 1.0, "low": 1.0, "close": 1.0})
    return RunnerItem.from_frame(frame, 2, SamplingParams(samples=1), 1)


class FlakyRunner:
    """Stands in for the BentoML dependency handle: its transport drops the first `drops`
    calls the way aiohttp does when the runner's socket closes mid-request."""

    def __init__(self, drops: int) -> None:
        self.drops = drops
        self.calls = 0
        self.to_async = self

    def forecast(self, items: list[RunnerItem]) -> Coroutine[Any, Any, list[RunnerResult]]:
        """Like BentoML's handle: a plain method that returns a coroutine."""
        self.calls += 1
        return self._answer(len(items), dropped=self.calls <= self.drops)

    async def _answer(self, n: int, dropped: bool) -> list[RunnerResult]:
        if dropped:
            raise ClientOSError(None, "Can not write request body")
        return [RunnerResult.failure("invalid", "placeholder") for _ in range(n)]


async def test_bento_client_retries_dropped_connections_until_answered() -> None:
    runner = FlakyRunner(drops=3)
    results = await BentoRunnerClient(runner, timeout_s=5, retry_wait_s=0).forecast([item()])
    assert runner.calls == 4 and len(results) == 1


async def test_bento_client_gives_up_at_the_deadline() -> None:
    now = [1000.0]

    class Slow(FlakyRunner):
        def forecast(self, items):
            now[0] += 0.1  # each attempt takes 0.1 s on the client's clock
            return super().forecast(items)

    runner = Slow(drops=10**6)
    client = BentoRunnerClient(runner, timeout_s=0.35, retry_wait_s=0, clock=lambda: now[0])
    with pytest.raises(ClientOSError):
        await client.forecast([item()])
    assert runner.calls == 4  # attempts end at 0.1, 0.2, 0.3 (retried) and 0.4 (past 0.35)


async def test_bento_client_stops_retrying_when_told() -> None:
    runner = FlakyRunner(drops=10**6)
    client = BentoRunnerClient(runner, timeout_s=60, retry_wait_s=0, stop=lambda: True)
    with pytest.raises(ClientOSError):
        await client.forecast([item()])
    assert runner.calls == 1


async def test_items_carry_the_deadline() -> None:
    seen: list[RunnerItem] = []

    class Recording(FlakyRunner):
        def forecast(self, items):
            seen.extend(items)
            return super().forecast(items)

    client = BentoRunnerClient(Recording(drops=0), timeout_s=7, clock=lambda: 1000.0)
    await client.forecast([item()])
    assert seen[0].deadline == 1007.0


@pytest.mark.parametrize(
    ("exc", "transient"),
    [
        (ClientOSError(None, "reset"), True),
        (RuntimeError("Session is closed"), True),
        (BentoMLException("busy", error_code=HTTPStatus.SERVICE_UNAVAILABLE), True),
        (BentoMLException("bad", error_code=HTTPStatus.INTERNAL_SERVER_ERROR), False),
        (ValueError("no"), False),
    ],
)
def test_what_is_transient(exc: BaseException, transient: bool) -> None:
    assert is_transient(exc) is transient


async def test_scheduled_forecasts_go_through_the_runners_scheduled_lane() -> None:
    lanes: list[str] = []

    class Lanes(FlakyRunner):
        def forecast(self, items):
            lanes.append("interactive")
            return super().forecast(items)

        def forecast_scheduled(self, items):
            lanes.append("scheduled")
            return super().forecast(items)

    client = BentoRunnerClient(Lanes(drops=1), timeout_s=5, retry_wait_s=0)
    await client.forecast([item()], scheduled=True)  # retried in its lane too
    await client.forecast([item()])
    assert lanes == ["scheduled", "scheduled", "interactive"]
