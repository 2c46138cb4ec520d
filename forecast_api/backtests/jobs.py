"""Backtests on demand: `ledger.replay` over a past window into a scratch ledger per job.

`submit` checks the request and its limits, records the job (queued) in the ledger database and
hands its id to `enqueue` (in the service: BentoML's task endpoint); `run` is the task's body:
it replays the window with the chosen forecaster into `BACKTEST_DIR/<id>.db`, beating progress
into the job row, then stores the accuracy tables of that scratch ledger as the job's result.
`status` reports a job, failing first any job whose worker is gone (`ledger.jobs.reap`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone
from typing import Any

import pandas as pd

from data_sources.candle_files import candle_frames
from forecast_api.backtests.schemas import BacktestRequest
from forecast_api.forecasts.intervals import checked_interval
from forecast_api.forecasts.market import MarketData
from forecast_api.http.errors import (
    DataUnavailableError,
    InvalidRequestError,
    LimitReachedError,
    NotFoundError,
)
from forecast_api.http.schemas import iso_utc
from forecast_api.ops.runner_client import RunnerClient
from forecast_api.settings import ServiceSettings
from forecasting.candles import interval_seconds
from kronos_runner.wire import RunnerItem, RunnerResult, SamplingParams
from ledger import jobs
from ledger.replay import origins, replay
from ledger.replay_models import BASELINES, ReplayForecaster, baseline
from ledger.store import Ledger

log = logging.getLogger(__name__)
FORECASTERS = ("kronos", *BASELINES)
LEADERBOARD_NOTE = "one row per forecaster of this job, from its accuracy tables"
Enqueue = Callable[[str, str], Awaitable[None]]  # (job id, the server's base URL)


def _utc(stamp: datetime) -> datetime:
    """A time as UTC (naive: taken as UTC)."""
    return stamp.replace(tzinfo=timezone.utc) if stamp.tzinfo is None else stamp


def _iso(seconds: int | None) -> str | None:
    return None if seconds is None else iso_utc(pd.Timestamp(seconds, unit="s", tz="UTC"))


class Backtests:
    """Submits, runs and reports backtest jobs (see the module doc)."""

    def __init__(
        self,
        settings: ServiceSettings,
        open_ledger: Callable[[], Ledger] | None,
        market: MarketData,
        runner: RunnerClient,
        enqueue: Enqueue,
    ) -> None:
        self.settings, self.open_ledger, self.market = settings, open_ledger, market
        self.runner, self.enqueue = runner, enqueue

    async def _ledger(self) -> Ledger:
        """The ledger holding the jobs; 503 without one."""
        if self.open_ledger is None:
            raise DataUnavailableError("no forecast ledger: LEDGER_URL is empty")
        return await asyncio.to_thread(self.open_ledger)

    def _checked(self, body: BacktestRequest) -> tuple[dict[str, Any], int]:
        """The job's parameters as stored, and its count of forecasts; 4xx naming the problem."""
        s = self.settings
        interval = checked_interval(self.market.intervals, body.interval, s.forecast_intervals)
        if body.forecaster not in FORECASTERS:
            raise InvalidRequestError(f"forecaster: use one of {', '.join(FORECASTERS)}")
        if not 1 <= body.horizon <= s.max_horizon(interval):
            raise InvalidRequestError(f"horizon must be between 1 and {s.max_horizon(interval)}")
        symbols = list(dict.fromkeys(self.market.source.assets.get(x).symbol for x in body.symbols))
        start, end = _utc(body.start), _utc(body.end)
        if start >= end:
            raise InvalidRequestError("from must lie before to")
        try:
            grid = origins(start, end, body.every, interval_seconds(interval))
        except ValueError as exc:
            raise InvalidRequestError(f"every: {exc}") from None
        count = len(grid) * len(symbols)
        if not grid:
            raise InvalidRequestError("the window holds no origin")
        if count > s.backtest_max_origins:
            raise InvalidRequestError(
                f"{count} forecasts (origins x symbols) is over BACKTEST_MAX_ORIGINS="
                f"{s.backtest_max_origins}: shorten the window, widen `every` or drop symbols"
            )
        params = body.model_dump(mode="json", by_alias=True)
        params |= {"symbols": symbols, "interval": interval}
        params |= {"from": iso_utc(start), "to": iso_utc(end)}
        return params, len(grid)

    async def submit(self, body: BacktestRequest, client: str, base_url: str) -> dict[str, Any]:
        """Record a queued job and enqueue it; its id and status."""
        params, total = self._checked(body)
        ledger = await self._ledger()
        limit = self.settings.backtest_max_concurrent
        job_id = await asyncio.to_thread(
            lambda: jobs.create_job(
                ledger, client=client, params=params, total=total, max_active=limit
            )
        )
        if job_id is None:
            raise LimitReachedError(
                f"{limit} backtests are queued or running (BACKTEST_MAX_CONCURRENT={limit}): "
                "try again when one has finished"
            )
        try:
            await self.enqueue(job_id, base_url)
        except Exception as exc:  # the task endpoint did not take it
            why = f"could not be queued: {type(exc).__name__}: {exc}"
            await asyncio.to_thread(jobs.fail_job, ledger, job_id, why)
            raise DataUnavailableError(f"backtest {why}") from exc
        return await self.status(job_id)

    async def status(self, job_id: str) -> dict[str, Any]:
        """The job's state, progress and, once done, its accuracy tables and leaderboard."""
        ledger = await self._ledger()
        await asyncio.to_thread(jobs.reap, ledger, self.settings.backtest_lease)
        job = await asyncio.to_thread(jobs.get_job, ledger, job_id)
        if job is None:
            raise NotFoundError(f"no backtest job {job_id!r}")
        body: dict[str, Any] = {
            "id": job["id"],
            "status": job["status"],
            "progress": {
                "done": job["done"],
                "total": job["total"],
                "fraction": round(job["done"] / job["total"], 4) if job["total"] else None,
            },
            "params": job["params"],
            "createdAt": _iso(job["created_at"]),
            "startedAt": _iso(job["started_at"]),
            "finishedAt": _iso(job["finished_at"]),
            "error": job["error"],
        }
        return body | (job["result"] or {})

    async def run(self, job_id: str) -> dict[str, Any]:
        """The task's body: run one queued job to done or failed; its final status."""
        ledger = await self._ledger()
        if not await asyncio.to_thread(jobs.start_job, ledger, job_id):
            return await self.status(job_id)  # not queued (run elsewhere, failed, unknown)
        job = await asyncio.to_thread(jobs.get_job, ledger, job_id)
        loop = asyncio.get_running_loop()
        try:
            result = await asyncio.to_thread(self._replay, ledger, job_id, job["params"], loop)
        except Exception as exc:
            log.warning("backtest %s failed: %s", job_id, exc)
            await asyncio.to_thread(jobs.fail_job, ledger, job_id, f"{type(exc).__name__}: {exc}")
        else:
            await asyncio.to_thread(jobs.finish_job, ledger, job_id, result)
        return await self.status(job_id)

    def _replay(
        self, ledger: Ledger, job_id: str, params: dict, loop: asyncio.AbstractEventLoop
    ) -> dict[str, Any]:
        """Replay the job's window into its scratch ledger (a worker thread); its result."""
        s, interval = self.settings, params["interval"]
        frames = candle_frames(s.market.market_data_dir, interval, params["symbols"])
        missing = sorted(set(params["symbols"]) - set(frames))
        if missing:
            raise ValueError(f"no {interval} candle files in MARKET_DATA_DIR for {missing}")
        forecaster = self._forecaster(params["forecaster"], loop)
        s.backtest_dir.mkdir(parents=True, exist_ok=True)
        scratch = Ledger.open(f"sqlite:///{s.backtest_dir / f'{job_id}.db'}")
        start, end = pd.Timestamp(params["from"]), pd.Timestamp(params["to"])
        try:
            report = replay(
                scratch,
                frames,
                interval=interval,
                start=start.to_pydatetime(),
                end=end.to_pydatetime(),
                every=params["every"],
                horizon=params["horizon"],
                forecast_many=forecaster.forecast_many(
                    interval, max_fill=s.kronos_max_fill, min_length=s.min_context
                ),
                meta_for=forecaster.meta_for(interval),
                trend_threshold=s.trend_threshold,
                context=s.kronos_lookback,
                progress=False,
                on_origin=lambda n: jobs.progress(ledger, job_id, n),
            )
            accuracy = jobs.window_accuracy(scratch, interval, start, end)
        finally:
            scratch.engine.dispose()
        return {
            "report": dataclasses.asdict(report),
            "scored": accuracy["scored"],
            "steps": accuracy["steps"],
            "confidence": accuracy["confidence"],
            "leaderboard": jobs.leaderboard(accuracy, params["forecaster"]),
            "leaderboardNote": LEADERBOARD_NOTE,
        }

    def _forecaster(self, name: str, loop: asyncio.AbstractEventLoop) -> ReplayForecaster:
        """The job's forecaster: a baseline, or the model through the runner (called from the
        replay's thread on the worker's event loop). A model failure fails the job: a backtest
        never records the fallback in the model's name."""
        s = self.settings
        if name != "kronos":
            return baseline(name, s.kronos_samples)
        sampling = SamplingParams(
            samples=s.kronos_samples,
            temperature=s.kronos_temperature,
            top_k=s.kronos_top_k,
            top_p=s.kronos_top_p,
        )

        def predict(series: list[pd.DataFrame], horizon: int, seeds: list[int]) -> list:
            items = [
                RunnerItem.from_frame(f, horizon, sampling, seed)
                for f, seed in zip(series, seeds, strict=True)
            ]
            # bulk work: the runner's scheduled lane, which yields to every client's request
            work = self.runner.forecast(items, scheduled=True)
            call = asyncio.run_coroutine_threadsafe(work, loop)
            results = [RunnerResult.model_validate(r) for r in call.result()]
            failed = [r.error for r in results if not r.ok]
            if failed:
                raise RuntimeError(f"the model failed: {failed[0]}")
            return [r.forecast().closes for r in results]

        return ReplayForecaster(
            model_kind="kronos",
            model_id=s.kronos_model,
            samples=s.kronos_samples,
            predict=predict,
            sampler=sampling.model_dump(exclude={"samples"}),
            tokenizer_id=s.kronos_tokenizer,
            revision=s.kronos_model_revision,
        )
