"""The data-source tracker behind /health: outcomes ordered by their time, not their second."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from forecast_api.ops.data_source import DataSourceTracker

T0 = datetime(2026, 1, 1, 12, 0, 0, 500_000, tzinfo=timezone.utc)


def test_a_success_a_microsecond_after_a_failure_in_the_same_second_is_ok() -> None:
    times = iter([T0, T0 + timedelta(microseconds=1)])
    tracker = DataSourceTracker("files", clock=lambda: next(times))
    tracker.failed(RuntimeError("boom"))
    tracker.succeeded()
    health = tracker.health()
    assert health.state == "ok" and health.lastError == "RuntimeError: boom"
    assert health.lastErrorAt == "2026-01-01T12:00:00Z"


def test_a_failure_after_a_success_in_the_same_second_is_degraded() -> None:
    times = iter([T0, T0 + timedelta(microseconds=1)])
    tracker = DataSourceTracker("files", clock=lambda: next(times))
    tracker.succeeded()
    tracker.failed(RuntimeError("boom"))
    assert tracker.health().state == "degraded"


def test_unknown_before_any_call() -> None:
    assert DataSourceTracker("files").health().state == "unknown"
