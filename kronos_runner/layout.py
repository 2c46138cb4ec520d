"""Checkpoint layout facts, torch-free: the official sizes' configs and where a checkpoint
directory keeps its predictor and tokenizer.

A *checkpoint root* (what `kronos-forecast init-checkpoint`, `train` and `finetune` write) holds
``model/`` and ``tokenizer/``, each in the hub layout (config.json + model.safetensors).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
MODEL_DIR = "model"
TOKENIZER_DIR = "tokenizer"

_TOKENIZER_BASE = {
    "attn_dropout_p": 0.0, "beta": 0.05, "d_in": 6, "d_model": 256, "ff_dim": 512,
    "ffn_dropout_p": 0.0, "gamma": 1.1, "gamma0": 1.0, "group_size": 4, "n_dec_layers": 4,
    "n_enc_layers": 4, "n_heads": 4, "resid_dropout_p": 0.0, "s1_bits": 10, "s2_bits": 10,
    "zeta": 0.05,
}  # fmt: skip


@dataclass(frozen=True)
class Size:
    """An official Kronos size: the hub ids and config.json of its predictor and tokenizer."""

    model_id: str
    tokenizer_id: str
    model: dict
    tokenizer: dict


SIZES: dict[str, Size] = {
    "mini": Size(
        "NeoQuasar/Kronos-mini",
        "NeoQuasar/Kronos-Tokenizer-2k",
        {"attn_dropout_p": 0.0, "d_model": 256, "ff_dim": 512, "ffn_dropout_p": 0.2,
         "learn_te": True, "n_heads": 4, "n_layers": 4, "resid_dropout_p": 0.2, "s1_bits": 10,
         "s2_bits": 10, "token_dropout_p": 0.0},
        _TOKENIZER_BASE | {"group_size": 5},
    ),
    "small": Size(
        "NeoQuasar/Kronos-small",
        "NeoQuasar/Kronos-Tokenizer-base",
        {"attn_dropout_p": 0.1, "d_model": 512, "ff_dim": 1024, "ffn_dropout_p": 0.25,
         "learn_te": True, "n_heads": 8, "n_layers": 8, "resid_dropout_p": 0.25, "s1_bits": 10,
         "s2_bits": 10, "token_dropout_p": 0.1},
        _TOKENIZER_BASE,
    ),
    "base": Size(
        "NeoQuasar/Kronos-base",
        "NeoQuasar/Kronos-Tokenizer-base",
        {"attn_dropout_p": 0.0, "d_model": 832, "ff_dim": 2048, "ffn_dropout_p": 0.2,
         "learn_te": True, "n_heads": 16, "n_layers": 12, "resid_dropout_p": 0.2, "s1_bits": 10,
         "s2_bits": 10, "token_dropout_p": 0.0},
        _TOKENIZER_BASE,
    ),
}  # fmt: skip


def checkpoint_pair(name: str | Path, tokenizer: str | Path) -> tuple[str | Path, str | Path]:
    """The (predictor, tokenizer) a checkpoint name stands for: a checkpoint root gives its
    ``model/`` and ``tokenizer/``; a predictor directory with a ``tokenizer/`` inside gives that;
    anything else (a predictor directory, a hub id) is paired with ``tokenizer``."""
    local = Path(name).expanduser()
    if (local / MODEL_DIR / CONFIG_NAME).is_file():
        root_tokenizer = local / TOKENIZER_DIR
        return local / MODEL_DIR, root_tokenizer if root_tokenizer.is_dir() else tokenizer
    if (local / TOKENIZER_DIR / CONFIG_NAME).is_file():
        return name, local / TOKENIZER_DIR
    return name, tokenizer
