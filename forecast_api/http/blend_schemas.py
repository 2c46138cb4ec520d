"""What a forecast says about the blend it serves (docs/forecast-skill.md: the blend)."""

from __future__ import annotations

from pydantic import BaseModel, Field

Weights = dict[str, float]


class BlendInfo(BaseModel):
    """The blend in force when a forecast was made: how it was fitted, and on what."""

    method: str = Field(description="quantile-averaging of the components' quantile grids")
    version: str = Field(description="method, settings and components, as recorded in the ledger")
    window: int = Field(description="most recent scored forecasts per step it is fitted on")
    scored: int = Field(description="fewest scored forecasts any step was fitted on")
    components: list[str] = Field(description="the forecasters it blends (weights' keys)")
    blendedSteps: list[int] = Field(description="steps served blended (others: the model)")
    fittedAt: str | None = Field(description="when it was fitted: only steps scored before count")
    reason: str | None = Field(None, description="why some or all steps serve the model")
