"""How the API process reaches the Kronos runner: the BentoML dependency, behind a protocol."""

from __future__ import annotations

import time
from collections.abc import Callable
from http import HTTPStatus
from typing import Any, Protocol

from aiohttp import ClientConnectionError
from bentoml.exceptions import BentoMLException
from tenacity import AsyncRetrying, retry_if_exception, wait_exponential

from kronos_runner.wire import RunnerItem, RunnerResult, RunnerStatus

RETRY_STATUSES = {HTTPStatus.SERVICE_UNAVAILABLE, HTTPStatus.BAD_GATEWAY}


class RunnerClient(Protocol):
    """The runner's two calls, as the prediction service and the health check use them."""

    async def forecast(
        self, items: list[RunnerItem], *, scheduled: bool = False
    ) -> list[RunnerResult]: ...

    async def status(self) -> RunnerStatus: ...


def is_transient(exc: BaseException) -> bool:
    """A failure worth another try: the connection dropped (the runner restarted, or aiohttp's
    session was closed under the call), or the runner said 502/503 (starting, batch queue full)."""
    if isinstance(exc, ClientConnectionError):
        return True
    if isinstance(exc, RuntimeError) and "Session is closed" in str(exc):
        return True
    return isinstance(exc, BentoMLException) and exc.error_code in RETRY_STATUSES


class BentoRunnerClient:
    """`RunnerClient` over the BentoML dependency (batched with other callers).

    Forecasting is idempotent, so a transient failure (`is_transient`) is retried with backoff
    until `timeout_s` after the call began, or until `stop()` says the worker is stopping. Each
    item carries that deadline, so the runner drops an item the API no longer waits for instead
    of computing it."""

    def __init__(
        self,
        runner: Any,
        timeout_s: float,
        retry_wait_s: float = 0.2,
        clock: Callable[[], float] = time.time,
        stop: Callable[[], bool] = lambda: False,
    ) -> None:
        self._runner = runner
        self._timeout_s = timeout_s
        self._retry_wait_s = retry_wait_s
        self._clock = clock
        self._stop = stop

    async def forecast(
        self, items: list[RunnerItem], *, scheduled: bool = False
    ) -> list[RunnerResult]:
        """Forecast through the runner service (`scheduled`: through its lane that yields to
        interactive forecasts)."""
        call = (
            self._runner.to_async.forecast_scheduled
            if scheduled
            else self._runner.to_async.forecast
        )
        deadline = self._clock() + self._timeout_s
        items = [item.model_copy(update={"deadline": deadline}) for item in items]
        # The attempt-loop form: BentoML's handle is not a coroutine function, so tenacity's
        # call form would not await it.
        async for attempt in AsyncRetrying(
            retry=retry_if_exception(is_transient),
            stop=lambda _: self._stop() or self._clock() >= deadline,  # the items' deadline
            wait=wait_exponential(multiplier=self._retry_wait_s, max=2.0),
            reraise=True,
        ):
            with attempt:
                results = await call(items)
        return results

    async def status(self) -> RunnerStatus:
        """The runner's model state."""
        return await self._runner.to_async.status()
