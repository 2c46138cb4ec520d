"""Checkpoints say whether their weights were trained: random init, official layout, training."""

from __future__ import annotations

from pathlib import Path

import pytest
from safetensors import safe_open

from kronos_runner.hub import weights_metadata
from kronos_runner.layout import SIZES, checkpoint_pair
from kronos_runner.model import Kronos
from kronos_runner.pipeline import KronosPipeline
from kronos_runner.random_init import init_checkpoint
from kronos_runner.tokenizer import KronosTokenizer
from tests.kronos_runner.conftest import FIXTURES


@pytest.mark.parametrize("size", sorted(SIZES))
def test_sizes_are_the_official_configs(size: str, official: dict) -> None:
    facts = SIZES[size]
    assert facts.model == official[facts.model_id]["config.json"]
    assert facts.tokenizer == official[facts.tokenizer_id]["config.json"]


def test_init_checkpoint_is_loadable_and_marked_untrained(tmp_path: Path, official: dict) -> None:
    model_dir, tokenizer_dir = init_checkpoint("mini", tmp_path, seed=1)
    assert (model_dir, tokenizer_dir) == (tmp_path / "model", tmp_path / "tokenizer")
    with safe_open(str(model_dir / "model.safetensors"), framework="pt") as weights:
        assert weights.metadata()["trained"] == "false"
    model = Kronos.from_pretrained(model_dir)
    assert not model.trained and model.provenance["init"] == "random"
    assert (
        sum(p.numel() for p in model.parameters())
        == official["NeoQuasar/Kronos-mini"]["parameters"]
    )
    pipeline = KronosPipeline.from_pretrained(model_dir, tokenizer_dir, device="cpu")
    assert pipeline.trained is False


def test_a_checkpoint_without_the_marker_counts_as_trained() -> None:
    assert weights_metadata(FIXTURES / "tiny-model" / "model.safetensors") == (True, None)
    pipeline = KronosPipeline.from_pretrained(
        FIXTURES / "tiny-model", FIXTURES / "tiny-tokenizer", device="cpu"
    )
    assert pipeline.trained is True


def test_trained_mark_and_provenance_survive_a_round_trip(tmp_path: Path) -> None:
    model = Kronos.from_pretrained(FIXTURES / "tiny-model")
    model.trained, model.provenance = False, None
    model.save_pretrained(tmp_path / "random")
    assert Kronos.from_pretrained(tmp_path / "random").trained is False
    model.trained, model.provenance = True, {"base": "x", "steps": 3}
    model.save_pretrained(tmp_path / "trained")
    again = Kronos.from_pretrained(tmp_path / "trained")
    assert again.trained is True and again.provenance == {"base": "x", "steps": 3}
    untrained_tokenizer = KronosTokenizer(**KronosTokenizer.from_pretrained(
        FIXTURES / "tiny-tokenizer").config)  # fmt: skip
    untrained_tokenizer.save_pretrained(tmp_path / "tok")
    pipeline = KronosPipeline.from_pretrained(tmp_path / "trained", tmp_path / "tok", device="cpu")
    assert pipeline.trained is False  # a random tokenizer spoils a trained predictor


def test_checkpoint_pair_finds_the_tokenizer(tmp_path: Path) -> None:
    init_checkpoint("mini", tmp_path / "root")
    assert checkpoint_pair(tmp_path / "root", "main-tok") == (
        tmp_path / "root" / "model",
        tmp_path / "root" / "tokenizer",
    )
    assert checkpoint_pair(tmp_path / "root" / "model", "main-tok") == (
        tmp_path / "root" / "model",
        "main-tok",
    )
    assert checkpoint_pair("NeoQuasar/Kronos-base", "main-tok") == (
        "NeoQuasar/Kronos-base",
        "main-tok",
    )
