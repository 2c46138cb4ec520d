"""Checkpoint save/load: official layouts, strict key/shape/dtype checks, hub cache loading."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from kronos_runner.hub import CheckpointError, looks_like_path
from kronos_runner.model import Kronos
from kronos_runner.tokenizer import KronosTokenizer

OFFICIAL = [
    "NeoQuasar/Kronos-mini",
    "NeoQuasar/Kronos-small",
    "NeoQuasar/Kronos-base",
    "NeoQuasar/Kronos-Tokenizer-base",
    "NeoQuasar/Kronos-Tokenizer-2k",
]


def _cls(repo: str) -> type[Kronos] | type[KronosTokenizer]:
    return KronosTokenizer if "Tokenizer" in repo else Kronos


@pytest.mark.parametrize("repo", OFFICIAL)
def test_official_layout_round_trip(repo: str, official: dict, tmp_path: Path) -> None:
    facts = official[repo]
    cls = _cls(repo)
    with torch.no_grad():
        module = cls(**facts["config.json"])
    assert sum(p.numel() for p in module.parameters()) == facts["parameters"]
    module.save_pretrained(tmp_path)

    assert json.loads((tmp_path / "config.json").read_text()) == facts["config.json"]
    saved = load_file(str(tmp_path / "model.safetensors"))
    assert set(saved) == set(facts["state_dict"])
    assert {k: list(v.shape) for k, v in saved.items()} == facts["state_dict"]
    non_float32 = {k: str(v.dtype).removeprefix("torch.") for k, v in saved.items()}
    non_float32 = {k: v for k, v in non_float32.items() if v != "float32"}
    assert non_float32 == facts["dtypes"]

    loaded = cls.from_pretrained(tmp_path)
    assert not loaded.training
    for key, value in loaded.state_dict().items():
        assert torch.equal(value, saved[key]), key


def _write(tmp_path: Path, src: Path, state: dict[str, torch.Tensor]) -> Path:
    out = tmp_path / "ckpt"
    out.mkdir()
    shutil.copy(src / "config.json", out / "config.json")
    save_file(state, str(out / "model.safetensors"))
    return out


def test_missing_key_is_named(fixtures_dir: Path, tmp_path: Path) -> None:
    src = fixtures_dir / "tiny-model"
    state = load_file(str(src / "model.safetensors"))
    del state["dep_layer.norm.weight"]
    with pytest.raises(CheckpointError, match=r"missing key 'dep_layer\.norm\.weight'"):
        Kronos.from_pretrained(_write(tmp_path, src, state))


def test_unexpected_key_is_named(fixtures_dir: Path, tmp_path: Path) -> None:
    src = fixtures_dir / "tiny-model"
    state = load_file(str(src / "model.safetensors"))
    state["extra.weight"] = torch.zeros(2)
    with pytest.raises(CheckpointError, match=r"unexpected key 'extra\.weight'"):
        Kronos.from_pretrained(_write(tmp_path, src, state))


def test_shape_mismatch_is_named(fixtures_dir: Path, tmp_path: Path) -> None:
    src = fixtures_dir / "tiny-model"
    state = load_file(str(src / "model.safetensors"))
    state["head.proj_s1.bias"] = torch.zeros(17)
    with pytest.raises(CheckpointError, match=r"shape mismatch for key 'head.proj_s1.bias'"):
        Kronos.from_pretrained(_write(tmp_path, src, state))


def test_dtype_mismatch_is_named(fixtures_dir: Path, tmp_path: Path) -> None:
    src = fixtures_dir / "tiny-tokenizer"
    state = load_file(str(src / "model.safetensors"))
    state["tokenizer.bsq.basis"] = state["tokenizer.bsq.basis"].float()
    with pytest.raises(CheckpointError, match=r"dtype mismatch for key 'tokenizer.bsq.basis'"):
        KronosTokenizer.from_pretrained(_write(tmp_path, src, state))


def test_config_that_does_not_fit(fixtures_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "bad"
    shutil.copytree(fixtures_dir / "tiny-model", out)
    (out / "config.json").write_text(json.dumps({"d_model": 32}))
    with pytest.raises(CheckpointError, match=r"config\.json does not fit Kronos"):
        Kronos.from_pretrained(out)


def test_missing_weights_file(fixtures_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "nofile"
    out.mkdir()
    shutil.copy(fixtures_dir / "tiny-model" / "config.json", out / "config.json")
    with pytest.raises(FileNotFoundError, match=r"model\.safetensors"):
        Kronos.from_pretrained(out)


def _fake_hub_cache(cache: Path, repo: str, revisions: dict[str, Path]) -> None:
    """Lay files out as huggingface_hub's cache does: refs/<rev> -> snapshots/<commit>/."""
    root = cache / f"models--{repo.replace('/', '--')}"
    for i, (rev, src) in enumerate(revisions.items()):
        commit = f"{i + 1:040x}"
        (root / "refs").mkdir(parents=True, exist_ok=True)
        (root / "refs" / rev).write_text(commit)
        shutil.copytree(src, root / "snapshots" / commit)


def test_hub_id_and_revision_from_cache_offline(
    fixtures_dir: Path, tmp_path: Path, tiny_model: Kronos
) -> None:
    other = tmp_path / "other"
    with torch.no_grad():
        Kronos(**tiny_model.config).save_pretrained(other)
    cache = tmp_path / "hub"
    _fake_hub_cache(cache, "acme/kronos-tiny", {"main": fixtures_dir / "tiny-model", "v2": other})

    main = Kronos.from_pretrained("acme/kronos-tiny", cache_dir=cache)
    v2 = Kronos.from_pretrained("acme/kronos-tiny", revision="v2", cache_dir=cache)
    assert torch.equal(main.norm.weight, tiny_model.norm.weight)
    assert not torch.equal(v2.head.proj_s1.weight, tiny_model.head.proj_s1.weight)


def test_unknown_hub_id_offline_raises(tmp_path: Path) -> None:
    with pytest.raises(Exception, match=r"(?i)offline|cannot find|not found|connection"):
        Kronos.from_pretrained("acme/does-not-exist", cache_dir=tmp_path)


@pytest.mark.parametrize("name", ["checkpoints/modle", "./modle", "/nowhere/modle", "a/b/c"])
def test_a_local_path_that_does_not_exist_is_a_missing_directory(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "checkpoints" / "model").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match=r"checkpoint directory \S+ does not exist"):
        Kronos.from_pretrained(name, cache_dir=tmp_path / "hub")


@pytest.mark.parametrize(
    ("name", "is_path"),
    [
        ("NeoQuasar/Kronos-small", False),
        ("Kronos-small", False),
        ("checkpoints/modle", True),
        ("./checkpoints/modle", True),
        ("~/models/kronos", True),
        ("a/b/c", True),
        ("models\\kronos", True),
    ],
)
def test_looks_like_path(
    name: str, is_path: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "checkpoints").mkdir()
    assert looks_like_path(name) is is_path
