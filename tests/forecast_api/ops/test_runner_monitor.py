"""The runner monitor: background state, never waits on a hung runner, readiness latches."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

from forecast_api.ops.runner_monitor import RunnerMonitor
from kronos_runner.wire import RunnerStatus


class ScriptedRunner:
    """Answers `status()` from a script: a RunnerStatus, an exception, or "hang" (never
    answers); counts the calls and the hung calls that were cancelled."""

    def __init__(self, *script: object) -> None:
        self.script = list(script)
        self.calls = self.cancelled = 0

    async def forecast(self, items, *, scheduled=False):  # pragma: no cover - not used
        return []

    async def status(self) -> RunnerStatus:
        self.calls += 1
        step = self.script.pop(0) if len(self.script) > 1 else self.script[0]
        if step == "hang":
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                self.cancelled += 1
                raise
        if isinstance(step, Exception):
            raise step
        return step


LOADING = RunnerStatus(loaded=False, loading=True, modelId="m", tokenizerId="t")
LOADED = RunnerStatus(loaded=True, modelId="m", tokenizerId="t", device="cpu")
FAILED = RunnerStatus(loaded=False, modelId="m", tokenizerId="t", error="no weights")


async def test_states_and_readiness_latch() -> None:
    runner = ScriptedRunner(LOADING, LOADED, ConnectionError("gone"))
    monitor = RunnerMonitor(runner)
    assert (await monitor.check()).state == "loading" and not monitor.ready
    assert (await monitor.check()).state == "loaded" and monitor.ready
    view = await monitor.check()
    assert view.state == "unreachable" and "gone" in view.error
    assert monitor.ready  # a runner restart does not make the service unready


async def test_failed_load_is_settled() -> None:
    monitor = RunnerMonitor(ScriptedRunner(FAILED))
    assert (await monitor.check()).state == "failed" and monitor.ready


async def test_a_hung_runner_costs_one_bounded_check() -> None:
    runner = ScriptedRunner("hang")
    monitor = RunnerMonitor(runner, timeout_s=0.2, interval_s=3600)
    # the hung call never answers: without the bound this would wait until the guard fails it
    view = await asyncio.wait_for(monitor.view(), timeout=60)
    assert view.state == "unreachable" and view.error == "TimeoutError"
    assert runner.cancelled >= 1  # the timeout cut the hung call short
    calls = runner.calls
    assert (await monitor.view()).state == "unreachable"
    assert runner.calls == calls  # the next view is the recorded one: no call, no wait
    await monitor.stop()


async def test_background_refresh_updates_the_view_and_its_age() -> None:
    now = [datetime(2025, 1, 1, tzinfo=timezone.utc)]
    monitor = RunnerMonitor(ScriptedRunner(LOADING, LOADED), interval_s=0, clock=lambda: now[0])
    monitor.start()
    try:
        view = await background_until(monitor, lambda v: v.state == "loaded")
        assert view.age_s() == 0
        now[0] += timedelta(seconds=5)
        assert view.age_s() == 5  # the age is counted from the check
        # the background task checks again, at the new time
        await background_until(monitor, lambda v: v.age_s() == 0)
    finally:
        await monitor.stop()


async def background_until(monitor: RunnerMonitor, done: Callable[[Any], bool]) -> Any:
    """The monitor's view once `done(view)`; fails after 1,000 turns of the event loop (each
    lets the background task take a step), without waiting on any clock."""
    for _ in range(1000):
        view = await monitor.view()
        if done(view):
            return view
        await asyncio.sleep(0)
    raise AssertionError(f"the background refresh never got there: {view}")
