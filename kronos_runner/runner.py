"""The Kronos runner process's logic, independent of BentoML: load once, forecast batches.

A batch may mix series of different lengths, horizons and sampling parameters. Items with equal
sampling parameters share one `KronosPipeline.predict` call (one generation pass); every item gets
its own result or error, so one bad item never fails its neighbours. An item whose `deadline` has
passed (the API stopped waiting) is dropped before its group is computed; while a group runs,
it stops before the next model pass (a series' encoding or prefill, a generation step, the
decoding) once every item of the group has expired; an item that expires while others of its
group still wait is computed with them. Abandoned work thus costs the runner about one model pass
past its deadline.

Challengers (KRONOS_CHALLENGERS) are further checkpoints, each loaded as its own pipeline; an
item names one in `model` (None: the main model). Items go to their model's pipeline, grouped by
sampling parameters there; a challenger that failed to load fails only its own items.

`ModelSpec.test_slowdown_s` (KRONOS_TEST_SLOWDOWN_S, honoured only with KRONOS_TEST_HOOKS=true)
is a test hook: the runner waits that long before every model pass, so tests can make forecasts
slow on any CPU with the deadline rules above unchanged. Never set it in production.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kronos_runner.generation_types import GenerationStopped
from kronos_runner.hub import checkpoint_digest
from kronos_runner.layout import checkpoint_pair
from kronos_runner.memory import HeapTrimmer
from kronos_runner.model import Kronos
from kronos_runner.pipeline import KronosPipeline
from kronos_runner.priority import PriorityGate
from kronos_runner.settings import Challenger
from kronos_runner.tokenizer import KronosTokenizer
from kronos_runner.wire import (
    ChallengerState,
    RunnerItem,
    RunnerResult,
    RunnerStatus,
    SamplingParams,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelSpec:
    """Which checkpoints to load and where: hub ids or local directories, device, dtype; and
    the test hook's wait before each model pass (0: off)."""

    model: str | Path
    tokenizer: str | Path
    model_revision: str | None = None
    tokenizer_revision: str | None = None
    device: str = "auto"
    max_context: int = 512
    dtype: str | None = None
    challengers: tuple[Challenger, ...] = ()
    test_slowdown_s: float = 0.0


def load_pipeline(
    spec: ModelSpec,
    model: str | Path,
    tokenizer: str | Path,
    model_revision: str | None = None,
    tokenizer_revision: str | None = None,
) -> tuple[KronosPipeline | None, dict[str, Any]]:
    """One checkpoint pair as a serving pipeline and its `ModelState` fields; a failure is
    recorded in them (pipeline None), not raised."""
    state: dict[str, Any] = {"modelId": str(model), "tokenizerId": str(tokenizer)}
    try:
        predictor = Kronos.from_pretrained(model, revision=model_revision)
        pipeline = KronosPipeline.from_pretrained(
            predictor,
            KronosTokenizer.from_pretrained(tokenizer, revision=tokenizer_revision),
            device=spec.device,
            max_context=spec.max_context,
            dtype=spec.dtype,
            release_weights=True,
        )
    except Exception as exc:  # any load failure -> that model is not served, status says why
        logger.warning("Kronos checkpoint %s not loaded: %s", model, exc)
        return None, state | {"loaded": False, "error": f"{type(exc).__name__}: {exc}"}
    digest = checkpoint_digest(model, model_revision)
    digest += "+" + checkpoint_digest(tokenizer, tokenizer_revision)
    if not pipeline.trained:
        logger.warning("Kronos checkpoint %s holds UNTRAINED (random) weights", model)
    return pipeline, state | {
        "loaded": True,
        "checkpointDigest": digest,
        "trainedWeights": pipeline.trained,
        "provenance": predictor.provenance,
    }


class RunnerCore:
    """Holds the pipelines (or the reasons they could not be loaded) and runs batches."""

    def __init__(
        self,
        pipeline: KronosPipeline | None,
        status: RunnerStatus,
        clock: Callable[[], float] = time.time,
        challengers: Mapping[str, KronosPipeline | None] | None = None,
        slowdown_s: float = 0.0,
    ) -> None:
        self.pipeline = pipeline
        self.challengers = dict(challengers or {})
        self._status = status
        self._clock = clock
        self._slowdown_s = slowdown_s
        self._trimmer = HeapTrimmer()
        self._gate = PriorityGate()  # interactive batches ahead of scheduled ones

    @classmethod
    def load(cls, spec: ModelSpec) -> RunnerCore:
        """Load the main pair and each challenger as `spec` says; failures are recorded."""
        pipeline, state = load_pipeline(
            spec, spec.model, spec.tokenizer, spec.model_revision, spec.tokenizer_revision
        )
        if pipeline is None:
            logger.warning("the main model is not loaded: serving the fallback")
        else:
            state |= {"device": str(pipeline.device), "maxContext": pipeline.max_context}
        challengers, states = {}, []
        for challenger in spec.challengers:
            model, tokenizer = checkpoint_pair(challenger.checkpoint, spec.tokenizer)
            revision = spec.tokenizer_revision if tokenizer == spec.tokenizer else None
            challengers[challenger.name], fields = load_pipeline(
                spec, model, tokenizer, tokenizer_revision=revision
            )
            states.append(ChallengerState(name=challenger.name, **fields))
        if spec.test_slowdown_s:
            logger.warning(
                "TEST HOOK ACTIVE: the runner waits %.3f s before every model pass "
                "(KRONOS_TEST_SLOWDOWN_S with KRONOS_TEST_HOOKS=true); never in production",
                spec.test_slowdown_s,
            )
        status = RunnerStatus(**state, challengers=states)
        return cls(pipeline, status, challengers=challengers, slowdown_s=spec.test_slowdown_s)

    def status(self) -> RunnerStatus:
        """Whether the model is loaded, and why not."""
        return self._status

    def forecast(self, items: list[RunnerItem], scheduled: bool = False) -> list[RunnerResult]:
        """One result per item, in order; never raises for a bad item. A `scheduled` batch
        yields to interactive ones before each model pass (`kronos_runner.priority`)."""
        with self._gate.scheduled() if scheduled else self._gate.interactive():
            results = self._forecast(items, scheduled)
        self._trimmer.after_work()
        return results

    def _forecast(self, items: list[RunnerItem], scheduled: bool) -> list[RunnerResult]:
        """`forecast`, one group of equal model and sampling parameters at a time."""
        groups: dict[tuple, list[int]] = defaultdict(list)
        results: list[RunnerResult | None] = [None] * len(items)
        for index, item in enumerate(items):
            problem = self._unservable(item.model)
            if problem is not None:
                results[index] = problem
            else:
                groups[(item.model, *item.sampling.model_dump().values())].append(index)
        for (model, *_), indices in groups.items():  # the deadline is checked before each group
            live = [i for i in indices if not self._expired(items[i], results, i)]
            if live:
                batch = [items[i] for i in live]
                done = self._predict(self._pipeline(model), batch, scheduled)
                for index, result in zip(live, done, strict=True):
                    results[index] = result
        return [r for r in results if r is not None]

    def _pipeline(self, model: str | None) -> KronosPipeline | None:
        """The main pipeline (None) or a challenger's."""
        return self.pipeline if model is None else self.challengers.get(model)

    def _unservable(self, model: str | None) -> RunnerResult | None:
        """The error for an item whose model is unknown or not loaded (None when servable)."""
        if model is not None and model not in self.challengers:
            names = ", ".join(sorted(self.challengers)) or "none"
            return RunnerResult.failure(
                "invalid", f"unknown model {model!r} (challengers: {names})"
            )
        if self._pipeline(model) is not None:
            return None
        state = self._status if model is None else self._challenger_state(model)
        reason = f"model not loaded: {state.error or 'still loading'}"
        return RunnerResult.failure("not_loaded", reason)

    def _challenger_state(self, name: str) -> ChallengerState:
        """A challenger's status entry."""
        return next(c for c in self._status.challengers if c.name == name)

    def _late(self, item: RunnerItem) -> bool:
        """Whether the item's deadline has passed."""
        return item.deadline is not None and self._clock() >= item.deadline

    def _before_pass(self, items: list[RunnerItem], scheduled: bool) -> bool:
        """Asked before each model pass: a scheduled batch first waits while interactive ones
        run; wait the test slowdown (if any), then whether every item's deadline has passed."""
        if scheduled:
            self._gate.scheduled_pass()
        if self._slowdown_s:
            time.sleep(self._slowdown_s)
        return all(self._late(item) for item in items)

    def _expired(self, item: RunnerItem, results: list[RunnerResult | None], index: int) -> bool:
        """Record an `expired` result for an item whose deadline has passed."""
        late = self._late(item)
        if late:
            results[index] = RunnerResult.failure(
                "expired", "the API stopped waiting before the runner reached this item"
            )
        return late

    def _predict(
        self, pipeline: KronosPipeline, items: list[RunnerItem], scheduled: bool = False
    ) -> list[RunnerResult]:
        """Forecast items sharing a model and sampling parameters in one call; isolate failures
        per item."""
        sampling: SamplingParams = items[0].sampling
        try:
            forecasts = pipeline.predict(
                [item.frame() for item in items],
                [item.horizon for item in items],
                samples=sampling.samples,
                temperature=sampling.temperature,
                top_k=sampling.top_k,
                top_p=sampling.top_p,
                seed=[item.seed for item in items],
                should_stop=lambda: self._before_pass(items, scheduled),
            )
        except GenerationStopped as stop:
            reason = f"the API stopped waiting for every item of the batch ({stop})"
            return [RunnerResult.failure("expired", reason) for _ in items]
        except Exception as exc:
            if len(items) > 1:
                return [
                    result
                    for item in items
                    for result in self._predict(pipeline, [item], scheduled)
                ]
            kind = "invalid" if isinstance(exc, ValueError) else "failed"
            logger.warning("runner item failed (%s): %s", kind, exc)
            return [RunnerResult.failure(kind, f"{type(exc).__name__}: {exc}")]
        return [RunnerResult.from_forecast(f, pipeline.trained) for f in forecasts]
