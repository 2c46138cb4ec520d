"""Read side: the track record (`/api/accuracy`) and past forecasts (`/api/forecasts`).

The track record covers forecasts of the fixed-cadence kinds (scheduled and replay) whose origin
lies in the `days` before `now`, aggregated in SQL per step. Confidence reliability is read at each
forecast's reference step min(24, horizon): ten equal-width buckets of stated confidence
[0, 0.1), ..., [0.9, 1]; ECE = sum over buckets of count / total * |mean stated - hit rate|.
"""

from __future__ import annotations

import base64
import copy
from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, func, or_, select

from ledger.models import SCORED, TRACK_RECORD_KINDS, ForecastRow, StepRow
from ledger.records import from_epoch, to_epoch
from ledger.store import Ledger

BUCKETS = 10


def _iso(seconds: int | None) -> str | None:
    """ISO-8601 UTC of epoch seconds."""
    return None if seconds is None else from_epoch(seconds).isoformat().replace("+00:00", "Z")


def _ratio(a: float | None, b: float | None) -> float | None:
    """1 - a / b, or None where undefined."""
    return None if a is None or not b else 1.0 - a / b


def _track_filter(symbol: str, interval: str, start: int, end: int) -> list:
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
        entry["crpsSkill"] = _ratio(entry["crps"], entry["crpsNaive"])
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
    return best, _ratio(served, baseline)


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
    where = _track_filter(symbol, interval, start, end)
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
        entry["crpsSkillBestBaseline"] = _ratio(entry["crps"], baseline)
    return {
        "symbol": "ALL" if symbol.upper() == "ALL" else symbol,
        "interval": interval,
        "days": days,
        "from": _iso(start),
        "to": _iso(end),
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
    where = _track_filter("ALL", interval, end - int(days * 86400), end)
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
            "crpsSkill": _ratio(crps, naive),
            "ece": ece(buckets.get(symbol, [])),
            "scorerLag": float(lag.get(symbol, 0)),
        }
        for symbol, c80, c90, crps, naive in rows
    } | {s: {"scorerLag": float(v)} for s, v in lag.items() if s not in {r[0] for r in rows}}


def encode_cursor(origin: int, forecast_id: int) -> str:
    """Opaque cursor after (origin, id)."""
    return base64.urlsafe_b64encode(f"{origin}:{forecast_id}".encode()).decode()


def decode_cursor(cursor: str) -> tuple[int, int]:
    """(origin, id) of a cursor; ValueError if it is not one of ours."""
    try:
        origin, fid = base64.urlsafe_b64decode(cursor.encode()).decode().split(":")
        return int(origin), int(fid)
    except Exception as exc:
        raise ValueError("invalid cursor") from exc


_STEP_FIELDS = {
    "hour": StepRow.step,
    "candleOpen": StepRow.candle_open,
    "closesAt": StepRow.closes_at,
    "mean": StepRow.mean,
    "median": StepRow.median,
    "low80": StepRow.low80,
    "high80": StepRow.high80,
    "low90": StepRow.low90,
    "high90": StepRow.high90,
    "low80Raw": StepRow.low80_raw,
    "high80Raw": StepRow.high80_raw,
    "low90Raw": StepRow.low90_raw,
    "high90Raw": StepRow.high90_raw,
    "calibrated": StepRow.calibrated,
    "trend": StepRow.trend,
    "confidence": StepRow.confidence,
    "confidenceRaw": StepRow.confidence_raw,
    "upProbability": StepRow.up_probability,
    "upProbabilityRaw": StepRow.up_probability_raw,
    "status": StepRow.status,
    "realised": StepRow.realised,
    "absError": StepRow.abs_error,
    "pctError": StepRow.pct_error,
    "crps": StepRow.crps,
    "pit": StepRow.pit,
    "hit80": StepRow.hit80,
    "hit90": StepRow.hit90,
    "directionHit": StepRow.direction_hit,
    "trendHit": StepRow.trend_hit,
}
_FORECAST_FIELDS = {
    "id": ForecastRow.id,
    "symbol": ForecastRow.symbol,
    "interval": ForecastRow.interval,
    "origin": ForecastRow.origin,
    "issuedAt": ForecastRow.issued_at,
    "kind": ForecastRow.kind,
    "horizon": ForecastRow.horizon,
    "samples": ForecastRow.samples,
    "seed": ForecastRow.seed,
    "model": ForecastRow.model_kind,
    "modelId": ForecastRow.model_id,
    "fallbackReason": ForecastRow.fallback_reason,
    "lastClose": ForecastRow.last_close,
    "calibration": ForecastRow.calibration,
}
_TIMES = {"origin", "issuedAt", "candleOpen", "closesAt"}


def _row(fields: dict, values) -> dict[str, Any]:
    """A result row as a dict, times as ISO strings (the calibration's `fittedAt` too: the
    record stores epoch seconds, every response says times as text)."""
    out = dict(zip(fields, values, strict=True))
    calibration = out.get("calibration")
    if isinstance(calibration, dict) and isinstance(calibration.get("fittedAt"), int):
        out["calibration"] = calibration | {"fittedAt": _iso(calibration["fittedAt"])}
    return out | {k: _iso(out[k]) for k in _TIMES & out.keys()}


def forecasts(
    ledger: Ledger,
    symbol: str,
    interval: str,
    start: datetime | int,
    end: datetime | int,
    *,
    limit: int = 50,
    cursor: str | None = None,
    kinds: tuple[str, ...] = TRACK_RECORD_KINDS,
) -> dict[str, Any]:
    """Past forecasts newest first with their steps and realised values: {items, nextCursor}."""
    if limit < 1:
        raise ValueError("limit must be at least 1")
    where = [
        ForecastRow.symbol == symbol,
        ForecastRow.interval == interval,
        ForecastRow.kind.in_(kinds),
        ForecastRow.origin.between(to_epoch(start), to_epoch(end)),
    ]
    if cursor:
        origin, fid = decode_cursor(cursor)
        where.append(
            or_(
                ForecastRow.origin < origin,
                and_(ForecastRow.origin == origin, ForecastRow.id < fid),
            )
        )
    stmt = (
        select(*_FORECAST_FIELDS.values())
        .where(*where)
        .order_by(ForecastRow.origin.desc(), ForecastRow.id.desc())
        .limit(limit + 1)
    )
    with ledger.engine.connect() as conn:
        heads = list(conn.execute(stmt))
        page = [_row(_FORECAST_FIELDS, r) for r in heads[:limit]]
        ids = [h["id"] for h in page]
        steps_stmt = (
            select(StepRow.forecast_id, *_STEP_FIELDS.values())
            .where(StepRow.forecast_id.in_(ids))
            .order_by(StepRow.forecast_id, StepRow.step)
        )
        steps: dict[int, list] = {i: [] for i in ids}
        for fid, *values in conn.execute(steps_stmt):
            steps[fid].append(_row(_STEP_FIELDS, values))
    items = [h | {"steps": steps[h["id"]]} for h in page]
    last = heads[limit - 1] if len(heads) > limit else None
    nxt = None if last is None else encode_cursor(int(last.origin), int(last.id))
    return {"items": items, "nextCursor": nxt}
