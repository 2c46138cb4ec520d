"""Random-init checkpoints of the official sizes, marked untrained (for trying things offline)."""

from __future__ import annotations

from pathlib import Path

import torch

from kronos_runner.layout import MODEL_DIR, SIZES, TOKENIZER_DIR
from kronos_runner.model import Kronos
from kronos_runner.tokenizer import KronosTokenizer


def init_checkpoint(size: str, out: str | Path, seed: int = 0) -> tuple[Path, Path]:
    """Write random weights of an official size as a checkpoint root (``out/model``,
    ``out/tokenizer``), each marked untrained; returns the two directories."""
    facts = SIZES[size]
    out = Path(out)
    generator_state = torch.random.get_rng_state()
    try:
        torch.manual_seed(seed)
        model = Kronos(**facts.model)
        tokenizer = KronosTokenizer(**facts.tokenizer)
    finally:
        torch.random.set_rng_state(generator_state)  # leave the caller's random stream alone
    record = {"init": "random", "size": size, "seed": seed, "shapeOf": facts.model_id}
    model.provenance = record
    tokenizer.provenance = record | {"shapeOf": facts.tokenizer_id}
    return model.save_pretrained(out / MODEL_DIR), tokenizer.save_pretrained(out / TOKENIZER_DIR)
