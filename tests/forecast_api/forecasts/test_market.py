"""MarketData's call pattern: results or exceptions in order, overlapped only for remote work."""

from __future__ import annotations

import asyncio

import pytest

from forecast_api.forecasts.market import settle


def recorder(log: list[str]):
    def call(name: str, fail: bool = False):
        async def run() -> str:
            log.append(f"start {name}")
            await asyncio.sleep(0)
            log.append(f"end {name}")
            if fail:
                raise ValueError(name)
            return name

        return run

    return call


@pytest.mark.parametrize("overlap", [False, True])
async def test_settle_returns_results_and_exceptions_in_order(overlap: bool) -> None:
    log: list[str] = []
    call = recorder(log)
    first, second, third = await settle(
        [call("a"), call("b", fail=True), call("c")], overlap=overlap
    )
    assert first == "a" and third == "c"
    assert isinstance(second, ValueError) and str(second) == "b"
    if overlap:
        assert log[:3] == ["start a", "start b", "start c"]
    else:
        assert log == ["start a", "end a", "start b", "end b", "start c", "end c"]


async def test_settle_in_turn_makes_no_task_and_leaves_no_coroutine_unawaited() -> None:
    tasks_before = len(asyncio.all_tasks())
    seen: list[int] = []

    async def count() -> int:
        seen.append(len(asyncio.all_tasks()))
        return 1

    async def cancelled() -> int:
        raise asyncio.CancelledError

    assert await settle([count, count], overlap=False) == [1, 1]
    assert seen == [tasks_before, tasks_before]
    made: list[str] = []

    async def never() -> int:
        made.append("never")
        return 0

    with pytest.raises(asyncio.CancelledError):
        await settle([cancelled, never], overlap=False)
    assert made == []
