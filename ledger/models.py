"""The ledger's tables (SQLAlchemy 2). Times are UTC epoch seconds (BIGINT) on every backend.

- `forecasts`: one row per recorded forecast (who made it, with what, from which origin).
- `forecast_steps`: one row per forecast step: what was served (raw and calibrated) and, once its
  candle has closed, how it scored. `status` is pending, scored or unscorable.
- `step_quantiles`: each step's raw, blended and served quantile grids (for CRPS and PIT).
- `schedule_claims`: the (symbol, interval, origin) a replica claimed for its scheduled forecast.
- `alert_rules`, `alert_deliveries`: webhook rules on scheduled forecasts and what each fired.
- `backtest_jobs`: backtests run on demand (status, parameters, progress, result or error).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    PrimaryKeyConstraint,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

KINDS = ("scheduled", "requested", "replay", "challenger")  # challenger: another model's forecast
TRACK_RECORD_KINDS = ("scheduled", "replay")  # the unbiased, fixed-cadence samples
PENDING, SCORED, UNSCORABLE = "pending", "scored", "unscorable"


STEP_TRACK_COLUMNS = (  # the covering index of the track record's aggregate (migration 0003)
    *("forecast_id", "status", "step", "confidence", "confidence_raw", "trend_hit"),
    *("abs_error", "pct_error", "crps", "naive_mae", "drift_mae", "naive_crps", "drift_crps"),
    *("hit80", "hit90", "hit80_raw", "hit90_raw", "direction_hit"),
    *("crps_raw", "rw_crps", "rw_mae"),
)
STEP_PIT_COLUMNS = (  # the calibration fit's index (migration 0003 adds pit_blend)
    *("step", "status", "closes_at", "forecast_id", "pit", "confidence_dist", "trend_hit"),
    "pit_blend",
)


class Base(DeclarativeBase):
    """Declarative base of the ledger's tables."""


class ForecastRow(Base):
    """A recorded forecast."""

    __tablename__ = "forecasts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    uid: Mapped[str] = mapped_column(String(32), unique=True)
    symbol: Mapped[str] = mapped_column(String(32))
    interval: Mapped[str] = mapped_column(String(8))
    origin: Mapped[int] = mapped_column(BigInteger)  # open time of the last closed candle
    issued_at: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(16))
    horizon: Mapped[int] = mapped_column(Integer)
    reference_step: Mapped[int] = mapped_column(Integer)  # min(24, horizon)
    samples: Mapped[int] = mapped_column(Integer)
    seed: Mapped[int | None] = mapped_column(BigInteger)
    sampler: Mapped[dict[str, Any]] = mapped_column(JSON)
    model_kind: Mapped[str] = mapped_column(String(16))  # kronos | fallback
    fallback_reason: Mapped[str | None] = mapped_column(Text)
    model_id: Mapped[str] = mapped_column(Text)
    tokenizer_id: Mapped[str | None] = mapped_column(Text)
    revision: Mapped[str | None] = mapped_column(Text)
    checkpoint_digest: Mapped[str | None] = mapped_column(String(80))
    calibration_version: Mapped[str | None] = mapped_column(String(64))
    calibration: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    blend_version: Mapped[str | None] = mapped_column(Text)
    blend: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # weights per step, why not
    last_close: Mapped[float] = mapped_column(Float)
    trend_threshold: Mapped[float] = mapped_column(Float)
    drift_mu: Mapped[float] = mapped_column(Float)
    drift_sigma: Mapped[float] = mapped_column(Float)

    __table_args__ = (
        Index(
            "uq_forecasts_scheduled",
            "symbol",
            "interval",
            "origin",
            unique=True,
            sqlite_where=text("kind = 'scheduled'"),
            postgresql_where=text("kind = 'scheduled'"),
        ),
        Index("ix_forecasts_track", "interval", "kind", "origin"),
        Index("ix_forecasts_symbol", "symbol", "interval", "origin"),
    )


class StepRow(Base):
    """One step of a recorded forecast, with its score once its candle has closed."""

    __tablename__ = "forecast_steps"
    forecast_id: Mapped[int] = mapped_column(
        ForeignKey("forecasts.id", ondelete="CASCADE"), primary_key=True
    )
    step: Mapped[int] = mapped_column(Integer, primary_key=True)
    candle_open: Mapped[int] = mapped_column(BigInteger)  # the candle this step forecasts
    closes_at: Mapped[int] = mapped_column(BigInteger)  # when that candle closes
    mean: Mapped[float] = mapped_column(Float)  # as served (the blend's where blended)
    median: Mapped[float] = mapped_column(Float)
    mean_raw: Mapped[float | None] = mapped_column(Float)  # the model's own (None: = mean)
    calibrated: Mapped[bool] = mapped_column(Boolean)
    low80_raw: Mapped[float] = mapped_column(Float)
    high80_raw: Mapped[float] = mapped_column(Float)
    low90_raw: Mapped[float] = mapped_column(Float)
    high90_raw: Mapped[float] = mapped_column(Float)
    low80: Mapped[float] = mapped_column(Float)
    high80: Mapped[float] = mapped_column(Float)
    low90: Mapped[float] = mapped_column(Float)
    high90: Mapped[float] = mapped_column(Float)
    trend: Mapped[str] = mapped_column(String(8))
    confidence_raw: Mapped[float] = mapped_column(Float)
    confidence: Mapped[float] = mapped_column(Float)
    confidence_dist: Mapped[float] = mapped_column(Float)  # the confidence map's input
    up_probability_raw: Mapped[float] = mapped_column(Float)
    up_probability: Mapped[float] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(12), server_default=PENDING)
    scored_at: Mapped[int | None] = mapped_column(BigInteger)
    realised: Mapped[float | None] = mapped_column(Float)
    abs_error: Mapped[float | None] = mapped_column(Float)
    pct_error: Mapped[float | None] = mapped_column(Float)
    crps: Mapped[float | None] = mapped_column(Float)  # of the distribution as served
    crps_raw: Mapped[float | None] = mapped_column(Float)
    pit: Mapped[float | None] = mapped_column(Float)  # of the raw distribution
    pit_blend: Mapped[float | None] = mapped_column(Float)  # of the blend before calibration
    hit80: Mapped[float | None] = mapped_column(Float)
    hit90: Mapped[float | None] = mapped_column(Float)
    hit80_raw: Mapped[float | None] = mapped_column(Float)
    hit90_raw: Mapped[float | None] = mapped_column(Float)
    direction_hit: Mapped[float | None] = mapped_column(Float)
    trend_hit: Mapped[float | None] = mapped_column(Float)
    naive_crps: Mapped[float | None] = mapped_column(Float)
    naive_mae: Mapped[float | None] = mapped_column(Float)
    drift_crps: Mapped[float | None] = mapped_column(Float)
    drift_mae: Mapped[float | None] = mapped_column(Float)
    mae_raw: Mapped[float | None] = mapped_column(Float)  # of the model's own mean
    direction_hit_raw: Mapped[float | None] = mapped_column(Float)
    rw_crps: Mapped[float | None] = mapped_column(Float)  # the random walk baseline
    rw_mae: Mapped[float | None] = mapped_column(Float)
    rw_hit80: Mapped[float | None] = mapped_column(Float)
    rw_hit90: Mapped[float | None] = mapped_column(Float)
    rw_direction_hit: Mapped[float | None] = mapped_column(Float)
    drift_hit80: Mapped[float | None] = mapped_column(Float)
    drift_hit90: Mapped[float | None] = mapped_column(Float)
    drift_direction_hit: Mapped[float | None] = mapped_column(Float)

    __table_args__ = (
        Index("ix_steps_due", "status", "closes_at"),
        Index("ix_steps_pit", *STEP_PIT_COLUMNS),
        Index("ix_steps_track", *STEP_TRACK_COLUMNS),  # prefix: (forecast_id, status)
    )


class QuantileRow(Base):
    """A step's quantile grids (kept apart so aggregates scan slim step rows)."""

    __tablename__ = "step_quantiles"
    forecast_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    step: Mapped[int] = mapped_column(Integer, primary_key=True)
    raw: Mapped[bytes] = mapped_column(LargeBinary)  # float64 on QUANTILE_LEVELS
    calibrated: Mapped[bytes | None] = mapped_column(LargeBinary)  # as served, if calibrated
    blend: Mapped[bytes | None] = mapped_column(LargeBinary)  # the blend, if blended

    __table_args__ = (
        ForeignKeyConstraint(
            ["forecast_id", "step"],
            ["forecast_steps.forecast_id", "forecast_steps.step"],
            ondelete="CASCADE",
        ),
    )


class ClaimRow(Base):
    """A replica's claim on one scheduled forecast."""

    __tablename__ = "schedule_claims"
    symbol: Mapped[str] = mapped_column(String(32), primary_key=True)
    interval: Mapped[str] = mapped_column(String(8), primary_key=True)
    origin: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    owner: Mapped[str] = mapped_column(String(64))
    claimed_at: Mapped[int] = mapped_column(BigInteger)
    done: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))


class AlertRuleRow(Base):
    """A webhook rule evaluated on every scheduled forecast of its symbol and interval."""

    __tablename__ = "alert_rules"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    client: Mapped[str] = mapped_column(String(64))
    symbol: Mapped[str] = mapped_column(String(32))
    interval: Mapped[str] = mapped_column(String(8))
    condition: Mapped[dict[str, Any]] = mapped_column(JSON)  # {"above", "hours", ...}
    webhook: Mapped[str] = mapped_column(Text)
    secret: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = (
        Index("ix_alert_rules_target", "symbol", "interval"),
        Index("ix_alert_rules_client", "client"),
    )


class AlertDeliveryRow(Base):
    """What one rule fired for one scheduled forecast (once per rule and origin)."""

    __tablename__ = "alert_deliveries"
    id: Mapped[int] = mapped_column(Integer, autoincrement=True)
    rule_id: Mapped[str] = mapped_column(ForeignKey("alert_rules.id", ondelete="CASCADE"))
    origin: Mapped[int] = mapped_column(BigInteger)
    forecast_uid: Mapped[str | None] = mapped_column(String(32))
    body: Mapped[bytes] = mapped_column(LargeBinary)  # the exact bytes signed and sent
    status: Mapped[str] = mapped_column(String(12))  # pending | delivered | failed
    attempts: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    failures: Mapped[list[Any]] = mapped_column(JSON)  # [{"at", "error"}], oldest first
    created_at: Mapped[int] = mapped_column(BigInteger)
    delivered_at: Mapped[int | None] = mapped_column(BigInteger)

    __table_args__ = (
        PrimaryKeyConstraint("id"),
        UniqueConstraint("rule_id", "origin", name="uq_alert_deliveries_once"),
    )


class BacktestJobRow(Base):
    """A backtest run on demand into a scratch ledger of its own."""

    __tablename__ = "backtest_jobs"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    client: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(12))  # queued | running | done | failed
    params: Mapped[dict[str, Any]] = mapped_column(JSON)
    done: Mapped[int] = mapped_column(Integer, server_default=text("0"))  # origins replayed
    total: Mapped[int] = mapped_column(Integer)  # origins of the window
    owner: Mapped[str | None] = mapped_column(String(96))  # host:pid of the running worker
    heartbeat_at: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[int] = mapped_column(BigInteger)
    started_at: Mapped[int | None] = mapped_column(BigInteger)
    finished_at: Mapped[int | None] = mapped_column(BigInteger)
    error: Mapped[str | None] = mapped_column(Text)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    __table_args__ = (Index("ix_backtest_jobs_status", "status"),)


class ApiKeyRow(Base):
    """An API key (migration 0005): its name, the sha256 of the key (never the key), its
    own compute quota (path-steps per minute; NULL: KEY_COMPUTE_PER_MINUTE) and when revoked."""

    __tablename__ = "api_keys"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    quota: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[int] = mapped_column(BigInteger)
    revoked_at: Mapped[int | None] = mapped_column(BigInteger)
