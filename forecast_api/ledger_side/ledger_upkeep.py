"""The ledger's background work in one API worker: scheduled forecasts, scoring, calibration.

Every LEDGER_TICK seconds, for 1h and every interval of LEDGER_SCHEDULE:
1. now = the market's current time (the close of the newest candle, `MarketData.now`);
2. scheduled intervals (LEDGER_SCHEDULE), once the runner has settled: forecast every asset
   for the latest closed candle with the default parameters, once across replicas
   (`ledger.scheduler`, claims in the ledger), LEDGER_CHUNK_SYMBOLS series per runner call; the
   forecast fills the prediction cache, so the hour's first client gets a cache hit, and is
   handed to `observe` (the alert rules);
3. score every step whose candle closed by now (`ledger.scorer`), realised closes looked up in
   the market data by the candle's exact open time;
4. refit the interval's blend (the model, the baselines and the loaded challengers, unless
   LEDGER_BLEND=off) and rolling calibration on the steps scored by now: forecasts issued from
   then on are blended and calibrated with them (`LedgerLink.refit`);
5. with LEDGER_GRID_RETENTION_DAYS, delete the quantile grids of scored forecasts older than
   that, in bounded batches (`ledger.retention`; the per-step scores stay);
6. after all intervals, the records flushed and `after_round` awaited (`/api/stream`'s tail).
Scheduled forecasts also forecast every challenger the runner has loaded on the same origins
with the same seeds, recorded as their own forecasters (`forecast_api.forecasts.challengers`).
A failing step (market data or database down) is logged and reported in `/health`; the next
round tries again. Nothing here runs on the response path.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import partial

import pandas as pd

from forecast_api.forecasts.market import MarketData
from forecast_api.forecasts.predictions import PredictionService
from forecast_api.forecasts.recording import calibration_info
from forecast_api.http.health_schemas import LedgerHealth
from forecast_api.http.responses import CachedForecast
from forecast_api.http.schemas import iso_utc
from forecast_api.ledger_side.ledger_link import LedgerLink
from forecast_api.ledger_side.ledger_metrics import publish
from forecast_api.ops.runner_monitor import RunnerMonitor
from forecast_api.settings import ServiceSettings
from ledger.gauges import gauges
from ledger.records import to_epoch
from ledger.retention import prune
from ledger.scheduler import Scheduler
from ledger.scorer import closes_in, score_due

log = logging.getLogger(__name__)


def _iso(seconds: float | None) -> str | None:
    """Unix seconds as the API's UTC time text."""
    return None if seconds is None else iso_utc(pd.Timestamp(seconds, unit="s", tz="UTC"))


GAUGE_DAYS = 30  # the window of the Prometheus track-record gauges


@dataclass
class UpkeepState:
    """What the last rounds did, for `/health`."""

    rounds: int = 0
    last_round_at: float | None = None
    scored: int = 0
    unscorable: int = 0
    scheduled: int = 0
    grids_pruned: int = 0
    last_error: str | None = None
    gauges: Mapping[str, Mapping[str, dict]] | None = None  # interval -> symbol -> values


class LedgerUpkeep:
    """Schedules, scores and recalibrates in the background; see the module doc."""

    def __init__(
        self,
        link: LedgerLink,
        market: MarketData,
        predictions: PredictionService,
        monitor: RunnerMonitor,
        settings: ServiceSettings,
        observe: Callable[[CachedForecast], None] | None = None,
        after_round: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.link, self.market, self.predictions = link, market, predictions
        self.after_round = after_round
        self.monitor, self.settings = monitor, settings
        self.observe = observe  # told of every scheduled forecast made (never blocks)
        self.now: dict[str, float] = {}
        self._read_at: dict[str, float] = {}  # time.monotonic() when `now` was read
        self.schedulers = {
            interval: Scheduler(
                link,
                interval,
                [],  # the symbols of each round: `_symbols`
                partial(self._issue, interval),
                clock=partial(self._clock, interval),
                delay=0.0,
                chunk=settings.ledger_chunk_symbols,
            )
            for interval in settings.ledger_schedule
        }
        # 1h always (the default interval); the track record counts scheduled forecasts only
        self.intervals = list(dict.fromkeys(["1h", *settings.ledger_schedule]))
        self.state = UpkeepState()
        self._task: asyncio.Task | None = None

    async def _issue(
        self, interval: str, symbols: list[str], _origin: datetime
    ) -> list[str | None]:
        """One chunk of scheduled forecasts (one runner call): per symbol None or why it failed
        (the scheduler retries those); each forecast made is handed to `observe`."""
        failures: list[str | None] = []
        for made in await self.predictions.schedule(symbols, interval):
            if isinstance(made, str):
                failures.append(made)
                continue
            if self.observe is not None:
                self.observe(made)
            failures.append(None)
        return failures

    def _clock(self, interval: str) -> float:
        """The market's time for the scheduler: as last read, advanced by the time since, so a
        long round sees the next candle close (and stops) when the market would."""
        return self.now[interval] + time.monotonic() - self._read_at[interval]

    async def _runner_settled(self) -> bool:
        """Whether the runner has loaded its model (or the fallback was decided): scheduled
        forecasts wait for it, so a start-up never records the fallback as the track record."""
        if not self.monitor.ready:
            await self.monitor.check()
        return self.monitor.ready

    async def _closes(self, interval: str, at: int) -> dict[str, pd.Series]:
        """The closes (by open time) of each symbol with steps due for scoring (failures left
        out): no upstream call for a symbol with nothing to score."""
        due = sorted(
            await asyncio.to_thread(lambda: self.link.open().pending_symbols(interval, at))
        )
        found = await asyncio.gather(
            *(self.market.candles(s, interval) for s in due), return_exceptions=True
        )
        return {
            s: c.set_index("timestamp")["close"]
            for s, c in zip(due, found, strict=True)
            if not isinstance(c, BaseException)
        }

    async def interval_round(self, interval: str) -> None:
        """Schedule, score and refit one interval (see the module doc)."""
        now = await self.market.now(interval)
        self.now[interval] = now.timestamp()
        self._read_at[interval] = time.monotonic()
        if interval in self.schedulers and await self._runner_settled():
            issued = await self.schedulers[interval].tick()
            self.state.scheduled += len(issued)
        at = to_epoch(now)
        closes = closes_in(await self._closes(interval, at))
        report = await asyncio.to_thread(
            lambda: score_due(
                self.link.open(),
                closes,
                at,
                grace=int(self.settings.ledger_score_grace),
            )
        )
        self.state.scored += report.scored
        self.state.unscorable += report.unscorable
        horizon = self.settings.max_horizon(interval)
        rivals = [c.name for c in self.monitor.loaded_challengers()]
        await asyncio.to_thread(self.link.refit, interval, at, horizon, rivals)

    async def _symbols(self) -> list[str]:
        """The symbols scheduled this round: LEDGER_SYMBOLS that the (refreshed) universe
        knows, else every asset of it."""
        await self.market.refresh_assets()
        assets = self.market.source.assets
        wanted = self.settings.ledger_symbols
        if not wanted:
            return [a.symbol for a in assets]
        unknown = [s for s in wanted if s not in assets]
        if unknown:
            log.warning("LEDGER_SYMBOLS not in the asset universe: %s", ", ".join(unknown[:20]))
        return list(dict.fromkeys(assets.get(s).symbol for s in wanted if s in assets))

    async def round(self) -> None:
        """One upkeep round over every interval served; the gauges after it."""
        errors = []
        symbols = await self._symbols()
        for scheduler in self.schedulers.values():
            scheduler.symbols = symbols
        for interval in self.intervals:
            try:
                await self.interval_round(interval)
            except Exception as exc:  # market data or database down: the next round retries
                errors.append(f"{interval}: {type(exc).__name__}: {str(exc)[:200]}")
                log.warning("ledger upkeep (%s) failed: %s", interval, exc)
        try:
            await self._prune()
        except Exception as exc:  # database down: the next round retries
            errors.append(f"retention: {type(exc).__name__}: {str(exc)[:200]}")
            log.warning("ledger retention failed: %s", exc)
        if self.after_round is not None:
            try:  # the round's records written, then announced (the stream tails the ledger)
                await self.link.writer.flush()
                await self.after_round()
            except Exception as exc:
                log.warning("after the ledger round: %s", exc)
        with contextlib.suppress(Exception):  # the gauges are best effort
            self.state.gauges = await asyncio.to_thread(self._gauges)
        publish(self.link.writer.metrics(), self.state.gauges or {})
        self.state.rounds += 1
        self.state.last_round_at = time.time()
        self.state.last_error = "; ".join(errors) or None

    async def _prune(self) -> None:
        """Delete the grids of scored forecasts older than LEDGER_GRID_RETENTION_DAYS (market
        time), a bounded number of batches per round."""
        days = self.settings.ledger_grid_retention_days
        if days is None or "1h" not in self.now:
            return
        before = int(self.now["1h"] - days * 86400)
        report = await asyncio.to_thread(prune, self.link.open(), before)
        self.state.grids_pruned += report.grids

    def _gauges(self) -> dict[str, dict[str, dict]]:
        """Track-record gauges per interval and symbol over the last GAUGE_DAYS days."""
        ledger = self.link.open()
        return {
            interval: gauges(ledger, interval, GAUGE_DAYS, int(self.now[interval]))
            for interval in self.intervals
            if interval in self.now
        }

    def health(self) -> LedgerHealth:
        """The ledger's part of `/health`."""
        w, st = self.link.writer, self.state
        state = w.status if st.last_error is None or w.status == "down" else "degraded"
        lags = [v.get("scorerLag") for v in (st.gauges or {}).get("1h", {}).values()]
        return LedgerHealth(
            state=state,
            buffered=w.buffered,
            capacity=w.settings.capacity,
            written=w.written,
            dropped=w.dropped,
            writeFailures=w.failures,
            lastError=w.last_error,
            lastFlushAt=_iso(w.last_flush_at),
            rounds=st.rounds,
            lastRoundAt=_iso(st.last_round_at),
            roundError=st.last_error,
            scheduled=st.scheduled,
            scored=st.scored,
            unscorable=st.unscorable,
            gridsPruned=st.grids_pruned,
            scorerLagSeconds=max((x for x in lags if x is not None), default=None),
            calibration={i: calibration_info(self.link.calibration(i)) for i in self.intervals},
        )

    async def run(self, stop: asyncio.Event) -> None:
        """Rounds every LEDGER_TICK seconds until `stop` is set."""
        while not stop.is_set():
            await self.round()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.settings.ledger_tick)

    def start(self) -> None:
        """Start the writer and the rounds on the running loop."""
        self.link.writer.start()
        self._stop = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self.run(self._stop))

    async def stop(self) -> None:
        """Stop the rounds; flush what the writer holds (bounded by its timeout)."""
        if self._task is not None:
            self._stop.set()
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.link.writer.stop()
