"""Initial ledger tables: forecasts, forecast_steps, step_quantiles, schedule_claims.

Revision ID: 0001
Revises: (none)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the ledger's tables and indexes."""
    op.create_table(
        "forecasts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("uid", sa.String(length=32), nullable=False),
        sa.Column("symbol", sa.String(length=32), nullable=False),
        sa.Column("interval", sa.String(length=8), nullable=False),
        sa.Column("origin", sa.BigInteger(), nullable=False),
        sa.Column("issued_at", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("horizon", sa.Integer(), nullable=False),
        sa.Column("reference_step", sa.Integer(), nullable=False),
        sa.Column("samples", sa.Integer(), nullable=False),
        sa.Column("seed", sa.BigInteger(), nullable=True),
        sa.Column("sampler", sa.JSON(), nullable=False),
        sa.Column("model_kind", sa.String(length=16), nullable=False),
        sa.Column("fallback_reason", sa.Text(), nullable=True),
        sa.Column("model_id", sa.Text(), nullable=False),
        sa.Column("tokenizer_id", sa.Text(), nullable=True),
        sa.Column("revision", sa.Text(), nullable=True),
        sa.Column("checkpoint_digest", sa.String(length=80), nullable=True),
        sa.Column("calibration_version", sa.String(length=64), nullable=True),
        sa.Column("calibration", sa.JSON(), nullable=True),
        sa.Column("last_close", sa.Float(), nullable=False),
        sa.Column("trend_threshold", sa.Float(), nullable=False),
        sa.Column("drift_mu", sa.Float(), nullable=False),
        sa.Column("drift_sigma", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("uid"),
    )
    op.create_index(
        "ix_forecasts_symbol", "forecasts", ["symbol", "interval", "origin"], unique=False
    )
    op.create_index("ix_forecasts_track", "forecasts", ["interval", "kind", "origin"], unique=False)
    op.create_index(
        "uq_forecasts_scheduled",
        "forecasts",
        ["symbol", "interval", "origin"],
        unique=True,
        sqlite_where=sa.text("kind = 'scheduled'"),
        postgresql_where=sa.text("kind = 'scheduled'"),
    )
    op.create_table(
        "schedule_claims",
        sa.Column("symbol", sa.String(length=32), nullable=False),
        sa.Column("interval", sa.String(length=8), nullable=False),
        sa.Column("origin", sa.BigInteger(), nullable=False),
        sa.Column("owner", sa.String(length=64), nullable=False),
        sa.Column("claimed_at", sa.BigInteger(), nullable=False),
        sa.Column("done", sa.Boolean(), server_default=sa.text("(false)"), nullable=False),
        sa.PrimaryKeyConstraint("symbol", "interval", "origin"),
    )
    op.create_table(
        "forecast_steps",
        sa.Column("forecast_id", sa.Integer(), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("candle_open", sa.BigInteger(), nullable=False),
        sa.Column("closes_at", sa.BigInteger(), nullable=False),
        sa.Column("mean", sa.Float(), nullable=False),
        sa.Column("median", sa.Float(), nullable=False),
        sa.Column("calibrated", sa.Boolean(), nullable=False),
        sa.Column("low80_raw", sa.Float(), nullable=False),
        sa.Column("high80_raw", sa.Float(), nullable=False),
        sa.Column("low90_raw", sa.Float(), nullable=False),
        sa.Column("high90_raw", sa.Float(), nullable=False),
        sa.Column("low80", sa.Float(), nullable=False),
        sa.Column("high80", sa.Float(), nullable=False),
        sa.Column("low90", sa.Float(), nullable=False),
        sa.Column("high90", sa.Float(), nullable=False),
        sa.Column("trend", sa.String(length=8), nullable=False),
        sa.Column("confidence_raw", sa.Float(), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("confidence_dist", sa.Float(), nullable=False),
        sa.Column("up_probability_raw", sa.Float(), nullable=False),
        sa.Column("up_probability", sa.Float(), nullable=False),
        sa.Column("status", sa.String(length=12), server_default="pending", nullable=False),
        sa.Column("scored_at", sa.BigInteger(), nullable=True),
        sa.Column("realised", sa.Float(), nullable=True),
        sa.Column("abs_error", sa.Float(), nullable=True),
        sa.Column("pct_error", sa.Float(), nullable=True),
        sa.Column("crps", sa.Float(), nullable=True),
        sa.Column("crps_raw", sa.Float(), nullable=True),
        sa.Column("pit", sa.Float(), nullable=True),
        sa.Column("hit80", sa.Float(), nullable=True),
        sa.Column("hit90", sa.Float(), nullable=True),
        sa.Column("hit80_raw", sa.Float(), nullable=True),
        sa.Column("hit90_raw", sa.Float(), nullable=True),
        sa.Column("direction_hit", sa.Float(), nullable=True),
        sa.Column("trend_hit", sa.Float(), nullable=True),
        sa.Column("naive_crps", sa.Float(), nullable=True),
        sa.Column("naive_mae", sa.Float(), nullable=True),
        sa.Column("drift_crps", sa.Float(), nullable=True),
        sa.Column("drift_mae", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(["forecast_id"], ["forecasts.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("forecast_id", "step"),
    )
    op.create_table(
        "step_quantiles",
        sa.Column("forecast_id", sa.Integer(), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("raw", sa.LargeBinary(), nullable=False),
        sa.Column("calibrated", sa.LargeBinary(), nullable=True),
        sa.ForeignKeyConstraint(
            ["forecast_id", "step"],
            ["forecast_steps.forecast_id", "forecast_steps.step"],
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("forecast_id", "step"),
    )
    op.create_index("ix_steps_due", "forecast_steps", ["status", "closes_at"], unique=False)
    op.create_index(
        "ix_steps_forecast_status", "forecast_steps", ["forecast_id", "status"], unique=False
    )
    op.create_index(
        "ix_steps_pit",
        "forecast_steps",
        # covers the calibration's reads
        ["step", "status", "closes_at", "forecast_id", "pit", "confidence_dist", "trend_hit"],
        unique=False,
    )


def downgrade() -> None:
    """Drop them."""
    op.drop_index("ix_steps_pit", table_name="forecast_steps")
    op.drop_index("ix_steps_forecast_status", table_name="forecast_steps")
    op.drop_index("ix_steps_due", table_name="forecast_steps")
    op.drop_table("step_quantiles")
    op.drop_table("forecast_steps")
    op.drop_table("schedule_claims")
    op.drop_index(
        "uq_forecasts_scheduled",
        table_name="forecasts",
        sqlite_where=sa.text("kind = 'scheduled'"),
        postgresql_where=sa.text("kind = 'scheduled'"),
    )
    op.drop_index("ix_forecasts_track", table_name="forecasts")
    op.drop_index("ix_forecasts_symbol", table_name="forecasts")
    op.drop_table("forecasts")
