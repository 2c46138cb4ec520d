"""Load the model in a background thread so the runner process answers (and stops) meanwhile.

A hub download can hang for minutes (unreachable hub, retries). Loading inside the service's
`__init__` would keep the worker from serving `/readyz` and from handling SIGTERM; here the
worker starts at once, reports `loading`, and the daemon thread never holds up its exit.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from kronos_runner.runner import ModelSpec, RunnerCore
from kronos_runner.wire import RunnerItem, RunnerResult, RunnerStatus


class BackgroundCore:
    """`RunnerCore`'s interface while the core loads in a daemon thread."""

    def __init__(self, spec: ModelSpec, load: Callable[[ModelSpec], RunnerCore] = RunnerCore.load):
        self._spec = spec
        self._load = load
        self._core: RunnerCore | None = None
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name="kronos-load", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        self._core = self._load(self._spec)
        self._done.set()

    @property
    def settled(self) -> bool:
        """Whether loading finished (the model is loaded, or the fallback serves)."""
        return self._done.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until loading finished; whether it did within `timeout`."""
        return self._done.wait(timeout)

    def status(self) -> RunnerStatus:
        """The core's status, or `loading`."""
        if self._core is not None:
            return self._core.status()
        return RunnerStatus(
            loaded=False,
            loading=True,
            modelId=str(self._spec.model),
            tokenizerId=str(self._spec.tokenizer),
        )

    def forecast(self, items: list[RunnerItem], scheduled: bool = False) -> list[RunnerResult]:
        """The core's results, or `not_loaded` for each item while loading."""
        if self._core is not None:
            return self._core.forecast(items, scheduled)
        return [RunnerResult.failure("not_loaded", "model still loading") for _ in items]
