"""Score every due step: realised close, errors, CRPS, PIT, band/direction/trend hits, baselines.

A step is due once its candle has closed (`closes_at <= now`). Its realised close is looked up by
the candle's exact open time; a step whose candle is absent stays pending until `grace` seconds
after its close and is then marked unscorable, never matched to another candle. Scoring only
touches pending steps, so it is idempotent and resumes after a restart where it stopped.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd
from sqlalchemy import bindparam, select, update

from forecasting import scoring as sc
from ledger.models import PENDING, SCORED, UNSCORABLE, ForecastRow, QuantileRow, StepRow
from ledger.records import from_epoch, to_epoch
from ledger.rows import unpack
from ledger.store import Ledger

Closes = Callable[[str, str, list[datetime]], Mapping[datetime, float]]
"""closes(symbol, interval, candle open times) -> {open time: close} for the candles it has."""


def closes_in(closes: Mapping[str, pd.Series], until: pd.Timestamp | None = None) -> Closes:
    """The candle lookup over each symbol's closes (a Series indexed by UTC open time), seeing
    only candles opened at or before `until` when given; absent candles stay absent."""

    def lookup(symbol: str, _interval: str, times: list[datetime]) -> dict[datetime, float]:
        """Closes of the asked candles that are present."""
        close = closes.get(symbol)
        if close is None or not times:
            return {}
        wanted = pd.DatetimeIndex(times).tz_convert("UTC")
        if until is not None:
            wanted = wanted[wanted <= until]
        present = close.reindex(wanted).dropna()
        return {ts.to_pydatetime(): float(v) for ts, v in present.items()}

    return lookup


_DUE = (
    StepRow.forecast_id,
    StepRow.step,
    StepRow.candle_open,
    StepRow.closes_at,
    StepRow.mean,
    StepRow.mean_raw,
    QuantileRow.raw,
    QuantileRow.blend,
    QuantileRow.calibrated.label("served"),
    StepRow.low80_raw,
    StepRow.high80_raw,
    StepRow.low90_raw,
    StepRow.high90_raw,
    StepRow.low80,
    StepRow.high80,
    StepRow.low90,
    StepRow.high90,
    StepRow.trend,
    ForecastRow.symbol,
    ForecastRow.interval,
    ForecastRow.last_close,
    ForecastRow.trend_threshold,
    ForecastRow.drift_mu,
    ForecastRow.drift_sigma,
)


@dataclass
class ScoreReport:
    """What one scoring pass did."""

    scored: int = 0
    unscorable: int = 0
    waiting: int = 0  # due, candle not there yet, still within the grace period


def _grids(col: dict) -> tuple[np.ndarray, np.ndarray, list[np.ndarray | None]]:
    """Raw, served (calibrated, else blended, else raw) and blended (or None) grids per row."""
    raw = [unpack(b) for b in col["raw"]]
    blend = [None if b is None else unpack(b) for b in col["blend"]]
    served = [
        unpack(c) if c is not None else (b if b is not None else r)
        for r, b, c in zip(raw, blend, col["served"], strict=True)
    ]
    return np.stack(raw), np.stack(served), blend


def _baseline_scores(name: str, m: np.ndarray, s: np.ndarray, point, y, last) -> dict:
    """CRPS, MAE of the mean, 80/90 band hits and direction hit of a lognormal baseline."""
    bands = sc.lognormal_quantiles(m, s, np.array([0.1, 0.9, 0.05, 0.95]))
    return {
        f"{name}_crps": sc.crps_lognormal(m, s, y),
        f"{name}_mae": sc.absolute_error(point, y),
        f"{name}_hit80": sc.band_hit(bands[:, 0], bands[:, 1], y),
        f"{name}_hit90": sc.band_hit(bands[:, 2], bands[:, 3], y),
        f"{name}_direction_hit": sc.direction_hit(point, y, last),
    }


def score_rows(rows: list, realised: np.ndarray) -> list[dict]:
    """Score values for due step rows (as selected by `_DUE`) against their realised closes."""
    y = realised
    col = {
        name: np.array([getattr(r, name) for r in rows], dtype=object) for name in rows[0]._fields
    }
    raw, served, blend = _grids(col)
    mean = col["mean"].astype(float)
    mean_raw = np.array([r.mean if r.mean_raw is None else r.mean_raw for r in rows], dtype=float)
    last, step = col["last_close"].astype(float), col["step"].astype(float)
    mu, sigma = col["drift_mu"].astype(float), col["drift_sigma"].astype(float)
    m, s = sc.drift_distribution(last, mu, sigma, step)
    rw_m, rw_s = sc.random_walk_distribution(last, sigma, step)
    bands = {k: col[k].astype(float) for k in col if k.startswith(("low", "high"))}
    pit_blend = [
        np.nan if b is None else float(sc.cdf_from_quantiles(b, np.float64(v)))
        for b, v in zip(blend, y, strict=True)
    ]
    values = {
        "realised": y,
        "abs_error": sc.absolute_error(mean, y),
        "pct_error": sc.percentage_error(mean, y),
        "crps": sc.crps_grid(served, y),
        "crps_raw": sc.crps_grid(raw, y),
        "pit": sc.cdf_from_quantiles(raw, y),
        "pit_blend": np.array(pit_blend),
        "hit80": sc.band_hit(bands["low80"], bands["high80"], y),
        "hit90": sc.band_hit(bands["low90"], bands["high90"], y),
        "hit80_raw": sc.band_hit(bands["low80_raw"], bands["high80_raw"], y),
        "hit90_raw": sc.band_hit(bands["low90_raw"], bands["high90_raw"], y),
        "direction_hit": sc.direction_hit(mean, y, last),
        "trend_hit": sc.trend_hit(
            col["trend"].astype(str), y, last, col["trend_threshold"].astype(float)
        ),
        "mae_raw": sc.absolute_error(mean_raw, y),
        "direction_hit_raw": sc.direction_hit(mean_raw, y, last),
        "naive_crps": sc.absolute_error(last, y),
        "naive_mae": sc.absolute_error(last, y),
        **_baseline_scores("drift", m, s, sc.drift_mean(last, mu, sigma, step), y, last),
        **_baseline_scores("rw", rw_m, rw_s, sc.random_walk_point(last), y, last),
    }
    return [
        {
            "fid": int(r.forecast_id),
            "st": int(r.step),
            **{f"v_{k}": _value(v[i]) for k, v in values.items()},
        }
        for i, r in enumerate(rows)
    ]


def _value(x: float) -> float | None:
    """A score as stored: NaN (undefined, e.g. no blend) as NULL."""
    x = float(x)
    return None if np.isnan(x) else x


def _lookup(rows: list, closes: Closes) -> dict[tuple[int, int], float]:
    """Realised closes of the rows' candles, asked once per (symbol, interval)."""
    wanted: dict[tuple[str, str], set[int]] = defaultdict(set)
    for r in rows:
        wanted[(r.symbol, r.interval)].add(int(r.candle_open))
    got: dict[tuple[str, str], dict[int, float]] = {}
    for (symbol, interval), opens in wanted.items():
        times = [from_epoch(t) for t in sorted(opens)]
        found = closes(symbol, interval, times).items()
        got[(symbol, interval)] = {to_epoch(t): float(v) for t, v in found if np.isfinite(v)}
    out: dict[tuple[int, int], float] = {}
    for r in rows:
        value = got[(r.symbol, r.interval)].get(int(r.candle_open))
        if value is not None:
            out[(int(r.forecast_id), int(r.step))] = value
    return out


def _update(ledger: Ledger, values: Iterable[dict], status: str, now: int) -> None:
    """Write scores (or the unscorable mark) to still-pending steps only."""
    values = list(values)
    if not values:
        return
    where = (StepRow.forecast_id == bindparam("fid"), StepRow.step == bindparam("st"))
    fields = {k[2:]: bindparam(k) for k in values[0] if k.startswith("v_")}  # not column names
    stmt = (
        update(StepRow)
        .where(*where, StepRow.status == PENDING)
        .values(status=status, scored_at=now, **fields)
    )
    with ledger.engine.begin() as conn:
        conn.execute(stmt.execution_options(synchronize_session=False), values)


def score_due(ledger: Ledger, closes: Closes, now: int, *, grace: int, batch: int = 5000):
    """Score all pending steps whose candle closed by `now`; returns a :class:`ScoreReport`."""
    report = ScoreReport()
    stmt = (
        select(*_DUE)
        .join(ForecastRow, ForecastRow.id == StepRow.forecast_id)
        .join(
            QuantileRow,
            (QuantileRow.forecast_id == StepRow.forecast_id) & (QuantileRow.step == StepRow.step),
        )
        .where(StepRow.status == PENDING, StepRow.closes_at <= now)
        .order_by(StepRow.closes_at, StepRow.forecast_id, StepRow.step)
    )
    with ledger.engine.connect() as conn:
        rows = conn.execute(stmt).all()
    for start in range(0, len(rows), batch):
        chunk = rows[start : start + batch]
        found = _lookup(chunk, closes)
        hit = [r for r in chunk if (int(r.forecast_id), int(r.step)) in found]
        if hit:
            y = np.array([found[(int(r.forecast_id), int(r.step))] for r in hit])
            _update(ledger, score_rows(hit, y), SCORED, now)
        missing = [r for r in chunk if (int(r.forecast_id), int(r.step)) not in found]
        late = [r for r in missing if int(r.closes_at) + grace <= now]
        _update(
            ledger, ({"fid": int(r.forecast_id), "st": int(r.step)} for r in late), UNSCORABLE, now
        )
        report.scored += len(hit)
        report.unscorable += len(late)
        report.waiting += len(missing) - len(late)
    return report
