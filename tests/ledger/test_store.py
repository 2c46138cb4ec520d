"""Inserts are insert-if-absent; one scheduled forecast per origin; claims; calibration inputs."""

from __future__ import annotations

import numpy as np
from ledger_helpers import HOUR, T0, constant_closes, record
from sqlalchemy import func, select

from forecasting.recalibration import RecalibrationSettings
from ledger.models import ForecastRow, StepRow
from ledger.rows import pack, unpack
from ledger.scorer import score_due
from ledger.store import Ledger


def _count(ledger: Ledger, table) -> int:
    with ledger.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def test_a_record_is_written_once(ledger: Ledger) -> None:
    r = record()
    assert ledger.insert([r]) == 1
    assert ledger.insert([r]) == 0  # a retried flush
    assert _count(ledger, ForecastRow) == 1
    assert _count(ledger, StepRow) == 6


def test_one_scheduled_forecast_per_origin_but_any_number_requested(ledger: Ledger) -> None:
    assert ledger.insert([record(seed=1), record(seed=2)]) == 1
    assert ledger.insert([record(kind="requested"), record(kind="requested")]) == 2
    assert ledger.insert([record(origin=T0 + HOUR)]) == 1
    assert ledger.insert([record(symbol="ETH")]) == 1


def test_quantile_grid_round_trips() -> None:
    grid = np.linspace(1.0, 2.0, 99)
    assert np.array_equal(unpack(pack(grid)), grid)


def test_claims_are_exclusive_and_stale_ones_can_be_taken_over(ledger: Ledger) -> None:
    assert ledger.claim("BTC", "1h", T0, "a", now=T0, lease=600)
    assert not ledger.claim("BTC", "1h", T0, "b", now=T0 + 10, lease=600)
    assert ledger.claim("BTC", "1h", T0, "b", now=T0 + 601, lease=600)  # a died
    ledger.finish_claim("BTC", "1h", T0, "b", ok=True)
    assert not ledger.claim("BTC", "1h", T0, "c", now=T0 + 5000, lease=600)  # done: never again
    assert ledger.claim("ETH", "1h", T0, "a", now=T0, lease=600)
    ledger.finish_claim("ETH", "1h", T0, "a", ok=False)  # released after a failure
    assert ledger.claim("ETH", "1h", T0, "b", now=T0 + 1, lease=600)


def test_calibration_uses_only_steps_scored_before_the_forecast(ledger: Ledger) -> None:
    origins = [T0 + i * HOUR for i in range(40)]
    ledger.insert([record(origin=o, seed=i, horizon=2) for i, o in enumerate(origins)])
    score_due(ledger, constant_closes(101.0), now=T0 + 100 * HOUR, grace=0)
    cutoff = T0 + 20 * HOUR
    pits = ledger.recent_pits("1h", cutoff, window=500, horizon=2)
    # step h of the forecast at origin o closes at o + (h + 1) hours
    assert len(pits[1]) == sum(o + 2 * HOUR <= cutoff for o in origins) == 19
    assert len(pits[2]) == 18
    settings = RecalibrationSettings(window=500, min_scored=5, prior=1.0)
    before = ledger.calibration("1h", cutoff, 2, settings)
    # forecasts realised after the cutoff change nothing about the calibration at the cutoff
    ledger.insert([record(origin=T0 + 30 * HOUR, seed=99, horizon=2, kind="replay", vol=0.5)])
    score_due(ledger, constant_closes(150.0), now=T0 + 200 * HOUR, grace=0)
    after = ledger.calibration("1h", cutoff, 2, settings)
    assert before.counts == after.counts
    assert np.array_equal(before.maps[1].knots, after.maps[1].knots)
    assert ledger.calibration("1h", T0 + 200 * HOUR, 2, settings).counts[1] == 41


def test_requested_forecasts_do_not_feed_the_calibration(ledger: Ledger) -> None:
    ledger.insert([record(origin=T0 + i * HOUR, seed=i, kind="requested") for i in range(5)])
    score_due(ledger, constant_closes(101.0), now=T0 + 100 * HOUR, grace=0)
    assert ledger.recent_pits("1h", T0 + 100 * HOUR, 500, 6) == {}
