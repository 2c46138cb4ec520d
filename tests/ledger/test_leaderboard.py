"""The leaderboard: every forecaster ranked by CRPS, each scored on its own rows."""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest
from ledger_helpers import HOUR, T0, record
from sqlalchemy import select

from ledger.leaderboard import leaderboard
from ledger.models import ForecastRow, StepRow
from ledger.scorer import score_due
from ledger.store import Ledger

DAY = 86400
FIELDS = {"name", "kind", "n", "crps", "mae", "coverage80", "coverage90", "directionHit"}
FIELDS |= {"rank", "crpsSkillBestBaseline"}


def _closes(_s, _i, times):
    return {t: 100.0 * (1 + 0.01 * ((int(t.timestamp()) // HOUR) % 5 - 2)) for t in times}


def _fill(ledger: Ledger) -> None:
    recs = [
        record(symbol=sym, origin=T0 + i * 3 * HOUR, seed=10 * k + i, vol=0.005 * (k + 1))
        for k, sym in enumerate(["BTC", "ETH"])
        for i in range(20)
    ]
    rivals = [
        dataclasses.replace(
            r, meta=dataclasses.replace(r.meta, kind="challenger", model_id="small-ft"), uid=f"c{i}"
        )
        for i, r in enumerate(recs[:20])  # BTC only
    ]
    ledger.insert(recs + rivals)
    score_due(ledger, _closes, now=T0 + 5 * DAY, grace=0)


def _frame(ledger: Ledger) -> pd.DataFrame:
    stmt = select(StepRow, ForecastRow.symbol, ForecastRow.kind, ForecastRow.model_id).join(
        ForecastRow, ForecastRow.id == StepRow.forecast_id
    )
    with ledger.engine.connect() as conn:
        return pd.DataFrame([dict(r._mapping) for r in conn.execute(stmt)])


@pytest.mark.parametrize("symbol", ["ALL", "ETH"])
def test_every_forecaster_is_ranked_by_crps(ledger: Ledger, symbol: str) -> None:
    _fill(ledger)
    got = leaderboard(ledger, "1h", 10, T0 + 5 * DAY, symbol)
    assert got["symbol"] == symbol and got["interval"] == "1h"
    rows = {r["name"]: r for r in got["forecasters"]}
    expected = {"served", "kronos", "naive", "drift", "random_walk"}
    assert set(rows) == (expected | {"small-ft"} if symbol == "ALL" else expected)
    assert all(set(r) == FIELDS for r in got["forecasters"])
    crps = [r["crps"] for r in got["forecasters"]]
    assert crps == sorted(crps) and [r["rank"] for r in got["forecasters"]] == list(
        range(1, len(crps) + 1)
    )
    df = _frame(ledger)
    track = df[df.kind == "scheduled"]
    if symbol != "ALL":
        track = track[track.symbol == symbol]
    assert rows["served"]["n"] == len(track)
    assert rows["served"]["crps"] == pytest.approx(track.crps.mean())
    assert rows["kronos"]["mae"] == pytest.approx(track.mae_raw.mean())
    assert rows["random_walk"]["coverage80"] == pytest.approx(track.rw_hit80.mean())
    assert rows["drift"]["directionHit"] == pytest.approx(track.drift_direction_hit.mean())
    assert rows["naive"]["coverage80"] is None and rows["naive"]["directionHit"] is None
    baselines = {k: rows[k]["crps"] for k in ("naive", "drift", "random_walk")}
    best = min(baselines, key=baselines.get)
    assert got["bestBaseline"] == best
    assert rows["served"]["crpsSkillBestBaseline"] == pytest.approx(
        1 - rows["served"]["crps"] / baselines[best]
    )
    if symbol == "ALL":
        rival = df[df.kind == "challenger"]
        assert rows["small-ft"]["kind"] == "challenger"
        assert rows["small-ft"]["n"] == len(rival)
        assert rows["small-ft"]["crps"] == pytest.approx(rival.crps.mean())


def test_an_empty_window_has_no_forecasters(ledger: Ledger) -> None:
    got = leaderboard(ledger, "1h", 10, T0, "ALL")
    assert got["forecasters"] == [] and got["bestBaseline"] is None
