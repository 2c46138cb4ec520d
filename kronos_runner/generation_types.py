"""The vocabulary of generation: one series to forecast, and stopping it (`should_stop`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch import Tensor

StopCheck = Callable[[], bool]


class GenerationStopped(Exception):
    """Generation ended early because ``should_stop`` answered True before a model pass."""


def never() -> bool:
    """The default ``should_stop``: never stop."""
    return False


def check_stop(should_stop: StopCheck, where: str) -> None:
    """Raise GenerationStopped (saying ``where``) when ``should_stop()`` is True."""
    if should_stop():
        raise GenerationStopped(f"stopped {where}")


@dataclass
class SeriesRequest:
    """One series to forecast: normalised candles, time features, horizon and seed."""

    x: Tensor  # (n, d_in) normalised, clipped
    stamp: Tensor  # (n + horizon, 5) time features of the context then the future
    horizon: int
    seed: int
