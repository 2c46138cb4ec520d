"""The body of `POST /api/backtests`."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class BacktestRequest(BaseModel):
    """A replay of scheduled forecasts over a past window, into a scratch ledger."""

    model_config = ConfigDict(populate_by_name=True, extra="forbid")

    symbols: list[str] = Field(min_length=1, max_length=64, description='e.g. ["BTC"]')
    interval: str = Field("1h", max_length=8)
    start: datetime = Field(alias="from", description="first origin (ISO time, UTC if no zone)")
    end: datetime = Field(alias="to", description="last origin")
    every: str = Field("6h", max_length=16, description="cadence of the origins, e.g. 6h")
    horizon: int = Field(24, ge=1, description="steps of `interval` each forecast covers")
    forecaster: str = Field(
        "kronos", max_length=32, description="kronos (the runner), naive, drift or fallback"
    )
