"""Response models of the per-step distribution fields (quantiles, intervals, thresholds).

All are optional additions to the specification's shape: `null` unless the request asked for them.
"""

from __future__ import annotations

from pydantic import BaseModel, Field


class IntervalBand(BaseModel):
    """A central prediction interval of one step."""

    level: float = Field(description="coverage in percent, e.g. 80")
    low: float = Field(description="quantile (100 - level) / 200 of the close")
    high: float = Field(description="quantile (100 + level) / 200 of the close")


class AboveProbability(BaseModel):
    """The probability that one step's close exceeds a price."""

    price: float
    probability: float = Field(ge=0, le=1, description="share of paths above, ties count 1/2")


class DistributionCalibration(BaseModel):
    """Which requested distribution fields a band calibration adjusted (per field)."""

    quantiles: dict[str, bool] = Field(default_factory=dict, description="by quantile key")
    intervals: dict[str, bool] = Field(default_factory=dict, description="by level, e.g. '80'")
    above: bool = Field(
        False, description="threshold probabilities calibrated (by the ledger) at every step"
    )
