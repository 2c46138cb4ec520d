"""Kronos model core (torch): modules, checkpoints, KV-cached generation, the forecast
pipeline, the runner process logic and its wire format, training and backtest tools.

Nothing is imported here, so `kronos_runner.wire` stays importable without torch; import the
modules themselves, e.g. `from kronos_runner.pipeline import KronosPipeline`.
"""
