"""The leaderboard (`/api/leaderboard`): every forecaster of the window ranked by CRPS.

Forecasters, by name, over the scored steps of forecasts whose origin lies in the `days` before
`now` (every step of every forecast pooled; per symbol or ALL):
- "served": what the service served (the blend, calibrated), on the track record (scheduled and
  replay forecasts);
- "kronos": the model's own distribution and mean on the same forecasts (`*_raw` scores);
- "naive", "drift", "random_walk": the baselines on the same forecasts, in closed form;
- each challenger by its model id: its own forecasts (kind "challenger"), scored like the model.
Per forecaster: n (scored steps), crps, mae (of its mean; naive: of the last close), coverage80,
coverage90 (of its central bands; none for naive, a point), directionHit (of its mean against
the last close; none for naive, which states no direction), crpsSkillBestBaseline (1 - CRPS / the
best baseline's CRPS) and rank (1 = lowest CRPS).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from forecasting.blend import MODEL
from ledger.accuracy import skill_ratio, track_filter, window_fields
from ledger.blending import CHALLENGER
from ledger.models import SCORED, ForecastRow, StepRow
from ledger.records import to_epoch
from ledger.store import Ledger

SCORES = ("crps", "mae", "coverage80", "coverage90", "directionHit")
TRACK = {  # forecaster -> (kind, its columns in SCORES order; None: not defined)
    "served": ("served", ("crps", "abs_error", "hit80", "hit90", "direction_hit")),
    MODEL: ("model", ("crps_raw", "mae_raw", "hit80_raw", "hit90_raw", "direction_hit_raw")),
    "naive": ("baseline", ("naive_crps", "naive_mae", None, None, None)),
    "drift": (
        "baseline",
        ("drift_crps", "drift_mae", "drift_hit80", "drift_hit90", "drift_direction_hit"),
    ),
    "random_walk": ("baseline", ("rw_crps", "rw_mae", "rw_hit80", "rw_hit90", "rw_direction_hit")),
}
CHALLENGER_COLUMNS = ("crps", "abs_error", "hit80", "hit90", "direction_hit")


def _aggregates(columns) -> list:
    """count(CRPS column) then avg of each defined column (NULL for undefined ones)."""
    cols = [getattr(StepRow, c) for c in columns if c is not None]
    return [func.count(cols[0]), *(func.avg(c) for c in cols)]


def _entry(name: str, kind: str, columns, values) -> dict[str, Any]:
    """One forecaster's row from its count and averages."""
    n, *avgs = values
    it = iter(avgs)
    scores = {k: (None if c is None else next(it)) for k, c in zip(SCORES, columns, strict=True)}
    scores = {k: None if v is None else float(v) for k, v in scores.items()}
    return {"name": name, "kind": kind, "n": int(n or 0), **scores}


def leaderboard(
    ledger: Ledger, interval: str, days: float, now: datetime | int, symbol: str = "ALL"
) -> dict[str, Any]:
    """Every forecaster of the window, ranked by CRPS (see the module doc)."""
    end = to_epoch(now)
    start = end - int(days * 86400)
    where = track_filter(symbol, interval, start, end)
    selected = [agg for _, cols in TRACK.values() for agg in _aggregates(cols)]
    track = select(*selected).join(ForecastRow, ForecastRow.id == StepRow.forecast_id)
    challengers = (
        select(ForecastRow.model_id, *_aggregates(CHALLENGER_COLUMNS))
        .join(ForecastRow, ForecastRow.id == StepRow.forecast_id)
        .where(
            ForecastRow.interval == interval,
            ForecastRow.kind == CHALLENGER,
            ForecastRow.origin.between(start, end),
            StepRow.status == SCORED,
            *([] if symbol.upper() == "ALL" else [ForecastRow.symbol == symbol]),
        )
        .group_by(ForecastRow.model_id)
    )
    with ledger.engine.connect() as conn:
        values = list(conn.execute(track.where(*where)).one())
        rivals = list(conn.execute(challengers))
    rows = []
    for name, (kind, cols) in TRACK.items():
        size = 1 + sum(c is not None for c in cols)
        rows.append(_entry(name, kind, cols, values[:size]))
        values = values[size:]
    rows += [_entry(r[0], CHALLENGER, CHALLENGER_COLUMNS, r[1:]) for r in rivals]
    rows = [r for r in rows if r["n"]]
    baselines = [r for r in rows if r["kind"] == "baseline"]
    best = min(baselines, key=lambda r: r["crps"], default=None)
    rows.sort(key=lambda r: r["crps"])
    for rank, r in enumerate(rows, start=1):
        r["rank"] = rank
        r["crpsSkillBestBaseline"] = None if best is None else skill_ratio(r["crps"], best["crps"])
    return {
        **window_fields(symbol, interval, days, start, end),
        "bestBaseline": None if best is None else best["name"],
        "forecasters": rows,
    }
