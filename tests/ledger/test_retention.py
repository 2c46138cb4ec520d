"""Grid retention: old scored grids go in bounded batches, pending ones and scores stay, and the
track record (/api/accuracy) is the same before and after pruning."""

from __future__ import annotations

from ledger_helpers import HOUR, T0, record
from sqlalchemy import func, select

from ledger.accuracy import accuracy
from ledger.models import PENDING, ClaimRow, ForecastRow, QuantileRow, StepRow
from ledger.retention import prune
from ledger.scorer import score_due
from ledger.store import Ledger

DAY = 86400


def _count(ledger: Ledger, *where) -> int:
    stmt = (
        select(func.count())
        .select_from(QuantileRow)
        .join(ForecastRow, ForecastRow.id == QuantileRow.forecast_id)
        .join(
            StepRow,
            (StepRow.forecast_id == QuantileRow.forecast_id) & (StepRow.step == QuantileRow.step),
        )
        .where(*where)
    )
    with ledger.engine.connect() as conn:
        return int(conn.execute(stmt).scalar_one())


def _closes(_symbol, _interval, times):
    return {t: 100.0 + (t.timestamp() % 7) for t in times}


def test_pruning_keeps_the_track_record_and_pending_grids(ledger: Ledger) -> None:
    symbols = ["BTC", "ETH", "SOL"]
    ledger.insert(
        [
            record(symbol=s, origin=T0 + i * 4 * HOUR, seed=10 * k + i)
            for k, s in enumerate(symbols)
            for i in range(30)  # five days of forecasts, 6 steps each
        ]
    )
    now = T0 + 5 * DAY
    score_due(ledger, _closes, now=now, grace=0)
    pending = _count(ledger, StepRow.status == PENDING)
    assert pending > 0  # the newest forecasts' steps are not due yet
    ledger.claim("BTC", "1h", T0, "me", T0, 600)
    windows = [(s, d) for s in ("ALL", "ETH") for d in (1, 3, 7)]
    before = {w: accuracy(ledger, w[0], "1h", w[1], now) for w in windows}
    total = _count(ledger)

    cutoff = now - 2 * DAY
    old = _count(ledger, ForecastRow.origin < cutoff)
    report = prune(ledger, cutoff, batch=50, max_batches=2)
    assert (report.grids, report.done, report.claims) == (100, False, 1)  # bounded per pass
    while not prune(ledger, cutoff, batch=50, max_batches=2).done:
        pass
    assert _count(ledger, ForecastRow.origin < cutoff) == 0 < old
    assert _count(ledger) == total - old
    assert _count(ledger, StepRow.status == PENDING) == pending
    with ledger.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(ClaimRow)).scalar_one() == 0

    ledger.clear_cache()
    after = {w: accuracy(ledger, w[0], "1h", w[1], now) for w in windows}
    assert after == before
    assert all(body["scored"] > 0 for body in after.values())
