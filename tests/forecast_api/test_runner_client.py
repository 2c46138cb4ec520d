"""The API's runner client: retries a dropped connection to the runner process once."""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any

import pandas as pd
import pytest
from aiohttp import ClientOSError

from forecast_api.runner_client import BentoRunnerClient
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


async def test_bento_client_retries_one_dropped_connection() -> None:
    runner = FlakyRunner(drops=1)
    results = await BentoRunnerClient(runner, retry_wait_s=0).forecast([item()])
    assert runner.calls == 2 and len(results) == 1


async def test_bento_client_gives_up_after_two_drops() -> None:
    runner = FlakyRunner(drops=2)
    with pytest.raises(ClientOSError):
        await BentoRunnerClient(runner, retry_wait_s=0).forecast([item()])
    assert runner.calls == 2
