"""The runner monitor: background state, never waits on a hung runner, readiness latches."""

from __future__ import annotations

import asyncio
import time

from forecast_api.ops.runner_monitor import RunnerMonitor
from kronos_runner.wire import RunnerStatus


class ScriptedRunner:
    """Answers `status()` from a script: a RunnerStatus, an exception, or "hang"."""

    def __init__(self, *script: object) -> None:
        self.script = list(script)

    async def forecast(self, items, *, scheduled=False):  # pragma: no cover - not used
        return []

    async def status(self) -> RunnerStatus:
        step = self.script.pop(0) if len(self.script) > 1 else self.script[0]
        if step == "hang":
            await asyncio.sleep(3600)
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
    monitor = RunnerMonitor(ScriptedRunner("hang"), timeout_s=0.2)
    start = time.monotonic()
    view = await monitor.view()
    assert view.state == "unreachable" and time.monotonic() - start < 1
    start = time.monotonic()
    assert (await monitor.view()).state == "unreachable" and time.monotonic() - start < 0.05
    await monitor.stop()


async def test_background_refresh_updates_the_view_and_its_age() -> None:
    monitor = RunnerMonitor(ScriptedRunner(LOADING, LOADED), interval_s=0.05)
    monitor.start()
    await asyncio.sleep(0.3)
    view = await monitor.view()
    assert view.state == "loaded" and 0 <= view.age_s() < 0.3
    await monitor.stop()
