"""The configured Kronos pipeline for the commands that forecast (torch imported on call)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cli.errors import model_failure
from forecast_api.settings import ServiceSettings

if TYPE_CHECKING:
    from kronos_runner.pipeline import KronosPipeline


def load_pipeline(settings: ServiceSettings, threads: int | None) -> KronosPipeline:
    """KRONOS_MODEL + KRONOS_TOKENIZER on DEVICE; a checkpoint that cannot be loaded is a
    `KnownFailure` naming it and the fix."""
    from safetensors import SafetensorError

    from kronos_runner.model import Kronos  # torch: the forecasting commands only
    from kronos_runner.pipeline import KronosPipeline
    from kronos_runner.threads import set_process_threads
    from kronos_runner.tokenizer import KronosTokenizer

    set_process_threads(threads)
    name = settings.kronos_model
    try:
        model = Kronos.from_pretrained(name, revision=settings.kronos_model_revision)
        name = settings.kronos_tokenizer
        tokenizer = KronosTokenizer.from_pretrained(
            name, revision=settings.kronos_tokenizer_revision
        )
    except (OSError, ValueError, SafetensorError) as exc:
        raise model_failure(name, exc) from exc
    return KronosPipeline.from_pretrained(
        model,
        tokenizer,
        device=settings.device,
        max_context=settings.kronos_max_context,
        dtype=settings.kronos_dtype,
    )
