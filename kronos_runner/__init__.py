"""Kronos model core: checkpoint-compatible modules, KV-cached generation, forecast pipeline."""

from kronos_runner.model import Kronos
from kronos_runner.pipeline import FEATURES, Forecast, KronosPipeline
from kronos_runner.tokenizer import KronosTokenizer

__all__ = ["FEATURES", "Forecast", "Kronos", "KronosPipeline", "KronosTokenizer"]
