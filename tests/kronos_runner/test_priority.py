"""Interactive batches ahead of scheduled ones in one runner: a scheduled batch pauses before
its next model pass while an interactive one runs, then resumes with unchanged results."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from kronos_runner.runner import RunnerCore
from kronos_runner.wire import RunnerItem, RunnerResult, SamplingParams


@pytest.fixture(scope="module")
def btc(ohlcv_dir: Path) -> pd.DataFrame:
    return pd.read_csv(ohlcv_dir / "BTC_1h.csv", parse_dates=["timestamp"]).tail(120)


def item(df: pd.DataFrame, horizon: int, seed: int) -> RunnerItem:
    return RunnerItem.from_frame(df, horizon, SamplingParams(samples=4), seed)


def paths(results: list[RunnerResult]) -> list[np.ndarray]:
    assert all(r.ok for r in results)
    return [np.asarray(r.paths) for r in results]


def test_an_interactive_batch_overtakes_a_running_scheduled_one(
    core: RunnerCore, btc: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    scheduled_items = [item(btc, 12, seed=1), item(btc.tail(80), 12, seed=2)]
    interactive_items = [item(btc.tail(100), 6, seed=3)]
    expected = paths(core.forecast(scheduled_items, scheduled=True))  # alone, uninterrupted
    alone = paths(core.forecast(interactive_items))

    finished: list[str] = []
    passes: list[int] = []
    gate = core._gate
    real_pass, real_interactive = gate.scheduled_pass, gate.interactive

    @contextmanager
    def interactive_noted() -> Iterator[None]:
        with real_interactive():
            yield
            finished.append("interactive")  # before the gate lets the scheduled batch go on

    served: list[list[np.ndarray]] = []
    user = threading.Thread(target=lambda: served.append(paths(core.forecast(interactive_items))))

    def counted_pass() -> None:
        passes.append(len(finished))  # how many batches had finished at this pass
        if len(passes) == 4:  # mid-generation: a user arrives
            user.start()
            while gate._interactive == 0:  # registered (running, or waiting for this pass)
                threading.Event().wait(0.001)
        real_pass()

    monkeypatch.setattr(gate, "scheduled_pass", counted_pass)
    monkeypatch.setattr(gate, "interactive", interactive_noted)
    got = paths(core.forecast(scheduled_items, scheduled=True))
    finished.append("scheduled")
    user.join(timeout=60)
    assert finished == ["interactive", "scheduled"]
    assert passes[4] == 1  # the pass after the user came waited until the user was served
    assert all(np.array_equal(a, b) for a, b in zip(got, expected, strict=True))
    assert all(np.array_equal(a, b) for a, b in zip(served[0], alone, strict=True))
