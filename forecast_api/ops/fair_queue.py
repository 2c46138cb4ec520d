"""Fair share of the runner between clients: a per-client queue in front of the runner client.

Each API worker keeps at most `max_in_flight` runner calls open; further calls wait in one lane
per client, and a freed slot goes to the waiting client with the fewest calls in flight (ties:
the one served longest ago, a new client first). A greedy client's queued backlog therefore
never sits ahead of another client's request: that one waits for a call in flight to finish,
not for the backlog.
The client of a call is the context's `current_client` (set per request by the access layer;
other background work runs as `internal`). Scheduled forecasts bypass the lanes: they go to the
runner's scheduled lane, which pauses while interactive batches run (`kronos_runner.priority`).
"""

from __future__ import annotations

import asyncio
from collections import Counter, OrderedDict, deque
from contextvars import ContextVar

from forecast_api.ops.runner_client import RunnerClient
from kronos_runner.wire import RunnerItem, RunnerResult, RunnerStatus

current_client: ContextVar[str] = ContextVar("kronos_client", default="internal")


class FairRunnerClient:
    """`RunnerClient` that shares `inner` fairly between clients (see the module)."""

    def __init__(self, inner: RunnerClient, max_in_flight: int) -> None:
        self.inner = inner
        self.max_in_flight = max_in_flight
        self._active: Counter[str] = Counter()  # calls in flight per client
        self._lanes: OrderedDict[str, deque[asyncio.Future[None]]] = OrderedDict()
        self._served: dict[str, int] = {}  # when each client last got a slot (a sequence)
        self._turns = 0

    @property
    def queued(self) -> int:
        """Calls waiting for a slot."""
        return sum(1 for lane in self._lanes.values() for f in lane if not f.done())

    async def forecast(
        self, items: list[RunnerItem], *, scheduled: bool = False
    ) -> list[RunnerResult]:
        """Forecast through `inner` once this client's turn comes. Scheduled forecasts (the
        ledger's) take no slot: the runner's scheduled lane yields to every interactive batch,
        so they never stand in front of a client's request."""
        if scheduled:
            return await self.inner.forecast(items, scheduled=True)
        client = current_client.get()
        await self._turn(client)
        try:
            return await self.inner.forecast(items)
        finally:
            self._active[client] -= 1
            if not self._active[client] and client not in self._lanes:
                del self._active[client], self._served[client]
            self._dispatch()

    async def status(self) -> RunnerStatus:
        """The runner's state (never queued)."""
        return await self.inner.status()

    async def _turn(self, client: str) -> None:
        """Return once `client` holds a slot."""
        if sum(self._active.values()) < self.max_in_flight and not self.queued:
            self._grant(client)
            return
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._lanes.setdefault(client, deque()).append(turn)
        try:
            await turn
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled():  # the slot came with the cancellation
                self._active[client] -= 1
                self._dispatch()
            raise

    def _grant(self, client: str) -> None:
        """Give `client` a slot."""
        self._active[client] += 1
        self._turns += 1
        self._served[client] = self._turns

    def _dispatch(self) -> None:
        """Hand free slots to waiting clients, fewest calls in flight first."""
        while sum(self._active.values()) < self.max_in_flight:
            for name in [
                n for n, lane in self._lanes.items() if not any(not f.done() for f in lane)
            ]:
                del self._lanes[name]
            if not self._lanes:
                return
            client = min(self._lanes, key=lambda n: (self._active[n], self._served.get(n, -1)))
            lane = self._lanes.pop(client)
            turn = lane.popleft()
            while turn.done() and lane:
                turn = lane.popleft()
            if lane:
                self._lanes[client] = lane
            if not turn.done():
                self._grant(client)
                turn.set_result(None)
