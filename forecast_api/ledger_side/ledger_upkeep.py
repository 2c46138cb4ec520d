"""The ledger's background work in one API worker: scheduled forecasts, scoring, calibration.

Every LEDGER_TICK seconds, for 1h and every interval of LEDGER_SCHEDULE:
1. now = the market's current time (the close of the newest candle, `MarketData.now`);
2. scheduled intervals (LEDGER_SCHEDULE), once the runner has settled: forecast every asset
   for the latest closed candle with the default parameters, once across replicas
   (`ledger.scheduler`, claims in the ledger); the forecast fills the prediction cache, so the
   hour's first client gets a cache hit, and is handed to `observe` (the alert rules);
3. score every step whose candle closed by now (`ledger.scorer`), realised closes looked up in
   the market data by the candle's exact open time;
4. refit the interval's rolling calibration on the steps scored by now: forecasts issued from
   then on are calibrated with it (`LedgerLink.refit`).
A failing step (market data or database down) is logged and reported in `/health`; the next
round tries again. Nothing here runs on the response path.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping
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
from ledger import queries
from ledger.records import to_epoch
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
    ) -> None:
        self.link, self.market, self.predictions = link, market, predictions
        self.monitor, self.settings = monitor, settings
        self.observe = observe  # told of every scheduled forecast made (never blocks)
        self.now: dict[str, float] = {}
        symbols = settings.ledger_symbols or [a.symbol for a in market.source.assets.all()]
        self.symbols = [market.source.assets.get(s).symbol for s in symbols]
        self.schedulers = {
            interval: Scheduler(
                link,
                interval,
                self.symbols,
                partial(self._issue, interval),
                clock=partial(self.now.__getitem__, interval),
                delay=0.0,
            )
            for interval in settings.ledger_schedule
        }
        # 1h always (the default interval); the track record counts scheduled forecasts only
        self.intervals = list(dict.fromkeys(["1h", *settings.ledger_schedule]))
        self.state = UpkeepState()
        self._task: asyncio.Task | None = None

    async def _issue(self, interval: str, symbol: str, _origin: datetime) -> None:
        """One scheduled forecast; raises if it failed (the scheduler retries it)."""
        [made] = await self.predictions.schedule([symbol], interval)
        if isinstance(made, str):
            raise RuntimeError(made)
        if self.observe is not None:
            self.observe(made)

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
        await asyncio.to_thread(self.link.refit, interval, at, horizon)

    async def round(self) -> None:
        """One upkeep round over every interval served; the gauges after it."""
        errors = []
        for interval in self.intervals:
            try:
                await self.interval_round(interval)
            except Exception as exc:  # market data or database down: the next round retries
                errors.append(f"{interval}: {type(exc).__name__}: {str(exc)[:200]}")
                log.warning("ledger upkeep (%s) failed: %s", interval, exc)
        with contextlib.suppress(Exception):  # the gauges are best effort
            self.state.gauges = await asyncio.to_thread(self._gauges)
        publish(self.link.writer.metrics(), self.state.gauges or {})
        self.state.rounds += 1
        self.state.last_round_at = time.time()
        self.state.last_error = "; ".join(errors) or None

    def _gauges(self) -> dict[str, dict[str, dict]]:
        """Track-record gauges per interval and symbol over the last GAUGE_DAYS days."""
        ledger = self.link.open()
        return {
            interval: queries.gauges(ledger, interval, GAUGE_DAYS, int(self.now[interval]))
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
