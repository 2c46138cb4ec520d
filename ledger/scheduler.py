"""Scheduled forecasts shortly after each candle close, exactly once across replicas.

At each tick the scheduler takes the latest origin (the open time of the last candle that closed
at least `delay` seconds ago), claims (symbol, interval, origin) in the ledger for every symbol not
yet claimed, and awaits `issue(symbol, origin)` for the claims it won. A replica that loses the
claim does nothing; a claim whose replica died before finishing can be taken over after `lease`
seconds; a failed forecast is retried every `retry` seconds within its candle. After a restart
the first tick catches up the latest origin only (older missed origins are not forecast late).
If the database is unreachable the forecast is still issued (it fills the cache) and its record
reaches the ledger through the writer, where the unique key on scheduled forecasts keeps one
per origin.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Protocol

from forecasting.candles import interval_seconds
from ledger.records import from_epoch

log = logging.getLogger(__name__)

Issue = Callable[[str, datetime], Awaitable[object]]


class Claims(Protocol):
    """Where the scheduler claims its forecasts: a `Ledger`, or anything opening one."""

    def claim(self, symbol: str, interval: str, origin: int, owner: str, now: int, lease: int):
        """True if this owner may make the forecast (see `Ledger.claim`)."""

    def finish_claim(self, symbol: str, interval: str, origin: int, owner: str, ok: bool):
        """Mark the claim done, or release it."""


class Scheduler:
    """Forecasts every symbol once per closed candle of one interval."""

    def __init__(
        self,
        ledger: Claims,
        interval: str,
        symbols: Sequence[str],
        issue: Issue,
        *,
        clock: Callable[[], float],
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        delay: float = 5.0,
        lease: int = 600,
        retry: float = 30.0,
        owner: str | None = None,
    ) -> None:
        self.ledger, self.interval, self.symbols = ledger, interval, list(symbols)
        self.issue, self.clock, self.sleep = issue, clock, sleep
        self.delay, self.lease, self.retry = delay, lease, retry
        self.owner = owner or uuid.uuid4().hex
        self.step = interval_seconds(interval)
        self.done: set[tuple[str, int]] = set()
        self.issued = 0

    def latest_origin(self, now: float) -> int:
        """Open time of the last candle closed at least `delay` seconds before `now`."""
        return int((now - self.delay) // self.step) * self.step - self.step

    def next_wake(self, now: float) -> float:
        """When the next candle closes, plus the delay."""
        return self.latest_origin(now) + 2 * self.step + self.delay

    async def _claim(self, symbol: str, origin: int, now: int) -> bool | None:
        """True: ours; False: another replica's; None: the database is unreachable."""
        try:
            return await asyncio.to_thread(
                self.ledger.claim, symbol, self.interval, origin, self.owner, now, self.lease
            )
        except Exception as exc:
            log.warning("schedule claim failed for %s %s: %s", symbol, origin, exc)
            return None

    async def _one(self, symbol: str, origin: int, now: int) -> bool:
        """Claim and issue one scheduled forecast; True if this replica issued it."""
        claimed = await self._claim(symbol, origin, now)
        if claimed is False:
            self.done.add((symbol, origin))
            return False
        ok = False
        try:
            await self.issue(symbol, from_epoch(origin))
            ok = True
        except Exception:
            log.exception("scheduled forecast failed for %s at %s", symbol, origin)
        if claimed:
            try:
                await asyncio.to_thread(
                    self.ledger.finish_claim, symbol, self.interval, origin, self.owner, ok
                )
            except Exception as exc:
                log.warning("could not finish the claim of %s %s: %s", symbol, origin, exc)
        if ok:
            self.done.add((symbol, origin))
            self.issued += 1
        return ok

    async def tick(self) -> list[str]:
        """Issue the latest origin's forecasts this replica wins; returns their symbols."""
        now = self.clock()
        origin = self.latest_origin(now)
        todo = [s for s in self.symbols if (s, origin) not in self.done]
        won = await asyncio.gather(*(self._one(s, origin, int(now)) for s in todo))
        self.done = {key for key in self.done if key[1] >= origin}  # forget older origins
        return [s for s, w in zip(todo, won, strict=True) if w]

    async def run(self, stop: asyncio.Event) -> None:
        """Tick now (catching up after a restart), then after every candle close until `stop`."""
        while not stop.is_set():
            await self.tick()
            now = self.clock()
            origin = self.latest_origin(now)
            wait = self.next_wake(now) - now
            if any((s, origin) not in self.done for s in self.symbols):
                wait = min(wait, self.retry)  # a failed forecast is retried within the candle
            await self.sleep(max(0.0, wait))
