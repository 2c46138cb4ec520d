"""The runner serves challengers by name beside the main model, and labels untrained weights."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from kronos_runner.model import Kronos
from kronos_runner.runner import ModelSpec, RunnerCore
from kronos_runner.settings import Challenger, RunnerSettings
from kronos_runner.wire import RunnerItem, SamplingParams
from tests.kronos_runner.conftest import FIXTURES


@pytest.fixture(scope="module")
def challenger_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny predictor saved again, marked untrained (so its results are told apart)."""
    model = Kronos.from_pretrained(FIXTURES / "tiny-model")
    model.trained = False
    return model.save_pretrained(tmp_path_factory.mktemp("challenger") / "random-tiny")


@pytest.fixture(scope="module")
def served(challenger_dir: Path) -> RunnerCore:
    spec = ModelSpec(
        FIXTURES / "tiny-model",
        FIXTURES / "tiny-tokenizer",
        device="cpu",
        challengers=(
            Challenger.parse(str(challenger_dir)),
            Challenger.parse("gone=/nonexistent/checkpoint"),
        ),
    )
    return RunnerCore.load(spec)


def _item(candles: pd.DataFrame, model: str | None, seed: int = 1) -> RunnerItem:
    item = RunnerItem.from_frame(candles, 3, SamplingParams(samples=2), seed)
    return item.model_copy(update={"model": model})


def test_status_lists_each_challenger(served: RunnerCore, challenger_dir: Path) -> None:
    status = served.status()
    assert status.loaded and status.trainedWeights is True
    random_tiny, gone = status.challengers
    assert (random_tiny.name, random_tiny.loaded, random_tiny.trainedWeights) == (
        "random-tiny",
        True,
        False,
    )
    assert random_tiny.modelId == str(challenger_dir)
    assert random_tiny.tokenizerId == str(FIXTURES / "tiny-tokenizer")  # the main tokenizer
    assert not gone.loaded and "does not exist" in gone.error


def test_items_go_to_their_model(served: RunnerCore, candles: pd.DataFrame, monkeypatch) -> None:
    calls: list[int] = []
    for pipeline in (served.pipeline, served.challengers["random-tiny"]):
        predict = pipeline.predict

        def counting(frames, *args, _predict=predict, **kwargs):
            calls.append(len(frames))
            return _predict(frames, *args, **kwargs)

        monkeypatch.setattr(pipeline, "predict", counting)
    items = [
        _item(candles, None),
        _item(candles, "random-tiny"),
        _item(candles, None, seed=2),
        _item(candles, "gone"),
        _item(candles, "nobody"),
    ]
    results = served.forecast(items)
    assert sorted(calls) == [1, 2]  # one call per model
    assert [r.ok for r in results] == [True, True, True, False, False]
    assert [r.trained_weights for r in results[:3]] == [True, False, True]
    assert results[3].error_kind == "not_loaded" and "does not exist" in results[3].error
    assert results[4].error_kind == "invalid" and "random-tiny" in results[4].error
    # the challenger holds the same weights: same seed, same paths, whatever the label says
    assert results[0].paths == results[1].paths


def test_challenger_settings_from_the_environment(monkeypatch) -> None:
    monkeypatch.setenv("KRONOS_CHALLENGERS", "ft=runs/ft, NeoQuasar/Kronos-base ,/x/small/")
    names = [(c.name, c.checkpoint) for c in RunnerSettings().kronos_challengers]
    assert names == [
        ("ft", "runs/ft"),
        ("Kronos-base", "NeoQuasar/Kronos-base"),
        ("small", "/x/small/"),
    ]
    for bad in ("a=x,a=y", "kronos=runs/ft", "bad name=x", "x="):
        monkeypatch.setenv("KRONOS_CHALLENGERS", bad)
        with pytest.raises(ValueError):
            RunnerSettings()
