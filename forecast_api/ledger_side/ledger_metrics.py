"""The ledger's Prometheus gauges on BentoML's `/metrics` (prometheus_client, multiprocess).

Per worker: whether the writer's writes succeed, its buffer, written, dropped and failed
records (`LedgerWriter.metrics`, summed over the live workers). Per symbol and interval, over
the last 30 days of scheduled forecasts: rolling 80%/90% coverage as served, calibrated
confidence ECE, CRPS skill against the naive forecast and the scorer's lag (the same in every
worker: the largest live value is reported). The gauges are created on first use, after BentoML
has set up its multiprocess metrics directory.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache

from prometheus_client import Gauge

WORKER = {  # the names of `LedgerWriter.metrics`
    "ledger_up": "1 while the worker's ledger writes succeed",
    "ledger_buffered": "records waiting in the worker's ledger buffer",
    "ledger_written_total": "records the worker wrote to the ledger",
    "ledger_dropped_total": "records the worker dropped because its buffer was full",
    "ledger_write_failures_total": "failed ledger writes of the worker",
}
TRACK = {
    "coverage80": "share of scored steps inside the served 80% band (30 days)",
    "coverage90": "share of scored steps inside the served 90% band (30 days)",
    "ece": "calibrated confidence ECE at the reference step (30 days)",
    "crps_skill": "1 - CRPS / CRPS of the naive forecast (30 days)",
    "scorer_lag_seconds": "age of the oldest closed step still unscored",
}
TRACK_KEYS = {
    "coverage80": "coverage80",
    "coverage90": "coverage90",
    "ece": "ece",
    "crps_skill": "crpsSkill",
    "scorer_lag_seconds": "scorerLag",
}


@cache
def _gauge(name: str) -> Gauge:
    """The gauge `kronos_<name>` of a worker figure, `kronos_ledger_<name>` of a track-record
    one (created once per process)."""
    if name in WORKER:
        return Gauge(f"kronos_{name}", WORKER[name], multiprocess_mode="livesum")
    return Gauge(
        f"kronos_ledger_{name}", TRACK[name], ["symbol", "interval"], multiprocess_mode="livemax"
    )


def publish_worker(worker: Mapping[str, float]) -> None:
    """Set the worker gauges (the writer calls it whenever its figures change, so `/metrics`
    agrees with `/health` between upkeep rounds)."""
    for name, value in worker.items():
        _gauge(name).set(value)


def publish(worker: Mapping[str, float], track: Mapping[str, Mapping[str, dict]]) -> None:
    """Set the worker gauges and, per interval and symbol, the track-record gauges."""
    publish_worker(worker)
    for interval, symbols in track.items():
        for symbol, values in symbols.items():
            for name, key in TRACK_KEYS.items():
                if values.get(key) is not None:
                    _gauge(name).labels(symbol=symbol, interval=interval).set(values[key])
