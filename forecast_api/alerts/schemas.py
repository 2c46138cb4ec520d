"""The body of `POST /api/alerts`: a threshold-probability rule or a trend rule."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from forecast_api.http.schemas import SYMBOL_MAX_LENGTH, Trend

PRICE_FIELDS = ("above", "hours", "probability")


class AlertRequest(BaseModel):
    """Fire a webhook when a scheduled forecast of `symbol` at `interval` gives P(close >
    `above` in `hours`) >= `probability`, or `trend` with confidence >= `minConfidence`."""

    model_config = ConfigDict(extra="forbid")

    symbol: str = Field(min_length=1, max_length=SYMBOL_MAX_LENGTH)
    interval: str = Field("1h", max_length=8)
    webhook: str = Field(min_length=1, max_length=2000, description="http(s) URL POSTed to")
    above: float | None = Field(None, gt=0, allow_inf_nan=False, description="a price")
    hours: int | None = Field(None, ge=1, description="hours after the forecast's origin")
    probability: float | None = Field(None, gt=0, le=1)
    trend: Trend | None = None
    minConfidence: float | None = Field(None, ge=0, le=1)

    @model_validator(mode="after")
    def _one_kind(self) -> AlertRequest:
        """Either every price field, or a trend (with an optional minConfidence)."""
        price = [getattr(self, f) is not None for f in PRICE_FIELDS]
        if any(price) and (self.trend is not None or self.minConfidence is not None):
            raise ValueError("a rule is either above/hours/probability or trend/minConfidence")
        if any(price) and not all(price):
            raise ValueError("a price rule needs above, hours and probability")
        if not any(price) and self.trend is None:
            raise ValueError("give above, hours and probability, or trend")
        return self

    def condition(self) -> dict[str, Any]:
        """The rule's own fields as stored."""
        if self.trend is not None:
            return {"trend": self.trend, "minConfidence": self.minConfidence or 0.0}
        return {"above": self.above, "hours": self.hours, "probability": self.probability}
