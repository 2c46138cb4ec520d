"""One API worker's side of `/api/stream`: tails the ledger after each upkeep round and fans the
new events out to this worker's subscribers; replays what a resuming client missed.

The ledger is the bus: every worker (and replica) tails the same database, so each subscriber
gets every scheduled forecast and score of its symbols and intervals whichever worker made it,
at most one upkeep round (LEDGER_TICK) after it was recorded, with ids that mean the same on any
worker. A subscriber too slow to keep up is closed; it resumes from its last id.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from forecast_api.http.errors import DataUnavailableError, InvalidRequestError, ServiceError
from ledger import events
from ledger.events import Position
from ledger.store import Ledger

Cursor = dict[str, Position]
SCOPE = "ledger"


class TooManyStreams(ServiceError):
    """A client holds as many streams as it may."""

    status = 429
    code = "too_many_streams"


def encode(cursor: Cursor) -> str:
    """An event id: each interval's position (`1h=12,1712345600,11;4h=...`)."""
    return ";".join(f"{i}={p.forecast},{p.scored_at},{p.scored}" for i, p in sorted(cursor.items()))


def decode(text: str, intervals: Sequence[str]) -> Cursor:
    """The positions of an event id, for `intervals`; InvalidRequestError if it is not ours."""
    try:
        found = {}
        for part in text.split(";"):
            interval, numbers = part.split("=")
            found[interval] = Position(*(int(n) for n in numbers.split(",")))
    except (TypeError, ValueError) as exc:
        raise InvalidRequestError(f"Last-Event-ID: not an id of this stream: {text!r}") from exc
    return {i: found.get(i, Position()) for i in intervals}


@dataclass(frozen=True)
class StreamEvent:
    """A `forecast` or `score` event of one symbol and interval."""

    kind: str
    data: dict[str, Any]

    def after(self, p: Position) -> bool:
        """Whether it comes after position `p`."""
        if self.kind == "forecast":
            return self.data["id"] > p.forecast
        return (self.data["scoredAtEpoch"], self.data["id"]) > (p.scored_at, p.scored)

    def advance(self, p: Position) -> Position:
        """Position `p` moved past this event."""
        if self.kind == "forecast":
            return p._replace(forecast=self.data["id"])
        return p._replace(scored_at=self.data["scoredAtEpoch"], scored=self.data["id"])


@dataclass
class Subscription:
    """One open stream: what it wants and its queue of live events."""

    client: str
    symbols: frozenset[str]
    intervals: frozenset[str]
    queue: asyncio.Queue = field(default_factory=lambda: asyncio.Queue(maxsize=256))
    overflowed: bool = False

    def wants(self, event: StreamEvent) -> bool:
        """Whether the event is of its symbols and intervals."""
        return event.data["symbol"] in self.symbols and event.data["interval"] in self.intervals


def as_events(made: list[dict], scored: list[dict]) -> list[StreamEvent]:
    """Ledger rows as events: forecasts first, then scores (each in ledger order)."""
    return [StreamEvent("forecast", d) for d in made] + [StreamEvent("score", d) for d in scored]


class StreamHub:
    """The worker's subscribers and its position in the ledger's events."""

    def __init__(
        self,
        open_ledger: Callable[[], Ledger],
        intervals: Sequence[str],
        *,
        max_per_client: int,
        stopping: Callable[[], bool] = lambda: False,
    ) -> None:
        self.open_ledger, self.intervals = open_ledger, list(intervals)
        self.max_per_client, self.stopping = max_per_client, stopping
        self.subscribers: list[Subscription] = []
        self.cursor: Cursor | None = None

    async def _read(self, function: Callable[..., Any], *args: Any) -> Any:
        """A ledger read in a worker thread; a database failure is a 503."""
        try:
            return await asyncio.to_thread(lambda: function(self.open_ledger(), *args))
        except Exception as exc:  # database down, bad URL...
            raise DataUnavailableError(
                f"forecast ledger unavailable: {type(exc).__name__}"
            ) from exc

    async def position(self, intervals: Sequence[str]) -> Cursor:
        """Where the ledger's events of `intervals` end now."""
        return await self._read(events.positions, intervals)

    async def since(self, cursor: Cursor) -> list[StreamEvent]:
        """The events after `cursor` (at most 500 of each kind)."""
        made = await self._read(events.forecasts_after, cursor)
        scored = await self._read(events.scores_after, cursor)
        return as_events(made, scored)

    async def tail(self) -> None:
        """Deliver the events recorded since the last tail (the first tail only takes the
        position); called after every upkeep round."""
        if self.cursor is None:
            self.cursor = await self.position(self.intervals)
            return
        for event in await self.since(self.cursor):
            interval = event.data["interval"]
            self.cursor[interval] = event.advance(self.cursor[interval])
            for sub in self.subscribers:
                if sub.wants(event) and not sub.overflowed:
                    try:
                        sub.queue.put_nowait(event)
                    except asyncio.QueueFull:
                        sub.overflowed = True
                        sub.queue = asyncio.Queue(maxsize=1)
                        sub.queue.put_nowait(None)  # wakes the stream, which ends

    def clients(self) -> Counter[str]:
        """Open streams per client."""
        return Counter(sub.client for sub in self.subscribers)

    @contextmanager
    def subscribe(
        self, client: str, symbols: Sequence[str], intervals: Sequence[str]
    ) -> Iterator[Subscription]:
        """A subscription while the stream is open; TooManyStreams beyond the client's bound."""
        if self.clients()[client] >= self.max_per_client:
            raise TooManyStreams(
                f"at most {self.max_per_client} open streams per client on this worker; "
                "close one first"
            )
        sub = Subscription(client, frozenset(symbols), frozenset(intervals))
        self.subscribers.append(sub)
        try:
            yield sub
        finally:
            self.subscribers.remove(sub)
