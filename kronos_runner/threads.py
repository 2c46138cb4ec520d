"""Process-wide torch CPU thread setting, made once at a process's entry point.

Library code (the pipeline, generation) never changes torch's thread count: it is global state
shared by every forecast running in the process. Entry points (the CLIs, the runner worker's
start-up, the benchmarks) call ``set_process_threads`` once, before any model work.
"""

from __future__ import annotations

import logging
import os

import torch

logger = logging.getLogger(__name__)


def available_cpus() -> int:
    """CPUs this process may run on (affinity-aware where the OS supports it)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def set_process_threads(threads: int | None = None) -> int:
    """Set torch's intra-op threads for this process: ``threads``, or every available CPU.

    Returns the count set. Call it once, at a process entry point, before any model work.
    """
    n = available_cpus() if threads is None else int(threads)
    if n < 1:
        raise ValueError(f"threads must be >= 1, got {threads!r}")
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    logger.info("torch CPU threads: %d", n)
    return n
