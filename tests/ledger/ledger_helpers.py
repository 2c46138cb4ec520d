"""Small factories for ledger tests: records from seeded random paths, a candle lookup."""

from __future__ import annotations

import dataclasses
from datetime import datetime

import numpy as np

from forecasting.recalibration import Calibration
from ledger.records import ForecastRecord, RecordMeta, build_record

HOUR = 3600
T0 = 1_760_000_400 // HOUR * HOUR  # an hour boundary in October 2025


def record(
    symbol: str = "BTC",
    origin: int = T0,
    *,
    kind: str = "scheduled",
    horizon: int = 6,
    samples: int = 64,
    last: float = 100.0,
    seed: int = 0,
    calibration: Calibration | None = None,
    vol: float = 0.01,
) -> ForecastRecord:
    """A recorded forecast of random-walk close paths from `last`."""
    rng = np.random.default_rng(seed)
    paths = last * np.exp(np.cumsum(vol * rng.standard_normal((samples, horizon)), axis=1))
    context = last * np.exp(np.cumsum(vol * rng.standard_normal(50)))
    meta = RecordMeta(symbol, "1h", kind, "kronos", "tiny", samples, seed=seed)
    return build_record(
        meta,
        paths,
        origin=origin,
        issued_at=origin + HOUR + 5,
        last_close=last,
        context_closes=np.append(context, last),
        trend_threshold=0.005,
        calibration=calibration,
    )


def challenger_of(model: ForecastRecord, name: str, paths: np.ndarray) -> ForecastRecord:
    """Challenger `name`'s forecast of close `paths` on `model`'s origin."""
    meta = dataclasses.replace(model.meta, kind="challenger", model_id=name)
    return build_record(
        meta,
        paths,
        origin=model.origin,
        issued_at=model.issued_at,
        last_close=model.last_close,
        context_closes=np.linspace(99, 100, 50),
        trend_threshold=0.005,
        calibration=None,
    )


def constant_closes(value: float, missing: set[int] = frozenset()):
    """A candle lookup returning `value` for every candle except those opened at `missing`."""

    def closes(_symbol: str, _interval: str, times: list[datetime]) -> dict[datetime, float]:
        return {t: value for t in times if int(t.timestamp()) not in missing}

    return closes
