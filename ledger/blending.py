"""The blend and the calibration in force for a forecast issued at a time, fitted from the ledger.

Strictly no look-ahead: both read only steps scored and closed by the issue time `at`
(`closes_at <= at`), newest first, of the track record's forecasts (scheduled and replay) of the
model (`model_id` when given). The blend's rows (per step, pooled over symbols): the realised
close, the forecast's last close and drift (mu, sigma) (the baselines in closed form), the
model's stored raw grid and, for each challenger component, the raw grid of that challenger's
forecast (kind "challenger", its model id the component's name) for the same symbol, interval
and origin; rows where a component is missing are left out. Then the calibration is fitted on
the PITs of what it is applied to: the blend's grid where the blend was on, else the model's.
This is the one path of the service's ledger round and of the replay.
"""

from __future__ import annotations

import numpy as np
from sqlalchemy import and_, select
from sqlalchemy.orm import aliased

from forecasting.blend import (
    BASELINES,
    MODEL,
    Blend,
    BlendSettings,
    fit_blend,
    fit_inputs,
)
from forecasting.recalibration import Calibration, RecalibrationSettings
from ledger.models import SCORED, TRACK_RECORD_KINDS, ForecastRow, QuantileRow, StepRow
from ledger.records import from_epoch
from ledger.rows import unpack
from ledger.store import Ledger

CHALLENGER = "challenger"  # the kind of a challenger's recorded forecasts


def _step_query(interval: str, at: int, step: int, window: int, model_id, challengers):
    """The newest `window` scored rows of one step: y, last, mu, sigma, raw grid, challengers'."""
    extra, joins = [], []
    for name in challengers:
        f, q = aliased(ForecastRow), aliased(QuantileRow)
        same = and_(
            f.symbol == ForecastRow.symbol,
            f.interval == ForecastRow.interval,
            f.origin == ForecastRow.origin,
            f.kind == CHALLENGER,
            f.model_id == name,
        )
        joins.append((f, same, q, and_(q.forecast_id == f.id, q.step == StepRow.step)))
        extra.append(q.raw)
    stmt = (
        select(
            StepRow.realised,
            ForecastRow.last_close,
            ForecastRow.drift_mu,
            ForecastRow.drift_sigma,
            QuantileRow.raw,
            *extra,
        )
        .join(ForecastRow, ForecastRow.id == StepRow.forecast_id)
        .join(
            QuantileRow,
            (QuantileRow.forecast_id == StepRow.forecast_id) & (QuantileRow.step == StepRow.step),
        )
    )
    for f, on_f, q, on_q in joins:
        stmt = stmt.outerjoin(f, on_f).outerjoin(q, on_q)
    where = [
        StepRow.step == step,
        StepRow.status == SCORED,
        StepRow.closes_at <= at,
        ForecastRow.interval == interval,
        ForecastRow.kind.in_(TRACK_RECORD_KINDS),
        ForecastRow.model_kind == MODEL,
    ]
    if model_id is not None:
        where.append(ForecastRow.model_id == model_id)
    order = (StepRow.closes_at.desc(), StepRow.forecast_id.desc())
    return stmt.where(*where).order_by(*order).limit(window)


def blend_rows(
    ledger: Ledger,
    interval: str,
    at: int,
    horizon: int,
    settings: BlendSettings,
    model_id: str | None = None,
) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """{step: (y, q)}: fit rows, newest first, scale-free (see `forecasting.blend.fit_blend`)."""
    challengers = [c for c in settings.components if c != MODEL and c not in BASELINES]
    out = {}
    with ledger.engine.connect() as conn:
        for step in range(1, horizon + 1):
            stmt = _step_query(interval, at, step, settings.window, model_id, challengers)
            rows = [r for r in conn.execute(stmt) if all(b is not None for b in r[4:])]
            if not rows:
                continue
            y, last, mu, sigma = (np.array([r[i] for r in rows], dtype=float) for i in range(4))
            grids = {MODEL: np.stack([unpack(r[4]) for r in rows])}
            for i, name in enumerate(challengers):
                grids[name] = np.stack([unpack(r[5 + i]) for r in rows])
            out[step] = fit_inputs(y, last, mu, sigma, step, grids, settings.components)
    return out


def fit_ledger_blend(
    ledger: Ledger,
    interval: str,
    at: int,
    horizon: int,
    settings: BlendSettings,
    model_id: str | None = None,
) -> Blend:
    """The blend for a forecast issued at `at` (epoch seconds), from steps closed by then."""
    rows = blend_rows(ledger, interval, at, horizon, settings, model_id)
    return fit_blend(rows, horizon, settings, from_epoch(at))


def fit_served(
    ledger: Ledger,
    interval: str,
    at: int,
    horizon: int,
    recalibration: RecalibrationSettings,
    blend: BlendSettings | None,
    model_id: str | None = None,
) -> tuple[Blend | None, Calibration]:
    """The blend (None when `blend` is off) and the calibration to apply after it (`blend`'s
    calibration settings, else `recalibration`), for a forecast issued at `at`: pass both to
    `ledger.records.build_record`."""
    fitted = (
        None if blend is None else fit_ledger_blend(ledger, interval, at, horizon, blend, model_id)
    )
    settings = recalibration if blend is None else blend.calibration
    calibration = ledger.calibration(
        interval, at, horizon, settings, model_id=model_id, blended=blend is not None
    )
    return fitted, calibration
