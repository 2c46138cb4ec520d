"""The ledger writer's Prometheus gauges follow its figures as they change, not per round."""

from __future__ import annotations

from pathlib import Path

from prometheus_client import REGISTRY

from forecast_api.ledger_side.ledger_link import LedgerLink
from tests.ledger.ledger_helpers import HOUR, T0, record


def gauge(name: str) -> float | None:
    return REGISTRY.get_sample_value(f"kronos_{name}")


async def test_metrics_say_what_health_says_after_each_flush(tmp_path: Path) -> None:
    link = LedgerLink(f"sqlite:///{tmp_path / 'ledger.db'}", "tiny")
    before = gauge("ledger_written_total") or 0.0  # the gauges are per process
    for i in range(3):
        link.submit(record(origin=T0 + i * HOUR, seed=i))
    assert gauge("ledger_buffered") == 3 and gauge("ledger_written_total") == before
    assert await link.writer.flush()  # no upkeep round in between
    assert link.writer.written == 3
    assert gauge("ledger_written_total") == 3 and gauge("ledger_buffered") == 0
