"""Per-symbol track-record numbers for Prometheus (rolling coverage, confidence ECE, CRPS skill)
and the scorer's lag, over the same window rules as the track record (`ledger.accuracy`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import case, func, select

from ledger.accuracy import BUCKETS, ece, skill_ratio, track_filter
from ledger.models import ForecastRow, StepRow
from ledger.records import to_epoch
from ledger.store import Ledger


def _symbol_buckets(ledger: Ledger, where: list) -> dict[str, list[dict[str, Any]]]:
    """Calibrated-confidence reliability buckets per symbol, at the reference step."""
    column = StepRow.confidence
    edges = [(column >= b / BUCKETS, b) for b in range(BUCKETS - 1, 0, -1)]
    bucket = case(*edges, else_=0).label("b")
    stmt = (
        select(
            ForecastRow.symbol, bucket, func.count(), func.avg(column), func.avg(StepRow.trend_hit)
        )
        .join(ForecastRow, ForecastRow.id == StepRow.forecast_id)
        .where(*where, StepRow.step == ForecastRow.reference_step)
        .group_by(ForecastRow.symbol, "b")
    )
    out: dict[str, list[dict[str, Any]]] = {}
    with ledger.engine.connect() as conn:
        for symbol, _b, n, stated, hit in conn.execute(stmt):
            out.setdefault(symbol, []).append({"stated": stated, "hitRate": hit, "count": n})
    return out


def gauges(ledger: Ledger, interval: str, days: float, now: datetime | int) -> dict[str, dict]:
    """Per-symbol numbers for Prometheus: rolling coverage, confidence ECE, CRPS skill, and
    the scorer's lag (seconds since the oldest due step still pending closed; 0 if none)."""
    end = to_epoch(now)
    where = track_filter("ALL", interval, end - int(days * 86400), end)
    stmt = (
        select(
            ForecastRow.symbol,
            func.avg(StepRow.hit80),
            func.avg(StepRow.hit90),
            func.avg(StepRow.crps),
            func.avg(StepRow.naive_crps),
        )
        .join(ForecastRow, ForecastRow.id == StepRow.forecast_id)
        .where(*where)
        .group_by(ForecastRow.symbol)
    )
    pending = (
        select(ForecastRow.symbol, func.min(StepRow.closes_at))
        .join(ForecastRow, ForecastRow.id == StepRow.forecast_id)
        .where(ForecastRow.interval == interval, StepRow.status == "pending")
        .where(StepRow.closes_at <= end)
        .group_by(ForecastRow.symbol)
    )
    buckets = _symbol_buckets(ledger, where)
    with ledger.engine.connect() as conn:
        lag = {s: end - int(t) for s, t in conn.execute(pending)}
        rows = list(conn.execute(stmt))
    return {
        symbol: {
            "coverage80": c80,
            "coverage90": c90,
            "crpsSkill": skill_ratio(crps, naive),
            "ece": ece(buckets.get(symbol, [])),
            "scorerLag": float(lag.get(symbol, 0)),
        }
        for symbol, c80, c90, crps, naive in rows
    } | {s: {"scorerLag": float(v)} for s, v in lag.items() if s not in {r[0] for r in rows}}
