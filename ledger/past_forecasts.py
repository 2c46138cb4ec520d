"""Past forecasts as the API says them (`/api/forecasts`, `/api/stream`): the fields of a
forecast and of its steps, rows as dicts with times as ISO text, and the cursor page."""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_, select

from ledger.models import TRACK_RECORD_KINDS, ForecastRow, StepRow
from ledger.records import from_epoch, to_epoch
from ledger.store import Ledger


def iso_time(seconds: int | None) -> str | None:
    """ISO-8601 UTC of epoch seconds."""
    return None if seconds is None else from_epoch(seconds).isoformat().replace("+00:00", "Z")


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


STEP_FIELDS = {
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


FORECAST_FIELDS = {
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


TIMES = {"origin", "issuedAt", "candleOpen", "closesAt"}


def as_fields(fields: dict, values) -> dict[str, Any]:
    """A result row as a dict, times as ISO strings (the calibration's `fittedAt` too: the
    record stores epoch seconds, every response says times as text)."""
    out = dict(zip(fields, values, strict=True))
    calibration = out.get("calibration")
    if isinstance(calibration, dict) and isinstance(calibration.get("fittedAt"), int):
        out["calibration"] = calibration | {"fittedAt": iso_time(calibration["fittedAt"])}
    return out | {k: iso_time(out[k]) for k in TIMES & out.keys()}


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
        select(*FORECAST_FIELDS.values())
        .where(*where)
        .order_by(ForecastRow.origin.desc(), ForecastRow.id.desc())
        .limit(limit + 1)
    )
    with ledger.engine.connect() as conn:
        heads = list(conn.execute(stmt))
        page = [as_fields(FORECAST_FIELDS, r) for r in heads[:limit]]
        ids = [h["id"] for h in page]
        steps_stmt = (
            select(StepRow.forecast_id, *STEP_FIELDS.values())
            .where(StepRow.forecast_id.in_(ids))
            .order_by(StepRow.forecast_id, StepRow.step)
        )
        steps: dict[int, list] = {i: [] for i in ids}
        for fid, *values in conn.execute(steps_stmt):
            steps[fid].append(as_fields(STEP_FIELDS, values))
    items = [h | {"steps": steps[h["id"]]} for h in page]
    last = heads[limit - 1] if len(heads) > limit else None
    nxt = None if last is None else encode_cursor(int(last.origin), int(last.id))
    return {"items": items, "nextCursor": nxt}
