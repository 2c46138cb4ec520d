"""Runner core deadlines: expired items are dropped before their group, between groups, and
between the generation steps of a group whose items have all expired."""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest

from kronos_runner import generate
from kronos_runner.loading import BackgroundCore
from kronos_runner.memory import HeapTrimmer
from kronos_runner.runner import ModelSpec, RunnerCore
from kronos_runner.wire import RunnerItem, SamplingParams


@pytest.fixture(scope="module")
def btc(ohlcv_dir: Path) -> pd.DataFrame:
    return pd.read_csv(ohlcv_dir / "BTC_1h.csv", parse_dates=["timestamp"]).tail(100)


def item(
    df: pd.DataFrame, samples: int, deadline: float | None, horizon: int = 3, seed: int = 1
) -> RunnerItem:
    sampling = SamplingParams(samples=samples)
    built = RunnerItem.from_frame(df, horizon, sampling, seed)
    return built.model_copy(update={"deadline": deadline})


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


@pytest.fixture()
def stepping(core: RunnerCore, monkeypatch) -> tuple[RunnerCore, Clock, list[int]]:
    """A core on a fake clock that moves 1 s per generation step; the steps run, counted."""
    clock = Clock()
    steps: list[int] = []
    sample = generate.sample_tokens

    def timed(logits, *args):
        clock.now += 0.5  # two draws (coarse, fine) per step
        steps.append(1)
        return sample(logits, *args)

    monkeypatch.setattr(generate, "sample_tokens", timed)
    return RunnerCore(core.pipeline, core.status(), clock=lambda: clock.now), clock, steps


def test_generation_stops_once_every_item_of_the_group_expired(stepping, btc) -> None:
    timed, _, draws = stepping
    # Checked before each step at t = 100, 101, ...: at 104 both deadlines have passed.
    items = [item(btc, 2, 102.5, horizon=8), item(btc, 2, 103.5, horizon=8, seed=2)]
    results = timed.forecast(items)
    assert [r.error_kind for r in results] == ["expired", "expired"]
    assert "before step 5 of 8" in results[0].error
    assert len(draws) == 2 * 4


def test_an_item_expiring_beside_a_live_one_leaves_its_result_unchanged(
    core: RunnerCore, stepping, btc
) -> None:
    timed, clock, draws = stepping
    plain = core.forecast([item(btc, 2, None, horizon=8), item(btc, 2, None, horizon=8, seed=2)])
    draws.clear()
    clock.now = 100.0  # the plain run moved the fake clock too
    mixed = timed.forecast([item(btc, 2, 102.5, horizon=8), item(btc, 2, None, horizon=8, seed=2)])
    assert len(draws) == 2 * 8 and all(r.ok for r in mixed)
    assert mixed[1].paths == plain[1].paths and mixed[0].paths == plain[0].paths


def test_the_test_slowdown_waits_before_every_pass_and_keeps_deadlines(
    core: RunnerCore, btc, monkeypatch
) -> None:
    clock = Clock()
    waits: list[float] = []

    def sleep(seconds: float) -> None:  # the slowdown's wait moves the fake clock
        waits.append(seconds)
        clock.now += seconds

    monkeypatch.setattr(time, "sleep", sleep)
    slowed = RunnerCore(core.pipeline, core.status(), clock=lambda: clock.now, slowdown_s=1.0)
    [plain] = core.forecast([item(btc, 2, None, horizon=8)])
    [result] = slowed.forecast([item(btc, 2, None, horizon=8)])
    passes = len(waits)
    assert result.paths == plain.paths and passes >= 8 and set(waits) == {1.0}
    waits.clear()
    clock.now = 100.0
    # the check after the last wait but one finds the deadline passed: the last pass never runs
    [late] = slowed.forecast([item(btc, 2, 100.0 + passes - 1.5, horizon=8)])
    assert late.error_kind == "expired" and len(waits) == passes - 1


def test_the_test_slowdown_is_announced_at_load(fixtures_dir: Path, caplog) -> None:
    spec = ModelSpec(fixtures_dir / "tiny-model", fixtures_dir / "tiny-tokenizer", device="cpu")
    RunnerCore.load(spec)
    assert "TEST HOOK ACTIVE" not in caplog.text
    RunnerCore.load(replace(spec, test_slowdown_s=0.5))
    assert "TEST HOOK ACTIVE" in caplog.text


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
