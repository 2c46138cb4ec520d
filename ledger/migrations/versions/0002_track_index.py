"""Covering index of the track record's aggregate (`/api/accuracy`): the scored steps of the
window's forecasts are read from the index alone, never from the wide step rows. It starts with
(forecast_id, status), so it replaces ix_steps_forecast_status.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TRACK_COLUMNS = [
    "forecast_id",
    "status",
    "step",
    "confidence",
    "confidence_raw",
    "trend_hit",
    "abs_error",
    "pct_error",
    "crps",
    "naive_mae",
    "drift_mae",
    "naive_crps",
    "drift_crps",
    "hit80",
    "hit90",
    "hit80_raw",
    "hit90_raw",
    "direction_hit",
]


def upgrade() -> None:
    """Create ix_steps_track, drop the index it makes redundant."""
    op.create_index("ix_steps_track", "forecast_steps", TRACK_COLUMNS, unique=False)
    op.drop_index("ix_steps_forecast_status", table_name="forecast_steps")


def downgrade() -> None:
    """Back to 0001's indexes."""
    op.create_index(
        "ix_steps_forecast_status", "forecast_steps", ["forecast_id", "status"], unique=False
    )
    op.drop_index("ix_steps_track", table_name="forecast_steps")
