"""The track record (`/api/accuracy`), aggregated in SQL per step.

The track record covers forecasts of the fixed-cadence kinds (scheduled and replay) whose origin
lies in the `days` before `now`. Confidence reliability is read at each forecast's reference step
min(24, horizon): ten equal-width buckets of stated confidence [0, 0.1), ..., [0.9, 1];
ECE = sum over buckets of count / total * |mean stated - hit rate|.
"""

from __future__ import annotations

import copy
from datetime import datetime
from typing import Any

from sqlalchemy import case, func, select

from ledger.models import SCORED, TRACK_RECORD_KINDS, ForecastRow, StepRow
from ledger.past_forecasts import iso_time
from ledger.records import to_epoch
from ledger.store import Ledger

BUCKETS = 10


def skill_ratio(a: float | None, b: float | None) -> float | None:
    """1 - a / b, or None where undefined."""
    return None if a is None or not b else 1.0 - a / b


def window_fields(symbol: str, interval: str, days: float, start: int, end: int) -> dict[str, Any]:
    """The fields naming a track-record body's window: symbol (or ALL), interval, days, from, to."""
    return {
        "symbol": "ALL" if symbol.upper() == "ALL" else symbol,
        "interval": interval,
        "days": days,
        "from": iso_time(start),
        "to": iso_time(end),
    }


def track_filter(symbol: str, interval: str, start: int, end: int) -> list:
    """WHERE clauses of the track record window."""
    where = [
        ForecastRow.interval == interval,
        ForecastRow.kind.in_(TRACK_RECORD_KINDS),
        ForecastRow.origin.between(start, end),
    ]
    if symbol.upper() != "ALL":
        where.append(ForecastRow.symbol == symbol)
    return [*where, StepRow.status == SCORED]  # the steps' condition last


def _step_table(ledger: Ledger, where: list) -> list[dict[str, Any]]:
    """Per-step aggregates."""
    a = func.avg
    stmt = (
        select(
            StepRow.step,
            func.count(),
            a(StepRow.abs_error),
            a(StepRow.pct_error),
            a(StepRow.crps),
            a(StepRow.naive_mae),
            a(StepRow.drift_mae),
            a(StepRow.naive_crps),
            a(StepRow.drift_crps),
            a(StepRow.hit80),
            a(StepRow.hit90),
            a(StepRow.hit80_raw),
            a(StepRow.hit90_raw),
            a(StepRow.direction_hit),
            a(StepRow.rw_crps),
            a(StepRow.rw_mae),
            a(StepRow.crps_raw),
        )
        .join(ForecastRow, ForecastRow.id == StepRow.forecast_id)
        .where(*where)
        .group_by(StepRow.step)
        .order_by(StepRow.step)
    )
    names = ["mae", "mape", "crps", "maeNaive", "maeDrift", "crpsNaive", "crpsDrift"]
    names += ["coverage80"]
    names += ["coverage90", "coverage80Raw", "coverage90Raw", "directionHit"]
    names += ["crpsRandomWalk", "maeRandomWalk", "crpsRaw"]
    with ledger.engine.connect() as conn:
        rows = list(conn.execute(stmt))
    out = []
    for step, n, *values in rows:
        entry = {"hour": int(step), "n": int(n)}
        entry |= {k: None if v is None else float(v) for k, v in zip(names, values, strict=True)}
        entry["crpsSkill"] = skill_ratio(entry["crps"], entry["crpsNaive"])
        out.append(entry)
    return out


BASELINE_CRPS = {"naive": "crpsNaive", "drift": "crpsDrift", "random_walk": "crpsRandomWalk"}


def best_baseline(steps: list[dict[str, Any]]) -> tuple[str | None, float | None]:
    """The baseline with the lowest CRPS over the window (steps pooled by their counts) and
    the served forecast's skill against it, 1 - CRPS / CRPS of that baseline, over the steps
    where both are known."""
    pooled = {}
    for name, key in BASELINE_CRPS.items():
        known = [(e["n"], e[key], e["crps"]) for e in steps if e[key] is not None]
        if known and all(c is not None for _, _, c in known):
            total = sum(n for n, _, _ in known)
            pooled[name] = (
                sum(n * b for n, b, _ in known) / total,
                sum(n * c for n, _, c in known) / total,
            )
    if not pooled:
        return None, None
    best = min(pooled, key=lambda name: pooled[name][0])
    baseline, served = pooled[best]
    return best, skill_ratio(served, baseline)


def _buckets(ledger: Ledger, where: list, column) -> list[dict[str, Any]]:
    """Reliability buckets of one confidence column at the reference step."""
    # bucket b holds b/10 <= stated < (b+1)/10 (the last one includes 1); plain comparisons, so
    # every backend puts a value on an edge in the same bucket
    edges = [(column >= b / BUCKETS, b) for b in range(BUCKETS - 1, 0, -1)]
    bucket = case(*edges, else_=0)
    stmt = (
        select(bucket.label("b"), func.count(), func.avg(column), func.avg(StepRow.trend_hit))
        .join(ForecastRow, ForecastRow.id == StepRow.forecast_id)
        .where(*where, StepRow.step == ForecastRow.reference_step)
        .group_by("b")
    )
    with ledger.engine.connect() as conn:
        found = {int(b): (int(n), float(s), float(h)) for b, n, s, h in conn.execute(stmt)}
    return [
        {
            "lower": b / BUCKETS,
            "upper": (b + 1) / BUCKETS,
            "stated": found[b][1] if b in found else None,
            "hitRate": found[b][2] if b in found else None,
            "count": found[b][0] if b in found else 0,
        }
        for b in range(BUCKETS)
    ]


def ece(buckets: list[dict[str, Any]]) -> float | None:
    """Count-weighted mean of |mean stated confidence - hit rate| over the buckets."""
    total = sum(b["count"] for b in buckets)
    if not total:
        return None
    return sum(b["count"] * abs(b["stated"] - b["hitRate"]) for b in buckets if b["count"]) / total


def scored_steps(ledger: Ledger) -> int:
    """Scored steps in the ledger: the track record's version. A step is scored once (only
    pending steps are updated) and never deleted, so every new score changes this count."""
    stmt = select(func.count()).select_from(StepRow).where(StepRow.status == SCORED)
    with ledger.engine.connect() as conn:
        return int(conn.execute(stmt).scalar_one())


def accuracy(
    ledger: Ledger, symbol: str, interval: str, days: float, now: datetime | int
) -> dict[str, Any]:
    """The `/api/accuracy` body: track record of the last `days` before `now`.

    Cached per (symbol, interval, days, now, scored steps): the same question is answered from
    memory until a step is scored (in any process sharing the database).
    """
    key = (symbol, interval, float(days), to_epoch(now), scored_steps(ledger))
    body = ledger.cached(("accuracy", *key))
    if body is None:
        body = ledger.cache(("accuracy", *key), _accuracy(ledger, symbol, interval, days, now))
    return copy.deepcopy(body)


def _accuracy(
    ledger: Ledger, symbol: str, interval: str, days: float, now: datetime | int
) -> dict[str, Any]:
    """The track record, computed."""
    end = to_epoch(now)
    start = end - int(days * 86400)
    where = track_filter(symbol, interval, start, end)
    any_scored = (
        select(StepRow.step)
        .where(StepRow.forecast_id == ForecastRow.id, StepRow.status == SCORED)
        .exists()
    )
    count = select(func.count()).select_from(ForecastRow).where(*where[:-1], any_scored)
    with ledger.engine.connect() as conn:
        scored = int(conn.execute(count).scalar_one())
    served = _buckets(ledger, where, StepRow.confidence)
    raw = _buckets(ledger, where, StepRow.confidence_raw)
    steps = _step_table(ledger, where)
    best, skill = best_baseline(steps)
    for entry in steps:
        baseline = None if best is None else entry[BASELINE_CRPS[best]]
        entry["crpsSkillBestBaseline"] = skill_ratio(entry["crps"], baseline)
    return {
        **window_fields(symbol, interval, days, start, end),
        "scored": scored,
        "steps": steps,
        "bestBaseline": best,
        "crpsSkillBestBaseline": skill,
        "confidence": {
            "ece": ece(served),
            "eceRaw": ece(raw),
            "buckets": served,
            "bucketsRaw": raw,
        },
    }
