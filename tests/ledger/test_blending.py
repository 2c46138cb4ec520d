"""The blend fitted from the ledger: no look-ahead, recorded with each forecast, challengers."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from ledger_helpers import HOUR, T0, challenger_of, record
from sqlalchemy import select

from forecasting import scoring as sc
from forecasting.blend import MODEL, BlendSettings
from forecasting.recalibration import RecalibrationSettings
from ledger.blending import fit_ledger_blend, fit_served
from ledger.models import ForecastRow, QuantileRow, StepRow
from ledger.records import build_record
from ledger.rows import unpack
from ledger.scorer import score_due
from ledger.store import Ledger

RECAL = RecalibrationSettings(window=60, min_scored=20)
BLEND = BlendSettings(window=60, min_scored=20, prior=10.0, calibration=RECAL)
N = 80


def _truth(t: int) -> float:
    """The close of the candle opened at t."""
    return 100.0 * (1 + 0.02 * np.sin(t / 20000.0))


def _closes(change_after: int | None = None):
    """Candle lookup; candles closing after `change_after` get another close (another future)."""

    def closes(_s, _i, times):
        out = {}
        for t in times:
            value = _truth(int(t.timestamp()))
            if change_after is not None and int(t.timestamp()) + HOUR > change_after:
                value *= 1.25
            out[t] = value
        return out

    return closes


def _filled(url: str, closes) -> Ledger:
    ledger = Ledger.open(url)
    ledger.insert([record(origin=T0 + i * HOUR, seed=i) for i in range(N)])
    score_due(ledger, closes, now=T0 + (N + 10) * HOUR, grace=0)
    return ledger


def test_the_blend_and_calibration_at_a_time_ignore_outcomes_not_yet_closed(tmp_path) -> None:
    at = T0 + 50 * HOUR
    a = _filled(f"sqlite:///{tmp_path / 'a.db'}", _closes())
    b = _filled(f"sqlite:///{tmp_path / 'b.db'}", _closes(change_after=at))
    blend_a, cal_a = fit_served(a, "1h", at, 6, RECAL, BLEND)
    blend_b, cal_b = fit_served(b, "1h", at, 6, RECAL, BLEND)
    assert blend_a.step_weights, "no step blended: the test would be vacuous"
    assert blend_a.step_weights.keys() == blend_b.step_weights.keys()
    for h, w in blend_a.step_weights.items():
        assert np.array_equal(w, blend_b.step_weights[h])
    assert cal_a.maps.keys() == cal_b.maps.keys() and cal_a.maps
    for h, g in cal_a.maps.items():
        assert np.array_equal(g.knots, cal_b.maps[h].knots)
    later = T0 + 85 * HOUR  # the altered outcomes are in this fit's window: it must differ
    la, lb = (fit_ledger_blend(x, "1h", later, 6, BLEND) for x in (a, b))
    assert any(not np.array_equal(la.step_weights[h], lb.step_weights[h]) for h in la.step_weights)


def test_off_fits_no_blend_and_calibrates_the_model() -> None:
    ledger = _filled("sqlite:///:memory:", _closes())
    blend, calibration = fit_served(ledger, "1h", T0 + 60 * HOUR, 6, RECAL, None)
    assert blend is None and calibration.maps


def test_a_blended_forecast_is_recorded_and_scored_as_served(ledger: Ledger) -> None:
    ledger.insert([record(origin=T0 + i * HOUR, seed=i) for i in range(N)])
    score_due(ledger, _closes(), now=T0 + (N + 10) * HOUR, grace=0)
    at = T0 + (N + 10) * HOUR
    blend, calibration = fit_served(ledger, "1h", at, 6, RECAL, BLEND)
    assert blend.weights(1) is not None
    origin = at - HOUR
    rec = record(origin=origin, seed=999)
    paths = np.random.default_rng(999).standard_normal((64, 6))  # the helper's own paths
    rec = build_record(
        rec.meta,
        100.0 * np.exp(np.cumsum(0.01 * paths, axis=1)),
        origin=origin,
        issued_at=at,
        last_close=100.0,
        context_closes=np.linspace(99, 100, 50),
        trend_threshold=0.005,
        calibration=calibration,
        blend=blend,
    )
    step = rec.steps[0]
    assert step.quantiles_blend is not None and step.mean != step.mean_raw
    assert rec.blend["weights"]["1"] == blend.weights(1) and rec.blend_version == blend.version
    ledger.insert([rec])
    score_due(ledger, _closes(), now=origin + 20 * HOUR, grace=0)
    stmt = (
        select(
            *(StepRow.crps, StepRow.realised, StepRow.pit_blend, StepRow.abs_error, StepRow.mean),
            *(StepRow.mean_raw, StepRow.mae_raw, ForecastRow.blend_version),
            *(QuantileRow.blend, QuantileRow.calibrated),
        )
        .join(ForecastRow, ForecastRow.id == StepRow.forecast_id)
        .join(
            QuantileRow,
            (QuantileRow.forecast_id == StepRow.forecast_id) & (QuantileRow.step == StepRow.step),
        )
        .where(ForecastRow.uid == rec.uid)
        .order_by(StepRow.step)
    )
    with ledger.engine.connect() as conn:
        rows = conn.execute(stmt).all()
    assert rows[0].blend_version == blend.version
    for s in rows:
        served = unpack(s.calibrated) if s.calibrated is not None else unpack(s.blend)
        assert s.crps == pytest.approx(float(sc.crps_grid(served, s.realised)))
        assert s.pit_blend == pytest.approx(
            float(sc.cdf_from_quantiles(unpack(s.blend), s.realised))
        )
        assert s.abs_error == pytest.approx(abs(s.mean - s.realised))
        assert s.mae_raw == pytest.approx(abs(s.mean_raw - s.realised))
    scores = ledger.recent_scores("1h", origin + 20 * HOUR, 5, 6, blended=True)
    assert scores[1][0, 0] == pytest.approx(rows[0].pit_blend)  # the newest first


def test_a_challenger_that_knows_the_future_earns_the_weight(ledger: Ledger) -> None:
    records = [record(origin=T0 + i * HOUR, seed=i) for i in range(N)]
    oracles = []
    for i, r in enumerate(records):
        truth = np.array([_truth(s.candle_open) for s in r.steps])
        noise = np.random.default_rng(i).standard_normal((64, 6))
        oracles.append(challenger_of(r, "oracle", truth * np.exp(0.001 * noise)))
    ledger.insert(records + oracles)
    score_due(ledger, _closes(), now=T0 + (N + 10) * HOUR, grace=0)
    settings = dataclasses.replace(BLEND, components=(MODEL, "random_walk", "drift", "oracle"))
    blend = fit_ledger_blend(ledger, "1h", T0 + (N + 10) * HOUR, 6, settings, model_id="tiny")
    for h in range(1, 7):
        assert blend.weights(h)["oracle"] > 0.8
    plain = fit_ledger_blend(ledger, "1h", T0 + (N + 10) * HOUR, 6, BLEND, model_id="tiny")
    assert "oracle" not in plain.weights(1)  # challengers are never part of the model's rows
