"""The scorer: hand-checked scores, baselines, missing candles, idempotence, resumption."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from ledger_helpers import HOUR, T0, constant_closes, record
from sqlalchemy import select

from forecasting import scoring as sc
from ledger.models import StepRow
from ledger.scorer import score_due
from ledger.store import Ledger


def _steps(ledger: Ledger) -> pd.DataFrame:
    with ledger.engine.connect() as conn:
        rows = conn.execute(select(StepRow).order_by(StepRow.forecast_id, StepRow.step))
        return pd.DataFrame([dict(r._mapping) for r in rows])


def test_scores_match_the_scoring_functions(ledger: Ledger) -> None:
    r = record(horizon=3)
    ledger.insert([r])
    report = score_due(ledger, constant_closes(102.0), now=T0 + 10 * HOUR, grace=0)
    assert report.scored == 3
    steps = _steps(ledger)
    for s, row in zip(r.steps, steps.itertuples(), strict=True):
        assert row.status == "scored"
        assert row.realised == 102.0
        assert row.abs_error == pytest.approx(abs(s.mean - 102.0))
        assert row.pct_error == pytest.approx(abs(s.mean - 102.0) / 102.0 * 100)
        assert row.crps == pytest.approx(sc.crps_grid(s.quantiles, 102.0))
        assert row.pit == pytest.approx(sc.cdf_from_quantiles(s.quantiles, 102.0))
        assert row.hit80_raw == float(s.bands_raw[0.8][0] <= 102.0 <= s.bands_raw[0.8][1])
        assert row.naive_crps == row.naive_mae == pytest.approx(2.0)  # last close 100
        assert row.direction_hit == float(s.mean > 100.0)
        assert row.trend_hit == float(s.trend == "bullish")  # +2% is beyond tau = 0.5%
        m, sd = sc.drift_distribution(100.0, r.drift_mu, r.drift_sigma, s.step)
        assert row.drift_crps == pytest.approx(sc.crps_lognormal(m, sd, 102.0))


def test_a_step_is_due_only_once_its_candle_has_closed(ledger: Ledger) -> None:
    ledger.insert([record(horizon=3)])
    # step 1 forecasts the candle opening at T0 + 1h, which closes at T0 + 2h
    assert score_due(ledger, constant_closes(101.0), now=T0 + 2 * HOUR - 1, grace=0).scored == 0
    assert score_due(ledger, constant_closes(101.0), now=T0 + 2 * HOUR, grace=0).scored == 1


def test_a_missing_candle_is_unscorable_never_matched_to_a_neighbour(ledger: Ledger) -> None:
    ledger.insert([record(horizon=3)])
    gap = T0 + 2 * HOUR  # step 2's candle

    def neighbours(_s, _i, times):  # answers with the candles around the gap, never the gap
        wanted = {int(t.timestamp()) for t in times}
        return {
            pd.Timestamp(t, unit="s", tz="UTC").to_pydatetime(): 101.0
            for t in (gap - HOUR, gap + HOUR, gap + 60)
            if t in wanted or t == gap + 60
        }

    now = T0 + 4 * HOUR
    report = score_due(ledger, neighbours, now=now, grace=2 * HOUR)
    assert (report.scored, report.waiting) == (2, 1)  # still within its grace period
    report = score_due(ledger, neighbours, now=now + HOUR, grace=2 * HOUR)
    assert report.unscorable == 1
    steps = _steps(ledger)
    assert steps["status"].tolist() == ["scored", "unscorable", "scored"]
    assert np.isnan(steps.loc[1, "realised"])


def test_scoring_is_idempotent_and_resumes(ledger: Ledger) -> None:
    ledger.insert([record(origin=T0 + i * HOUR, seed=i) for i in range(3)])
    first = score_due(ledger, constant_closes(101.0), now=T0 + 5 * HOUR, grace=0)
    before = _steps(ledger)
    # a later pass (after a "restart") scores only what became due, with other closes
    second = score_due(ledger, constant_closes(99.0), now=T0 + 20 * HOUR, grace=0)
    after = _steps(ledger)
    done = before["status"] == "scored"
    assert first.scored == int(done.sum()) and second.scored == int((~done).sum())
    pd.testing.assert_frame_equal(before[done], after[done], check_dtype=False)
    assert (after.loc[~done, "realised"] == 99.0).all()
    assert score_due(ledger, constant_closes(50.0), now=T0 + 30 * HOUR, grace=0).scored == 0
