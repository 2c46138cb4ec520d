"""Interactive forecasts ahead of scheduled ones inside one runner process.

The runner serves two batched endpoints, `forecast` (interactive: a client waits) and
`forecast_scheduled` (the ledger's background forecasts), each with its own BentoML batch queue,
so an interactive batch never queues behind a scheduled one. The two may run at once in two
threads; this gate keeps them from sharing the CPU: a scheduled batch asks `scheduled_pass()`
before each model pass (the generation's `should_stop` hook) and waits there while any
interactive batch runs or waits, and an interactive batch waits only for the scheduled pass in
progress (one generation step) to end. A paused scheduled batch keeps its state and resumes
where it stopped: its results do not change.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager


class PriorityGate:
    """Who may run the next model pass: interactive batches first (see the module doc)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._interactive = 0  # interactive batches running or waiting to run
        self._scheduled_busy = False  # a scheduled model pass is running

    @contextmanager
    def interactive(self) -> Iterator[None]:
        """Run an interactive batch: wait for the scheduled pass in progress, if any."""
        with self._cond:
            self._interactive += 1
            self._cond.wait_for(lambda: not self._scheduled_busy)
        try:
            yield
        finally:
            with self._cond:
                self._interactive -= 1
                self._cond.notify_all()

    @contextmanager
    def scheduled(self) -> Iterator[None]:
        """Run a scheduled batch, whose passes each call `scheduled_pass` first."""
        try:
            self.scheduled_pass()
            yield
        finally:
            with self._cond:
                self._scheduled_busy = False
                self._cond.notify_all()

    def scheduled_pass(self) -> None:
        """Before a scheduled model pass: end the previous one, wait until no interactive
        batch runs or waits, then start this one."""
        with self._cond:
            self._scheduled_busy = False
            self._cond.notify_all()
            self._cond.wait_for(lambda: self._interactive == 0)
            self._scheduled_busy = True
