"""How the API process reaches the Kronos runner: the BentoML dependency, behind a protocol."""

from __future__ import annotations

from typing import Any, Protocol

from aiohttp import ClientConnectionError
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_fixed

from kronos_runner.wire import RunnerItem, RunnerResult, RunnerStatus


class RunnerClient(Protocol):
    """The runner's two calls, as the prediction service and the health check use them."""

    async def forecast(self, items: list[RunnerItem]) -> list[RunnerResult]: ...

    async def status(self) -> RunnerStatus: ...


class BentoRunnerClient:
    """`RunnerClient` over the BentoML dependency (batched with other callers).

    A dropped connection to the runner process (seen once right after start-up: aiohttp's
    "Can not write request body") is retried once; forecasting is idempotent."""

    def __init__(self, runner: Any, retry_wait_s: float = 0.2) -> None:
        self._runner = runner
        self._retry_wait_s = retry_wait_s

    async def forecast(self, items: list[RunnerItem]) -> list[RunnerResult]:
        """Forecast through the runner service."""
        # The attempt-loop form: BentoML's handle is not a coroutine function, so tenacity's
        # call form would not await it.
        async for attempt in AsyncRetrying(
            retry=retry_if_exception_type(ClientConnectionError),
            stop=stop_after_attempt(2),
            wait=wait_fixed(self._retry_wait_s),
            reraise=True,
        ):
            with attempt:
                results = await self._runner.to_async.forecast(items)
        return results

    async def status(self) -> RunnerStatus:
        """The runner's model state."""
        return await self._runner.to_async.status()
