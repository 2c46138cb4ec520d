"""Give freed heap memory back to the OS after forecasting (glibc keeps it in its arenas).

Large batches allocate hundreds of MB of short-lived buffers across threads; glibc's malloc keeps
the freed pages in per-thread arenas, so the runner's RSS stays at its peak after a burst.
`malloc_trim(0)` returns them. Elsewhere (musl, macOS) this is a no-op.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import time
from collections.abc import Callable

logger = logging.getLogger(__name__)


def _load_trim() -> Callable[[int], int] | None:
    """glibc's `malloc_trim`, or None where there is none."""
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):
        return None


class HeapTrimmer:
    """Calls `malloc_trim(0)` after work, at most once per `min_interval_s`."""

    def __init__(
        self, min_interval_s: float = 1.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._trim = _load_trim()
        self._min_interval_s = min_interval_s
        self._clock = clock
        self._last = float("-inf")

    @property
    def available(self) -> bool:
        """Whether this C library has `malloc_trim`."""
        return self._trim is not None

    def after_work(self) -> bool:
        """Trim now unless trimmed recently; whether it trimmed."""
        now = self._clock()
        if self._trim is None or now - self._last < self._min_interval_s:
            return False
        self._last = now
        self._trim(0)
        return True
