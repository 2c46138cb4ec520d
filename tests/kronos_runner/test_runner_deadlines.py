"""Runner core deadlines: expired items are dropped before their group, and between groups."""

from __future__ import annotations

import threading
from pathlib import Path

import pandas as pd
import pytest

from kronos_runner.loading import BackgroundCore
from kronos_runner.memory import HeapTrimmer
from kronos_runner.runner import ModelSpec, RunnerCore
from kronos_runner.wire import RunnerItem, SamplingParams


@pytest.fixture(scope="module")
def btc(ohlcv_dir: Path) -> pd.DataFrame:
    return pd.read_csv(ohlcv_dir / "BTC_1h.csv", parse_dates=["timestamp"]).tail(100)


def item(df: pd.DataFrame, samples: int, deadline: float | None) -> RunnerItem:
    sampling = SamplingParams(samples=samples)
    return RunnerItem.from_frame(df, 3, sampling, 1).model_copy(update={"deadline": deadline})


class Clock:
    """A clock the test moves; `predict` calls advance it to model slow generation."""

    def __init__(self) -> None:
        self.now = 100.0


def test_expired_items_are_not_computed(core: RunnerCore, btc, monkeypatch) -> None:
    clock = Clock()
    timed = RunnerCore(core.pipeline, core.status(), clock=lambda: clock.now)
    calls: list[int] = []
    predict = core.pipeline.predict

    def slow(series, *args, **kwargs):
        calls.append(len(series))
        clock.now += 10  # each generation pass takes 10 s
        return predict(series, *args, **kwargs)

    monkeypatch.setattr(core.pipeline, "predict", slow)
    items = [
        item(btc, 2, deadline=99.0),  # already past: dropped before the first group
        item(btc, 2, deadline=None),  # no deadline: always computed
        item(btc, 3, deadline=105.0),  # second group, reached at t=110: dropped
        item(btc, 4, deadline=200.0),  # third group, reached at t=110: computed
    ]
    results = timed.forecast(items)
    assert [r.ok for r in results] == [False, True, False, True]
    assert results[0].error_kind == results[2].error_kind == "expired"
    assert calls == [1, 1]


def test_trimmer_trims_at_most_once_per_interval() -> None:
    now = [0.0]
    trimmer = HeapTrimmer(min_interval_s=1.0, clock=lambda: now[0])
    if not trimmer.available:
        pytest.skip("no malloc_trim in this C library")
    assert trimmer.after_work() and not trimmer.after_work()
    now[0] = 1.5
    assert trimmer.after_work()


def test_background_core_reports_loading_then_the_core(fixtures_dir: Path, btc) -> None:
    release = threading.Event()

    def gated(spec: ModelSpec) -> RunnerCore:
        release.wait(10)
        return RunnerCore.load(spec)

    background = BackgroundCore(
        ModelSpec(fixtures_dir / "tiny-model", fixtures_dir / "tiny-tokenizer", device="cpu"),
        load=gated,
    )
    status = background.status()
    assert not background.settled and status.loading and not status.loaded
    [result] = background.forecast([item(btc, 2, None)])
    assert result.error_kind == "not_loaded" and "loading" in result.error
    release.set()
    assert background.wait(30) and background.status().loaded
    assert background.forecast([item(btc, 2, None)])[0].ok
