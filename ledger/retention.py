"""Bounded ledger growth: the quantile grids of scored forecasts older than the retention window
are deleted in batches; the scored step rows (every per-step score the track record aggregates)
and the forecasts stay, so `/api/accuracy` answers the same for any window.

A grid is needed only until its step is scored (CRPS and PIT are computed from it then), so only
grids of steps no longer pending are deleted. Claims on scheduled forecasts older than the window
go too (a claim matters only while its candle is the latest). SQLite reuses the freed pages for
new rows; its file does not shrink without VACUUM.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, select, tuple_

from ledger.models import PENDING, ClaimRow, ForecastRow, QuantileRow, StepRow
from ledger.store import Ledger

BATCH = 5000  # grid rows deleted per transaction


@dataclass
class PruneReport:
    """Rows deleted by one pruning pass."""

    grids: int = 0
    claims: int = 0
    done: bool = True  # False: the pass stopped at its batch limit with more left


def _prune_grid_batch(ledger: Ledger, before: int, batch: int) -> int:
    """Delete at most `batch` grids of non-pending steps of forecasts from before `before`."""
    doomed = (
        select(QuantileRow.forecast_id, QuantileRow.step)
        .join(
            StepRow,
            (StepRow.forecast_id == QuantileRow.forecast_id) & (StepRow.step == QuantileRow.step),
        )
        .join(ForecastRow, ForecastRow.id == QuantileRow.forecast_id)
        .where(ForecastRow.origin < before, StepRow.status != PENDING)
        .limit(batch)
    )
    key = tuple_(QuantileRow.forecast_id, QuantileRow.step)
    with ledger.engine.begin() as conn:
        return conn.execute(delete(QuantileRow).where(key.in_(doomed))).rowcount


def prune(ledger: Ledger, before: int, *, batch: int = BATCH, max_batches: int = 10) -> PruneReport:
    """Delete the grids of scored forecasts whose origin is before `before` (epoch seconds), at
    most `max_batches` transactions of `batch` rows (the next pass goes on), and older claims."""
    report = PruneReport()
    for _ in range(max_batches):
        deleted = _prune_grid_batch(ledger, before, batch)
        report.grids += deleted
        if deleted < batch:
            break
    else:
        report.done = False
    with ledger.engine.begin() as conn:
        report.claims = conn.execute(delete(ClaimRow).where(ClaimRow.origin < before)).rowcount
    return report
