"""The blend and the random walk: what the served blend was made of, how every forecaster scored.

- forecasts: `blend_version`, `blend` (the weights per step used, or why none).
- forecast_steps: `mean_raw` (the model's own mean where `mean` is the blend's), `pit_blend`,
  the model's own `mae_raw` and `direction_hit_raw`, the random walk's `rw_crps`, `rw_mae`,
  `rw_hit80`, `rw_hit90`, `rw_direction_hit`, and drift's `drift_hit80`, `drift_hit90`,
  `drift_direction_hit` (so the leaderboard ranks every forecaster on the same scores).
- step_quantiles: `blend` (the blend's grid before calibration).
- ix_steps_track also covers crps_raw, rw_crps and rw_mae; ix_steps_pit also pit_blend.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

STEP_FLOATS = [
    *("mean_raw", "pit_blend", "mae_raw", "direction_hit_raw"),
    *("rw_crps", "rw_mae", "rw_hit80", "rw_hit90", "rw_direction_hit"),
    *("drift_hit80", "drift_hit90", "drift_direction_hit"),
]
TRACK_0002 = [
    *("forecast_id", "status", "step", "confidence", "confidence_raw", "trend_hit"),
    *("abs_error", "pct_error", "crps", "naive_mae", "drift_mae", "naive_crps", "drift_crps"),
    *("hit80", "hit90", "hit80_raw", "hit90_raw", "direction_hit"),
]
TRACK_0003 = [*TRACK_0002, "crps_raw", "rw_crps", "rw_mae"]
PIT_0001 = ["step", "status", "closes_at", "forecast_id", "pit", "confidence_dist", "trend_hit"]
PIT_0003 = [*PIT_0001, "pit_blend"]


def upgrade() -> None:
    """Add the columns; widen the two covering indexes."""
    with op.batch_alter_table("forecasts") as batch:
        batch.add_column(sa.Column("blend_version", sa.Text(), nullable=True))
        batch.add_column(sa.Column("blend", sa.JSON(), nullable=True))
    op.drop_index("ix_steps_track", table_name="forecast_steps")
    op.drop_index("ix_steps_pit", table_name="forecast_steps")
    with op.batch_alter_table("forecast_steps") as batch:
        for name in STEP_FLOATS:
            batch.add_column(sa.Column(name, sa.Float(), nullable=True))
    with op.batch_alter_table("step_quantiles") as batch:
        batch.add_column(sa.Column("blend", sa.LargeBinary(), nullable=True))
    op.create_index("ix_steps_track", "forecast_steps", TRACK_0003, unique=False)
    op.create_index("ix_steps_pit", "forecast_steps", PIT_0003, unique=False)


def downgrade() -> None:
    """Back to 0002."""
    op.drop_index("ix_steps_pit", table_name="forecast_steps")
    op.drop_index("ix_steps_track", table_name="forecast_steps")
    with op.batch_alter_table("step_quantiles") as batch:
        batch.drop_column("blend")
    with op.batch_alter_table("forecast_steps") as batch:
        for name in STEP_FLOATS:
            batch.drop_column(name)
    with op.batch_alter_table("forecasts") as batch:
        batch.drop_column("blend")
        batch.drop_column("blend_version")
    op.create_index("ix_steps_track", "forecast_steps", TRACK_0002, unique=False)
    op.create_index("ix_steps_pit", "forecast_steps", PIT_0001, unique=False)
