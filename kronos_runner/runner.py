"""The Kronos runner process's logic, independent of BentoML: load once, forecast batches.

A batch may mix series of different lengths, horizons and sampling parameters. Items with equal
sampling parameters share one `KronosPipeline.predict` call (one generation pass); every item gets
its own result or error, so one bad item never fails its neighbours. An item whose `deadline` has
passed (the API stopped waiting) is dropped before its group is computed; while a group runs,
it stops before the next model pass (a series' encoding or prefill, a generation step, the
decoding) once every item of the group has expired; an item that expires while others of its
group still wait is computed with them. Abandoned work thus costs the runner about one model pass
past its deadline.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from kronos_runner.generate import GenerationStopped
from kronos_runner.hub import checkpoint_digest
from kronos_runner.memory import HeapTrimmer
from kronos_runner.model import Kronos
from kronos_runner.pipeline import KronosPipeline
from kronos_runner.priority import PriorityGate
from kronos_runner.tokenizer import KronosTokenizer
from kronos_runner.wire import RunnerItem, RunnerResult, RunnerStatus, SamplingParams

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelSpec:
    """Which checkpoints to load and where: hub ids or local directories, device, dtype."""

    model: str | Path
    tokenizer: str | Path
    model_revision: str | None = None
    tokenizer_revision: str | None = None
    device: str = "auto"
    max_context: int = 512
    dtype: str | None = None


class RunnerCore:
    """Holds the pipeline (or the reason it could not be loaded) and runs batches."""

    def __init__(
        self,
        pipeline: KronosPipeline | None,
        status: RunnerStatus,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.pipeline = pipeline
        self._status = status
        self._clock = clock
        self._trimmer = HeapTrimmer()
        self._gate = PriorityGate()  # interactive batches ahead of scheduled ones

    @classmethod
    def load(cls, spec: ModelSpec) -> RunnerCore:
        """Load tokenizer + model as `spec` says; a failure is recorded, not raised."""
        try:
            model = Kronos.from_pretrained(spec.model, revision=spec.model_revision)
            tokenizer = KronosTokenizer.from_pretrained(
                spec.tokenizer, revision=spec.tokenizer_revision
            )
            pipeline = KronosPipeline.from_pretrained(
                model,
                tokenizer,
                device=spec.device,
                max_context=spec.max_context,
                dtype=spec.dtype,
                release_weights=True,
            )
        except Exception as exc:  # any load failure -> fallback mode, reported by status()
            logger.warning("Kronos model not loaded, serving the fallback: %s", exc)
            status = RunnerStatus(
                loaded=False,
                modelId=str(spec.model),
                tokenizerId=str(spec.tokenizer),
                error=f"{type(exc).__name__}: {exc}",
            )
            return cls(None, status)
        status = RunnerStatus(
            loaded=True,
            modelId=str(spec.model),
            tokenizerId=str(spec.tokenizer),
            device=str(pipeline.device),
            maxContext=pipeline.max_context,
            checkpointDigest=checkpoint_digest(spec.model, spec.model_revision)
            + "+"
            + checkpoint_digest(spec.tokenizer, spec.tokenizer_revision),
        )
        return cls(pipeline, status)

    def status(self) -> RunnerStatus:
        """Whether the model is loaded, and why not."""
        return self._status

    def forecast(self, items: list[RunnerItem], scheduled: bool = False) -> list[RunnerResult]:
        """One result per item, in order; never raises for a bad item. A `scheduled` batch
        yields to interactive ones before each model pass (`kronos_runner.priority`)."""
        if self.pipeline is None:
            reason = f"model not loaded: {self._status.error or 'still loading'}"
            return [RunnerResult.failure("not_loaded", reason) for _ in items]
        with self._gate.scheduled() if scheduled else self._gate.interactive():
            results = self._forecast(items, scheduled)
        self._trimmer.after_work()
        return results

    def _forecast(self, items: list[RunnerItem], scheduled: bool) -> list[RunnerResult]:
        """`forecast` of a loaded pipeline, one group of equal sampling parameters at a time."""
        groups: dict[tuple, list[int]] = defaultdict(list)
        for index, item in enumerate(items):
            groups[tuple(item.sampling.model_dump().values())].append(index)
        results: list[RunnerResult | None] = [None] * len(items)
        for indices in groups.values():  # the deadline is checked before each group
            live = [i for i in indices if not self._expired(items[i], results, i)]
            if live:
                batch = [items[i] for i in live]
                for index, result in zip(live, self._predict(batch, scheduled), strict=True):
                    results[index] = result
        return [r for r in results if r is not None]

    def _late(self, item: RunnerItem) -> bool:
        """Whether the item's deadline has passed."""
        return item.deadline is not None and self._clock() >= item.deadline

    def _expired(self, item: RunnerItem, results: list[RunnerResult | None], index: int) -> bool:
        """Record an `expired` result for an item whose deadline has passed."""
        late = self._late(item)
        if late:
            results[index] = RunnerResult.failure(
                "expired", "the API stopped waiting before the runner reached this item"
            )
        return late

    def _should_stop(self, items: list[RunnerItem], scheduled: bool) -> Callable[[], bool]:
        """The check before each model pass: a scheduled batch first waits for interactive
        ones; then, whether every item's deadline has passed."""

        def check() -> bool:
            if scheduled:
                self._gate.scheduled_pass()
            return all(self._late(item) for item in items)

        return check

    def _predict(self, items: list[RunnerItem], scheduled: bool = False) -> list[RunnerResult]:
        """Forecast items sharing sampling parameters in one call; isolate failures per item."""
        sampling: SamplingParams = items[0].sampling
        try:
            forecasts = self.pipeline.predict(
                [item.frame() for item in items],
                [item.horizon for item in items],
                samples=sampling.samples,
                temperature=sampling.temperature,
                top_k=sampling.top_k,
                top_p=sampling.top_p,
                seed=[item.seed for item in items],
                should_stop=self._should_stop(items, scheduled),
            )
        except GenerationStopped as stop:
            reason = f"the API stopped waiting for every item of the batch ({stop})"
            return [RunnerResult.failure("expired", reason) for _ in items]
        except Exception as exc:
            if len(items) > 1:
                return [result for item in items for result in self._predict([item], scheduled)]
            kind = "invalid" if isinstance(exc, ValueError) else "failed"
            logger.warning("runner item failed (%s): %s", kind, exc)
            return [RunnerResult.failure(kind, f"{type(exc).__name__}: {exc}")]
        return [RunnerResult.from_forecast(forecast) for forecast in forecasts]
