"""Scheduled forecasts shortly after each candle close, exactly once across replicas.

At each tick the scheduler takes the latest origin (the open time of the last candle that closed
at least `delay` seconds ago) and works through the symbols not yet done in chunks of `chunk`:
it claims (symbol, interval, origin) in the ledger for each symbol of the chunk and awaits one
`issue(symbols, origin)` for the claims it won (one runner call for many series). Chunks run one
after the other, so a round never queues more than one chunk ahead of clients' forecasts, and a
claim is held only while its chunk runs. Once the next candle has closed, the chunks not yet
started are left (the next tick works on the new origin). A replica that loses a claim does
nothing for that symbol; a claim whose replica died before finishing can be taken over after `lease`
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

Issue = Callable[[list[str], datetime], Awaitable[Sequence[str | None]]]
"""issue(symbols, origin) -> per symbol None (issued) or why it failed; raising fails them all."""


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
        chunk: int = 32,
        lease: int = 600,
        retry: float = 30.0,
        owner: str | None = None,
    ) -> None:
        self.ledger, self.interval, self.symbols = ledger, interval, list(symbols)
        self.issue, self.clock, self.sleep = issue, clock, sleep
        self.delay, self.lease, self.retry = delay, lease, retry
        self.chunk = max(1, chunk)
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

    async def _issue(self, symbols: list[str], origin: int) -> list[bool]:
        """Issue one chunk; per symbol whether its forecast was made."""
        try:
            failed = list(await self.issue(symbols, from_epoch(origin)))
        except Exception as exc:
            log.exception("scheduled forecasts failed for %d symbols at %s", len(symbols), origin)
            failed = [f"{type(exc).__name__}: {exc}"] * len(symbols)
        for symbol, why in zip(symbols, failed, strict=True):
            if why is not None:
                log.warning("scheduled forecast failed for %s at %s: %s", symbol, origin, why)
        return [why is None for why in failed]

    async def _finish(self, symbol: str, origin: int, ok: bool) -> None:
        """Mark this replica's claim done, or release it for a retry."""
        try:
            await asyncio.to_thread(
                self.ledger.finish_claim, symbol, self.interval, origin, self.owner, ok
            )
        except Exception as exc:
            log.warning("could not finish the claim of %s %s: %s", symbol, origin, exc)

    async def _chunk(self, symbols: list[str], origin: int, now: int) -> list[str]:
        """Claim and issue one chunk of scheduled forecasts; the symbols this replica issued."""
        claims = await asyncio.gather(*(self._claim(s, origin, now) for s in symbols))
        self.done |= {(s, origin) for s, c in zip(symbols, claims, strict=True) if c is False}
        mine = [s for s, c in zip(symbols, claims, strict=True) if c is not False]
        if not mine:
            return []
        made = await self._issue(mine, origin)
        claimed = {s for s, c in zip(symbols, claims, strict=True) if c}
        await asyncio.gather(
            *(self._finish(s, origin, ok) for s, ok in zip(mine, made, strict=True) if s in claimed)
        )
        issued = [s for s, ok in zip(mine, made, strict=True) if ok]
        self.done |= {(s, origin) for s in issued}
        self.issued += len(issued)
        return issued

    async def tick(self) -> list[str]:
        """Issue the latest origin's forecasts this replica wins, chunk by chunk, while that
        origin is the latest; returns their symbols."""
        now = self.clock()
        origin = self.latest_origin(now)
        todo = [s for s in self.symbols if (s, origin) not in self.done]
        issued: list[str] = []
        for start in range(0, len(todo), self.chunk):
            if start and self.latest_origin(self.clock()) != origin:
                log.warning(
                    "%s round at %s: the next candle closed with %d symbols left",
                    self.interval,
                    origin,
                    len(todo) - start,
                )
                break
            issued += await self._chunk(todo[start : start + self.chunk], origin, int(self.clock()))
        self.done = {key for key in self.done if key[1] >= origin}  # forget older origins
        return issued

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
