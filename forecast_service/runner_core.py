"""The Kronos runner's logic, independent of BentoML: load once, forecast batches of items.

A batch may mix series of different lengths, horizons and sampling parameters. Items with equal
sampling parameters share one `KronosPipeline.predict` call (one generation pass); every item gets
its own result or error, so one bad item never fails its neighbours.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from typing import Any

from aiohttp import ClientConnectionError
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_fixed

from forecast_service.schemas import RunnerItem, RunnerResult, RunnerStatus, SamplingParams
from forecast_service.settings import ServiceSettings
from kronos_runner import KronosPipeline

logger = logging.getLogger(__name__)


class RunnerCore:
    """Holds the pipeline (or the reason it could not be loaded) and runs batches."""

    def __init__(self, pipeline: KronosPipeline | None, status: RunnerStatus) -> None:
        self.pipeline = pipeline
        self._status = status

    @classmethod
    def load(cls, settings: ServiceSettings) -> RunnerCore:
        """Load tokenizer + model from the settings; a failure is recorded, not raised."""
        try:
            from kronos_runner import Kronos, KronosTokenizer

            model = Kronos.from_pretrained(
                settings.kronos_model, revision=settings.kronos_model_revision
            )
            tokenizer = KronosTokenizer.from_pretrained(
                settings.kronos_tokenizer, revision=settings.kronos_tokenizer_revision
            )
            pipeline = KronosPipeline.from_pretrained(
                model,
                tokenizer,
                device=settings.device,
                max_context=settings.kronos_max_context,
                dtype=settings.kronos_dtype,
            )
        except Exception as exc:  # any load failure -> fallback mode, reported by status()
            logger.warning("Kronos model not loaded, serving the fallback: %s", exc)
            status = RunnerStatus(
                loaded=False,
                modelId=settings.kronos_model,
                tokenizerId=settings.kronos_tokenizer,
                error=f"{type(exc).__name__}: {exc}",
            )
            return cls(None, status)
        status = RunnerStatus(
            loaded=True,
            modelId=settings.kronos_model,
            tokenizerId=settings.kronos_tokenizer,
            device=str(pipeline.device),
            maxContext=pipeline.max_context,
        )
        return cls(pipeline, status)

    def status(self) -> RunnerStatus:
        """Whether the model is loaded, and why not."""
        return self._status

    def forecast(self, items: list[RunnerItem]) -> list[RunnerResult]:
        """One result per item, in order; never raises for a bad item."""
        if self.pipeline is None:
            reason = f"model not loaded: {self._status.error}"
            return [RunnerResult.failure("not_loaded", reason) for _ in items]
        groups: dict[tuple, list[int]] = defaultdict(list)
        for index, item in enumerate(items):
            groups[tuple(item.sampling.model_dump().values())].append(index)
        results: list[RunnerResult | None] = [None] * len(items)
        for indices in groups.values():
            batch = [items[i] for i in indices]
            for index, result in zip(indices, self._predict(batch), strict=True):
                results[index] = result
        return [r for r in results if r is not None]

    def _predict(self, items: list[RunnerItem]) -> list[RunnerResult]:
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
            )
        except Exception as exc:
            if len(items) > 1:
                return [result for item in items for result in self._predict([item])]
            kind = "invalid" if isinstance(exc, ValueError) else "failed"
            logger.warning("runner item failed (%s): %s", kind, exc)
            return [RunnerResult.failure(kind, f"{type(exc).__name__}: {exc}")]
        return [RunnerResult.from_forecast(forecast) for forecast in forecasts]


class LocalRunnerClient:
    """The engine's `RunnerClient` over an in-process `RunnerCore` (no BentoML, no batching)."""

    def __init__(self, core: RunnerCore) -> None:
        self.core = core

    async def forecast(self, items: list[RunnerItem]) -> list[RunnerResult]:
        """Run the batch in a worker thread."""
        return await asyncio.to_thread(self.core.forecast, items)

    async def status(self) -> RunnerStatus:
        """The core's model state."""
        return self.core.status()


class BentoRunnerClient:
    """The engine's `RunnerClient` over the BentoML dependency (batched with other callers).

    A dropped connection to the runner process (seen once right after start-up: aiohttp's
    "Can not write request body") is retried once; forecasting is idempotent."""

    def __init__(self, runner: Any, retry_wait_s: float = 0.2) -> None:
        self._runner = runner
        self._retry_wait_s = retry_wait_s

    async def forecast(self, items: list[RunnerItem]) -> list[RunnerResult]:
        """Forecast through the runner service."""
        # The attempt-loop form: BentoML's handle is not a coroutine function, so tenacity's
        # call form would not await it.
        async for attempt in AsyncRetrying(
            retry=retry_if_exception_type(ClientConnectionError),
            stop=stop_after_attempt(2),
            wait=wait_fixed(self._retry_wait_s),
            reraise=True,
        ):
            with attempt:
                results = await self._runner.to_async.forecast(items)
        return results

    async def status(self) -> RunnerStatus:
        """The runner's model state."""
        return await self._runner.to_async.status()
