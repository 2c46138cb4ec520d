"""The distribution a request asks for (`quantiles`, `levels`, `above`) and its response fields.

The maths is in `forecasting.distribution`; here the parameters are checked (422 naming the
parameter) and the per-step fields are added to a summarised prediction, from the sample paths
the prediction cache keeps, so one model run serves every combination of these parameters.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from forecast_api.http.distribution_schemas import (
    AboveProbability,
    DistributionCalibration,
    IntervalBand,
)
from forecast_api.http.errors import InvalidRequestError
from forecast_api.http.schemas import Prediction
from forecast_api.settings import ServiceSettings
from forecasting.calibration import BandCalibration
from forecasting.distribution import (
    central_intervals,
    probability_above,
    quantile_grid,
    recalibrated_above,
    recalibrated_grid,
)
from forecasting.recalibration import Calibration
from forecasting.scoring import QUANTILE_LEVELS
from ledger.records import ForecastRecord

Numbers = str | Sequence[float] | None


@dataclass(frozen=True)
class DistributionRequest:
    """Requested quantiles (fractions), central levels (percent) and threshold prices."""

    quantiles: tuple[float, ...] = ()
    levels: tuple[float, ...] = ()
    above: tuple[float, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.quantiles or self.levels or self.above)

    @classmethod
    def parse(
        cls, settings: ServiceSettings, quantiles: Numbers, levels: Numbers, above: Numbers
    ) -> DistributionRequest:
        """Checked, sorted, de-duplicated values; InvalidRequestError naming the parameter."""
        return cls(
            _numbers("quantiles", quantiles, settings.max_quantiles, 0.0, 1.0),
            _numbers("levels", levels, settings.max_levels, 0.0, 100.0),
            _numbers("above", above, settings.max_thresholds, 0.0, math.inf),
        )


def _numbers(name: str, raw: Numbers, limit: int, low: float, high: float) -> tuple[float, ...]:
    """`raw` (comma-separated text or numbers) as sorted distinct values in (low, high)."""
    if raw is None:
        return ()
    items = [t.strip() for t in raw.split(",")] if isinstance(raw, str) else list(raw)
    try:
        values = [float(v) for v in items if v != ""]
    except (TypeError, ValueError):
        raise InvalidRequestError(f"{name}: not a comma-separated list of numbers") from None
    if not values:
        raise InvalidRequestError(f"{name}: give at least one number")
    bad = [v for v in values if not (math.isfinite(v) and low < v < high)]
    if bad:
        bounds = f"above {low:g}" if math.isinf(high) else f"strictly between {low:g} and {high:g}"
        raise InvalidRequestError(f"{name}: every value must be {bounds}, got {bad[0]!r}")
    distinct = tuple(sorted(set(values)))
    if len(distinct) > limit:
        raise InvalidRequestError(f"{name}: at most {limit} values")
    return distinct


def blend_grid(record: ForecastRecord | None) -> np.ndarray | None:
    """The blend's quantile grid (H, K) a record served, NaN rows where a step serves the model
    (None: no step blended)."""
    steps = [] if record is None else record.steps
    if not any(s.quantiles_blend is not None for s in steps):
        return None
    nan = np.full(len(QUANTILE_LEVELS), np.nan)
    return np.stack([nan if s.quantiles_blend is None else s.quantiles_blend for s in steps])


def quantile_key(q: float) -> str:
    """The key of quantile `q` in a step's `quantiles` object (`0.05`)."""
    return f"{q:.9g}"


def with_distribution(
    prediction: Prediction,
    closes: np.ndarray,
    wanted: DistributionRequest,
    calibration: BandCalibration | None,
    rolling: Calibration | None = None,
    record: ForecastRecord | None = None,
) -> Prediction:
    """`prediction` with the requested per-step fields from `closes` (samples, horizon); the
    blend `record` served and the ledger's `rolling` calibration take the steps they cover,
    the static calibration the rest."""
    if not wanted:
        return prediction
    blend = blend_grid(record)
    fractions = [level / 100.0 for level in wanted.levels]
    grid = None
    if wanted.quantiles or fractions:
        grid = recalibrated_grid(
            quantile_grid(closes, wanted.quantiles, fractions, calibration), closes, rolling, blend
        )
    bands = central_intervals(grid, fractions) if grid else []
    above, above_calibrated = recalibrated_above(
        probability_above(closes, wanted.above), closes, wanted.above, rolling, blend
    )
    points = []
    for h, point in enumerate(prediction.predictions):
        extra: dict[str, object] = {}
        if grid and wanted.quantiles:
            extra["quantiles"] = {quantile_key(q): float(grid.at(q)[h]) for q in wanted.quantiles}
        if wanted.levels:
            extra["intervals"] = [
                IntervalBand(level=level, low=float(lo[h]), high=float(hi[h]))
                for level, (_, lo, hi, _) in zip(wanted.levels, bands, strict=True)
            ]
        if wanted.above:
            extra["above"] = [
                AboveProbability(price=price, probability=round(float(above[i, h]), 4))
                for i, price in enumerate(wanted.above)
            ]
        points.append(point.model_copy(update=extra))
    flags = DistributionCalibration(
        quantiles={quantile_key(q): grid.is_calibrated(q) for q in wanted.quantiles if grid},
        intervals={
            f"{level:.9g}": ok for level, (*_, ok) in zip(wanted.levels, bands, strict=True)
        },
        above=above_calibrated,
    )
    return prediction.model_copy(update={"predictions": points, "distributionCalibrated": flags})
