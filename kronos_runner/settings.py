"""The runner's own settings from the environment and `.env` (torch-free, pydantic-settings).

KRONOS_CHALLENGERS names further checkpoints the runner loads beside the main model, each as its
own pipeline: a comma list of ``name=path_or_hub_id`` or bare paths / hub ids (the name is then
the last part of the path or id). A challenger uses its own tokenizer when its directory has one
(``DIR/tokenizer``, or a checkpoint root with ``model/`` and ``tokenizer/``), otherwise the main
model's (KRONOS_TOKENIZER).
"""

from __future__ import annotations

import re
from pathlib import PurePath
from typing import Annotated

from pydantic import BaseModel, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
RESERVED = {"kronos"}  # the main model's forecaster name


class Challenger(BaseModel):
    """A named checkpoint the runner serves beside the main model."""

    name: str
    checkpoint: str

    @classmethod
    def parse(cls, text: str) -> Challenger:
        """``name=checkpoint`` or a bare checkpoint (named by its last path part)."""
        name, sep, checkpoint = text.strip().partition("=")
        if not sep:
            checkpoint = name
            name = PurePath(checkpoint.rstrip("/\\")).name
        name, checkpoint = name.strip(), checkpoint.strip()
        if not checkpoint:
            raise ValueError(f"KRONOS_CHALLENGERS entry {text!r} names no checkpoint")
        if not NAME.match(name):
            raise ValueError(
                f"KRONOS_CHALLENGERS: bad name {name!r} (letters, digits, '.', '_', '-'; "
                "write name=path to choose one)"
            )
        if name.lower() in RESERVED:
            raise ValueError(f"KRONOS_CHALLENGERS: {name!r} is the main model's name")
        return cls(name=name, checkpoint=checkpoint)


class RunnerSettings(BaseSettings):
    """Settings only the runner reads (the model's own settings are still the service's)."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    kronos_challengers: Annotated[list[Challenger], NoDecode] = []

    @field_validator("kronos_challengers", mode="before")
    @classmethod
    def _parse(cls, value: object) -> object:
        """A comma list of `name=checkpoint` or checkpoints; names must be unique."""
        if isinstance(value, str):
            value = [Challenger.parse(part) for part in value.split(",") if part.strip()]
        names = [c.name if isinstance(c, Challenger) else c["name"] for c in value]
        if len(set(names)) != len(names):
            raise ValueError(f"KRONOS_CHALLENGERS: names must be unique, got {names}")
        return value
