"""Typed outputs of the MCP tools that have no HTTP response model (the ledger's dict bodies).

Every model allows extra fields: a field the ledger adds later reaches the agent unchanged.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class Loose(BaseModel):
    """A model that keeps fields it does not declare."""

    model_config = ConfigDict(extra="allow")


class TrackStep(Loose):
    """Scored errors of one step ahead, averaged over the window's scheduled forecasts."""

    hour: int = Field(description="steps ahead (steps of `interval`)")
    n: int = Field(description="scored forecasts behind this row")
    mae: float | None = Field(description="mean absolute error of the mean forecast (price)")
    mape: float | None = Field(description="mean absolute percentage error")
    crps: float | None = Field(description="CRPS of the served distribution (lower is better)")
    crpsNaive: float | None = Field(description="CRPS of the naive baseline (last close)")
    crpsDrift: float | None = Field(description="CRPS of the random walk with drift baseline")
    maeNaive: float | None = None
    maeDrift: float | None = None
    crpsSkill: float | None = Field(description="1 - crps / crpsNaive: above 0 beats the naive")
    coverage80: float | None = Field(description="share of closes inside the served 80% band")
    coverage90: float | None = Field(description="share of closes inside the served 90% band")
    directionHit: float | None = Field(description="share of steps with the right direction")


class ConfidenceTable(Loose):
    """How well the stated trend confidence matched the hit rate (reliability)."""

    ece: float | None = Field(description="expected calibration error of `confidence` (0 best)")
    eceRaw: float | None = Field(description="the same for the uncalibrated confidence")
    buckets: list[dict] = Field(description="stated confidence vs hit rate, tenths of [0, 1]")


class TrackRecord(Loose):
    """`GET /api/accuracy` as a tool result (`from`/`to` are `start`/`end`)."""

    symbol: str
    interval: str
    days: float
    start: str = Field(description="oldest forecast origin counted (UTC)")
    end: str = Field(description="the service's now: the close of the newest candle (UTC)")
    scored: int = Field(description="scheduled forecasts with at least one scored step")
    steps: list[TrackStep]
    confidence: ConfidenceTable


class RecordedStep(Loose):
    """One step of a recorded forecast and, once its candle closed, what happened."""

    hour: int
    closesAt: str | None
    mean: float
    median: float
    low80: float
    high80: float
    calibrated: bool = Field(description="the band was recalibrated from the ledger")
    trend: str
    confidence: float
    status: str = Field(description="pending, scored or unscorable")
    realised: float | None = Field(description="the close that happened (null: not yet)")
    absError: float | None = None
    crps: float | None = None
    hit80: float | None = Field(None, description="1 when the close fell inside the 80% band")


class RecordedForecast(Loose):
    """A scheduled forecast as the ledger recorded it."""

    id: int = Field(description="ledger forecast id (also the stream's forecast event id)")
    symbol: str
    interval: str
    origin: str | None = Field(description="open time of the last candle the forecast saw")
    issuedAt: str | None
    kind: str
    horizon: int
    model: str = Field(description="kronos, or fallback (a simple statistical forecaster)")
    modelId: str
    fallbackReason: str | None
    lastClose: float
    steps: list[RecordedStep]


class PastForecasts(Loose):
    """`GET /api/forecasts` as a tool result."""

    items: list[RecordedForecast] = Field(description="newest first")
    nextCursor: str | None = Field(description="pass back as `cursor` for the next page")


class AboveAnswer(BaseModel):
    """P(close > price) `hours` ahead, with what produced it."""

    symbol: str
    price: float
    hours: int
    probability: float = Field(ge=0, le=1, description="share of sample paths closing above")
    calibrated: bool = Field(description="recalibrated from the ledger's scored forecasts")
    currentPrice: float
    at: str = Field(description="close time of the candle the probability is about (UTC)")
    model: Literal["kronos", "fallback"]
    fallbackReason: str | None
    stale: bool = Field(description="served from an older forecast: market data unavailable")
    generatedAt: str


class ForecasterScore(Loose):
    """One forecaster's scores over the window's scored steps (every step ahead pooled)."""

    name: str = Field(
        description="served (what the service served: the blend, calibrated), kronos (the "
        "model alone), naive, drift, random_walk, or a challenger's model id"
    )
    kind: str = Field(description="served, model, baseline or challenger")
    n: int = Field(description="scored steps behind the scores")
    rank: int = Field(description="1 = lowest CRPS")
    crps: float | None = Field(description="mean CRPS (lower is better)")
    mae: float | None = Field(description="mean absolute error of the mean (naive: last close)")
    coverage80: float | None = Field(description="80% band coverage (ideal 0.8; none: naive)")
    coverage90: float | None = Field(description="90% band coverage (ideal 0.9; none: naive)")
    directionHit: float | None = Field(description="share of steps with the right direction")
    crpsSkillBestBaseline: float | None = Field(
        description="1 - crps / the best baseline's crps: above 0 beats every baseline"
    )


class Leaderboard(Loose):
    """`GET /api/leaderboard` as a tool result (`from`/`to` are `start`/`end`)."""

    symbol: str
    interval: str
    days: float
    start: str = Field(description="oldest forecast origin counted (UTC)")
    end: str = Field(description="the service's now: the close of the newest candle (UTC)")
    bestBaseline: str | None = Field(description="the baseline with the lowest CRPS")
    forecasters: list[ForecasterScore] = Field(description="best (lowest CRPS) first")
