"""Process-wide torch CPU thread setting, made once at a process's entry point.

Library code (the pipeline, generation) never changes torch's thread count: it is global state
shared by every forecast running in the process. Entry points (the CLIs, the runner worker's
start-up, the benchmarks) call ``set_process_threads`` once, before any model work.

Policy, from a measurement on the project's shared 2-core machine with other CPU-bound
processes running (load average 6-9; benchmarks/bench_generate.py, Kronos-small 400 -> 24 x 30
paths): 1 thread 8.9 s per call, 2 threads 44-52 s, as two OpenMP threads stall each other when a
core is taken away. So the default is one thread; pass more only on cores this process owns.
"""

from __future__ import annotations

import logging

import torch

logger = logging.getLogger(__name__)

DEFAULT_THREADS = 1


def set_process_threads(threads: int | None = None) -> int:
    """Set torch's intra-op threads for this process: ``threads``, or ``DEFAULT_THREADS``.

    Returns the count set. Call it once, at a process entry point, before any model work.
    """
    n = DEFAULT_THREADS if threads is None else int(threads)
    if n < 1:
        raise ValueError(f"threads must be >= 1, got {threads!r}")
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    logger.info("torch CPU threads: %d", n)
    return n
