"""The environment variables a command reads, listed from the settings classes themselves
(name, description, default), for each command's `--help`."""

from __future__ import annotations

from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings

from data_sources import MarketDataSettings
from forecast_api.settings import ServiceSettings
from kronos_runner.settings import RunnerSettings

CLASSES: tuple[type[BaseSettings], ...] = (ServiceSettings, MarketDataSettings, RunnerSettings)

MODEL = (
    "kronos_model",
    "kronos_tokenizer",
    "kronos_model_revision",
    "kronos_tokenizer_revision",
    "device",
    "kronos_dtype",
    "kronos_max_context",
)
SAMPLER = ("kronos_samples", "kronos_temperature", "kronos_top_k", "kronos_top_p")
CONTEXT = ("kronos_lookback", "kronos_max_fill", "kronos_min_context")
MARKET = tuple(name for name in MarketDataSettings.model_fields if name != "market_data_dir")
HUB = "also huggingface_hub's HF_HOME / HF_HUB_CACHE (download cache) and HF_HUB_OFFLINE=1."


def field(name: str) -> FieldInfo:
    """The settings field called `name` (KeyError naming it when no settings class has it)."""
    for cls in CLASSES:
        if name in cls.model_fields:
            return cls.model_fields[name]
    raise KeyError(f"no settings field {name!r} in {[c.__name__ for c in CLASSES]}")


def describe(name: str) -> str:
    """`NAME  description (default: value)` for one field."""
    info = field(name)
    default = "[]" if info.default_factory is not None else info.default
    text = f"{info.description}; " if info.description else ""
    return f"  {name.upper():30} {text}default: {default}"


def env_help(*names: str, hub: bool = False) -> str:
    """The epilog of a command's --help: the variables it reads (also from `.env`)."""
    lines = ["environment variables read (also from ./.env):", *map(describe, names)]
    return "\n".join([*lines, HUB] if hub else lines)
