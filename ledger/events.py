"""The ledger as an event log: scheduled forecasts made, and their steps scored, after a cursor.

A `Position` per interval orders both: forecasts by their id, scores by (scored_at, forecast
id), where scored_at is the market time of the scoring round. Every process reading the same
ledger sees the same events in the same order, so a position taken by one API worker resumes on
any other (the `/api/stream` event ids). Forecast and step fields are those of `/api/forecasts`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

from sqlalchemy import and_, func, or_, select

from ledger.models import SCORED, ForecastRow, StepRow
from ledger.past_forecasts import FORECAST_FIELDS, STEP_FIELDS, as_fields
from ledger.store import Ledger

SCHEDULED = "scheduled"


class Position(NamedTuple):
    """How far one interval's events go: last forecast id; last score (scored_at, forecast id)."""

    forecast: int = 0
    scored_at: int = 0
    scored: int = 0


def positions(ledger: Ledger, intervals: Iterable[str]) -> dict[str, Position]:
    """The newest event of each interval (Position() where there is none)."""
    intervals = list(intervals)
    made = (
        select(ForecastRow.interval, func.max(ForecastRow.id))
        .where(ForecastRow.kind == SCHEDULED, ForecastRow.interval.in_(intervals))
        .group_by(ForecastRow.interval)
    )
    scored = (
        select(ForecastRow.interval, StepRow.scored_at, StepRow.forecast_id)
        .join(ForecastRow, ForecastRow.id == StepRow.forecast_id)
        .where(*_scored(intervals))
        .order_by(StepRow.scored_at.desc(), StepRow.forecast_id.desc())
    )
    with ledger.engine.connect() as conn:
        last_made = {i: int(f) for i, f in conn.execute(made)}
        last_scored: dict[str, tuple[int, int]] = {}
        for interval in intervals:
            row = conn.execute(scored.where(ForecastRow.interval == interval).limit(1)).first()
            if row is not None:
                last_scored[interval] = (int(row[1]), int(row[2]))
    return {i: Position(last_made.get(i, 0), *last_scored.get(i, (0, 0))) for i in intervals}


def _scored(intervals: list[str]) -> list:
    """Scored steps of scheduled forecasts of `intervals`."""
    return [
        StepRow.status == SCORED,
        ForecastRow.kind == SCHEDULED,
        ForecastRow.interval.in_(intervals),
    ]


def _heads(conn, ids: list[int]) -> dict[int, dict[str, Any]]:
    """Forecast fields by id."""
    rows = conn.execute(select(*FORECAST_FIELDS.values()).where(ForecastRow.id.in_(ids)))
    return {int(r.id): as_fields(FORECAST_FIELDS, r) for r in rows}


def forecasts_after(
    ledger: Ledger, after: Mapping[str, Position], limit: int = 500
) -> list[dict[str, Any]]:
    """Scheduled forecasts made after each interval's position, oldest first, with steps."""
    newer = [and_(ForecastRow.interval == i, ForecastRow.id > p.forecast) for i, p in after.items()]
    if not newer:
        return []
    stmt = (
        select(ForecastRow.id)
        .where(ForecastRow.kind == SCHEDULED, or_(*newer))
        .order_by(ForecastRow.id)
        .limit(limit)
    )
    with ledger.engine.connect() as conn:
        ids = [int(i) for i in conn.execute(stmt).scalars()]
        heads = _heads(conn, ids)
        steps = conn.execute(
            select(StepRow.forecast_id, *STEP_FIELDS.values())
            .where(StepRow.forecast_id.in_(ids))
            .order_by(StepRow.forecast_id, StepRow.step)
        )
        for fid, *values in steps:
            heads[int(fid)].setdefault("steps", []).append(as_fields(STEP_FIELDS, values))
    return [heads[i] for i in ids]


def scores_after(
    ledger: Ledger, after: Mapping[str, Position], limit: int = 500
) -> list[dict[str, Any]]:
    """Scoring events after each interval's position, oldest first: per (forecast, scoring
    round) the forecast's fields, `scoredAtEpoch` and the steps scored in that round."""
    newer = [
        and_(
            ForecastRow.interval == i,
            or_(
                StepRow.scored_at > p.scored_at,
                and_(StepRow.scored_at == p.scored_at, StepRow.forecast_id > p.scored),
            ),
        )
        for i, p in after.items()
    ]
    if not newer:
        return []
    rounds = (
        select(StepRow.forecast_id, StepRow.scored_at)
        .join(ForecastRow, ForecastRow.id == StepRow.forecast_id)
        .where(*_scored(list(after)), or_(*newer))
        .group_by(StepRow.forecast_id, StepRow.scored_at)
        .order_by(StepRow.scored_at, StepRow.forecast_id)
        .limit(limit)
    )
    with ledger.engine.connect() as conn:
        keys = [(int(f), int(t)) for f, t in conn.execute(rounds)]
        ids = sorted({f for f, _ in keys})
        heads = _heads(conn, ids)
        steps: dict[tuple[int, int], list] = {key: [] for key in keys}
        stmt = (
            select(StepRow.forecast_id, StepRow.scored_at, *STEP_FIELDS.values())
            .where(StepRow.status == SCORED, StepRow.forecast_id.in_(ids))
            .order_by(StepRow.forecast_id, StepRow.step)
        )
        for fid, at, *values in conn.execute(stmt):
            if (int(fid), int(at)) in steps:  # the steps scored in that round
                steps[(int(fid), int(at))].append(as_fields(STEP_FIELDS, values))
    return [heads[f] | {"scoredAtEpoch": t, "steps": steps[(f, t)]} for f, t in keys]
