"""Checkpoint I/O in the Hugging Face ``save_pretrained`` layout (config.json + model.safetensors).

Hub ids go through huggingface_hub, so HF_HOME / HF_HUB_CACHE and HF_HUB_OFFLINE apply;
a local directory is read directly. Every key, shape and dtype is checked before loading.

Whether the weights were ever trained lives in the safetensors header's metadata (``trained``:
``"false"`` for random initialisation; a checkpoint without the entry, such as the official ones,
counts as trained), beside an optional ``provenance`` record (JSON: base checkpoint, data range,
steps, validation loss). A module built from a config is untrained until training marks it.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, TypeVar

import torch
from huggingface_hub import hf_hub_download
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from kronos_runner.layout import CONFIG_NAME, WEIGHTS_NAME

TRAINED_KEY = "trained"  # safetensors metadata: "true" / "false"
PROVENANCE_KEY = "provenance"  # safetensors metadata: a JSON object

M = TypeVar("M", bound="HubMixin")


class CheckpointError(ValueError):
    """A checkpoint does not match the module (missing, unexpected or mismatched tensors)."""


def resolve_file(
    repo_id_or_dir: str | Path,
    filename: str,
    revision: str | None = None,
    cache_dir: str | Path | None = None,
) -> Path:
    """Path of ``filename`` in a local directory, or downloaded (cached) from the hub.

    Hub downloads use huggingface_hub's cache (HF_HOME / HF_HUB_CACHE, or ``cache_dir``) and
    honour HF_HUB_OFFLINE; ``revision`` is a branch, tag or commit (default: main).
    """
    local = Path(repo_id_or_dir).expanduser()
    if local.is_dir():
        path = local / filename
        if not path.is_file():
            raise FileNotFoundError(f"{filename} not found in {local}")
        return path
    if looks_like_path(repo_id_or_dir):
        raise FileNotFoundError(
            f"checkpoint directory {local} does not exist (looked in {local.absolute()})"
        )
    return Path(
        hf_hub_download(str(repo_id_or_dir), filename, revision=revision, cache_dir=cache_dir)
    )


def checkpoint_digest(repo_id_or_dir: str | Path, revision: str | None = None) -> str:
    """The first 16 hex digits of the SHA-256 of a checkpoint's model.safetensors (what
    `sha256sum model.safetensors` prints), from the local directory or the hub's cache."""
    digest = hashlib.sha256()
    with resolve_file(repo_id_or_dir, WEIGHTS_NAME, revision).open("rb") as weights:
        for block in iter(lambda: weights.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:16]


def looks_like_path(name: str | Path) -> bool:
    """True when ``name`` is meant as a local path rather than a hub id (``owner/name``): it
    starts with ``.``, ``/`` or ``~``, has a backslash, more than one ``/`` or a trailing one,
    or its first part is a local directory (``checkpoints/modle`` next to ``checkpoints/``)."""
    name = str(name)
    head, slash, _ = name.partition("/")
    return (
        name.startswith((".", "/", "~"))
        or "\\" in name
        or name.count("/") > 1
        or name.endswith("/")
        or bool(slash and Path(head).is_dir())
    )


def check_state_dict(expected: dict[str, torch.Tensor], found: dict[str, torch.Tensor]) -> None:
    """Raise CheckpointError naming the first missing/unexpected key or shape/dtype mismatch."""
    missing = [k for k in expected if k not in found]
    if missing:
        raise CheckpointError(f"checkpoint is missing key {missing[0]!r} ({len(missing)} missing)")
    unexpected = [k for k in found if k not in expected]
    if unexpected:
        raise CheckpointError(
            f"checkpoint has unexpected key {unexpected[0]!r} ({len(unexpected)} unexpected)"
        )
    for key, ref in expected.items():
        got = found[key]
        if tuple(got.shape) != tuple(ref.shape):
            raise CheckpointError(
                f"shape mismatch for key {key!r}: checkpoint {tuple(got.shape)}, "
                f"model {tuple(ref.shape)}"
            )
        if got.dtype != ref.dtype:
            raise CheckpointError(
                f"dtype mismatch for key {key!r}: checkpoint {got.dtype}, model {ref.dtype}"
            )


def weights_metadata(path: str | Path) -> tuple[bool, dict[str, Any] | None]:
    """Whether a model.safetensors file holds trained weights (no marker: trained), and its
    provenance record (None when it has none)."""
    with safe_open(str(path), framework="pt") as weights:
        metadata = weights.metadata() or {}
    record = metadata.get(PROVENANCE_KEY)
    return metadata.get(TRAINED_KEY, "true") != "false", (json.loads(record) if record else None)


class HubMixin:
    """``from_pretrained`` / ``save_pretrained`` for modules built from ``self.config`` kwargs;
    ``trained`` and ``provenance`` travel with the weights (see the module docstring)."""

    config: dict[str, Any]
    trained: bool = False  # built from a config: random weights
    provenance: dict[str, Any] | None = None

    @classmethod
    def from_pretrained(
        cls: type[M],
        repo_id_or_dir: str | Path,
        revision: str | None = None,
        *,
        cache_dir: str | Path | None = None,
    ) -> M:
        """Build from config.json and load model.safetensors (hub id or local dir); eval mode."""
        config_path = resolve_file(repo_id_or_dir, CONFIG_NAME, revision, cache_dir)
        weights_path = resolve_file(repo_id_or_dir, WEIGHTS_NAME, revision, cache_dir)
        config = json.loads(config_path.read_text())
        try:
            module = cls(**config)
        except TypeError as exc:
            raise CheckpointError(f"config.json does not fit {cls.__name__}: {exc}") from exc
        state = load_file(str(weights_path))
        check_state_dict(module.state_dict(), state)
        module.load_state_dict(state, strict=True)
        module.trained, module.provenance = weights_metadata(weights_path)
        return module.eval()

    def save_pretrained(self, save_directory: str | Path) -> Path:
        """Write config.json and model.safetensors (with ``trained`` and ``provenance`` in its
        header) into ``save_directory``; returns it."""
        out = Path(save_directory)
        out.mkdir(parents=True, exist_ok=True)
        (out / CONFIG_NAME).write_text(json.dumps(self.config, indent=2, sort_keys=True) + "\n")
        state = {k: v.detach().contiguous().cpu() for k, v in self.state_dict().items()}
        metadata = {"format": "pt", TRAINED_KEY: "true" if self.trained else "false"}
        if self.provenance is not None:
            metadata[PROVENANCE_KEY] = json.dumps(self.provenance, sort_keys=True)
        save_file(state, str(out / WEIGHTS_NAME), metadata=metadata)
        return out
