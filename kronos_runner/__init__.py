"""Kronos model core: checkpoint-compatible modules, KV-cached generation, forecast pipeline."""

from kronos_runner.model import Kronos
from kronos_runner.tokenizer import KronosTokenizer

FEATURES = ("open", "high", "low", "close", "volume", "amount")

__all__ = ["FEATURES", "Kronos", "KronosTokenizer"]
