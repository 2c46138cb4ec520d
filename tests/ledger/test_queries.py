"""/api/accuracy aggregates against an independent pandas computation; paginated forecasts."""

from __future__ import annotations

from datetime import datetime, timezone

import numpy as np
import pandas as pd
import pytest
from ledger_helpers import HOUR, T0, record
from sqlalchemy import select

from forecasting.recalibration import fit_calibration
from ledger.accuracy import accuracy, ece
from ledger.gauges import gauges
from ledger.models import ForecastRow, StepRow
from ledger.past_forecasts import decode_cursor, forecasts
from ledger.scorer import score_due
from ledger.store import Ledger

DAY = 86400


def _iso(t: int) -> str:
    return pd.Timestamp(t, unit="s").strftime("%Y-%m-%dT%H:%M:%SZ")


def _noisy_closes(seed: int = 0):
    """Realised closes around 100, a fixed value per candle."""

    def closes(_s, _i, times):
        return {t: 100.0 * (1 + 0.01 * np.sin(t.timestamp() / 7777.0 + seed)) for t in times}

    return closes


def _fill(ledger: Ledger) -> None:
    recs = [
        record(symbol=sym, origin=T0 + i * 6 * HOUR, seed=100 * k + i, vol=0.004 * (k + 1))
        for k, sym in enumerate(["BTC", "ETH"])
        for i in range(30)
    ]
    recs += [record(origin=T0 + i * HOUR + 1800, kind="requested", seed=i) for i in range(5)]
    ledger.insert(recs)
    score_due(ledger, _noisy_closes(), now=T0 + 30 * DAY, grace=0)


def _frame(ledger: Ledger) -> pd.DataFrame:
    stmt = select(StepRow, ForecastRow.symbol, ForecastRow.kind, ForecastRow.origin).join(
        ForecastRow, ForecastRow.id == StepRow.forecast_id
    )
    with ledger.engine.connect() as conn:
        return pd.DataFrame([dict(r._mapping) for r in conn.execute(stmt)])


@pytest.mark.parametrize("symbol", ["ALL", "ETH"])
def test_accuracy_matches_a_pandas_computation(ledger: Ledger, symbol: str) -> None:
    _fill(ledger)
    now, days = T0 + 7 * DAY, 5
    got = accuracy(ledger, symbol, "1h", days, now)
    df = _frame(ledger)
    df = df[(df.kind == "scheduled") & (df.origin >= now - days * DAY) & (df.origin <= now)]
    if symbol != "ALL":
        df = df[df.symbol == symbol]
    assert got["scored"] == df.forecast_id.nunique() > 0
    assert (got["from"], got["to"]) == (_iso(now - days * DAY), _iso(now))
    for entry in got["steps"]:
        s = df[df.step == entry["hour"]]
        assert entry["n"] == len(s)
        assert entry["mae"] == pytest.approx(s.abs_error.mean())
        assert entry["mape"] == pytest.approx(s.pct_error.mean())
        assert entry["coverage80"] == pytest.approx(s.hit80.mean())
        assert entry["coverage90Raw"] == pytest.approx(s.hit90_raw.mean())
        assert entry["crpsDrift"] == pytest.approx(s.drift_crps.mean())
        assert entry["crpsSkill"] == pytest.approx(1 - s.crps.mean() / s.naive_crps.mean())
        assert entry["crpsRandomWalk"] == pytest.approx(s.rw_crps.mean())
        assert entry["maeRandomWalk"] == pytest.approx(s.rw_mae.mean())
        assert entry["crpsRaw"] == pytest.approx(s.crps_raw.mean())
    pooled = {"naive": df.naive_crps.mean(), "drift": df.drift_crps.mean()}
    pooled["random_walk"] = df.rw_crps.mean()
    best = min(pooled, key=pooled.get)
    assert got["bestBaseline"] == best
    assert got["crpsSkillBestBaseline"] == pytest.approx(1 - df.crps.mean() / pooled[best])
    column = {"naive": "naive_crps", "drift": "drift_crps", "random_walk": "rw_crps"}[best]
    for entry in got["steps"]:
        s = df[df.step == entry["hour"]]
        expected = 1 - s.crps.mean() / s[column].mean()
        assert entry["crpsSkillBestBaseline"] == pytest.approx(expected)
    ref = df[df.step == 6]  # min(24, horizon 6)
    buckets = got["confidence"]["buckets"]
    assert len(buckets) == 10 and sum(b["count"] for b in buckets) == len(ref)
    which = np.digitize(ref.confidence, np.arange(1, 10) / 10)
    expected = sum(
        len(g) * abs(g.confidence.mean() - g.trend_hit.mean()) for _, g in ref.groupby(which)
    ) / len(ref)
    assert got["confidence"]["ece"] == pytest.approx(expected)


def test_ece_by_hand() -> None:
    buckets = [
        {"stated": 0.55, "hitRate": 0.5, "count": 10},
        {"stated": 0.85, "hitRate": 0.55, "count": 30},
        {"stated": None, "hitRate": None, "count": 0},
    ]
    assert ece(buckets) == pytest.approx((10 * 0.05 + 30 * 0.30) / 40)
    assert ece([{"stated": None, "hitRate": None, "count": 0}]) is None


def test_empty_track_record(ledger: Ledger) -> None:
    got = accuracy(ledger, "BTC", "1h", 30, T0)
    assert got["scored"] == 0 and got["steps"] == []
    assert got["confidence"]["ece"] is None


def test_forecasts_are_paginated_newest_first_with_realised_values(ledger: Ledger) -> None:
    _fill(ledger)
    seen, cursor = [], None
    while True:
        page = forecasts(ledger, "BTC", "1h", T0, T0 + 100 * DAY, limit=7, cursor=cursor)
        seen += page["items"]
        cursor = page["nextCursor"]
        if cursor is None:
            break
    assert len(seen) == 30 and len({f["id"] for f in seen}) == 30
    origins = [f["origin"] for f in seen]
    assert origins == sorted(origins, reverse=True)
    first = seen[-1]
    assert first["origin"] == _iso(T0) == "2025-10-09T09:00:00Z"
    assert [s["hour"] for s in first["steps"]] == [1, 2, 3, 4, 5, 6]
    assert all(s["status"] == "scored" and s["realised"] > 0 for s in first["steps"])
    with pytest.raises(ValueError):
        decode_cursor("not-a-cursor")


def test_gauges_per_symbol(ledger: Ledger) -> None:
    _fill(ledger)
    now, days = T0 + 7 * DAY, 5
    got = gauges(ledger, "1h", days, now)
    df = _frame(ledger)
    df = df[(df.kind == "scheduled") & (df.origin >= now - days * DAY) & (df.origin <= now)]
    eth = df[df.symbol == "ETH"]
    assert got["ETH"]["coverage80"] == pytest.approx(eth.hit80.mean())
    assert got["ETH"]["crpsSkill"] == pytest.approx(1 - eth.crps.mean() / eth.naive_crps.mean())
    one = accuracy(ledger, "ETH", "1h", days, now)["confidence"]["ece"]
    assert got["ETH"]["ece"] == pytest.approx(one)
    assert got["BTC"]["scorerLag"] == 0.0
    late = T0 + 40 * DAY
    ledger.insert([record(symbol="SOL", origin=late)])  # due, never scored
    lagging = gauges(ledger, "1h", days, late + 10 * HOUR)
    assert lagging["SOL"]["scorerLag"] == 10 * HOUR - 2 * HOUR  # step 1 closed at late + 2h


def test_accuracy_is_cached_until_a_step_is_scored(ledger: Ledger) -> None:
    _fill(ledger)
    now = T0 + 40 * DAY
    first = accuracy(ledger, "ALL", "1h", 60, now)
    first["steps"].clear()  # a caller's changes do not reach the cache
    again = accuracy(ledger, "ALL", "1h", 60, now)
    assert again["steps"] and again == accuracy(ledger, "ALL", "1h", 60, now)
    ledger.insert([record(symbol="SOL", origin=T0 + 2 * DAY, seed=7, vol=0.05)])
    assert accuracy(ledger, "ALL", "1h", 60, now)["scored"] == again["scored"]  # not scored yet
    score_due(ledger, _noisy_closes(), now=T0 + 30 * DAY, grace=0)
    after = accuracy(ledger, "ALL", "1h", 60, now)
    assert after["scored"] == again["scored"] + 1
    assert after["steps"][0]["n"] == again["steps"][0]["n"] + 1


def test_forecasts_give_the_calibration_time_as_iso_text(ledger: Ledger) -> None:
    fitted = datetime(2025, 10, 9, 12, tzinfo=timezone.utc)
    ledger.insert([record(calibration=fit_calibration({}, 6, fitted_at=fitted))])
    [item] = forecasts(ledger, "BTC", "1h", T0 - DAY, T0 + DAY)["items"]
    assert item["calibration"]["fittedAt"] == "2025-10-09T12:00:00Z"  # as /api/predict says it
