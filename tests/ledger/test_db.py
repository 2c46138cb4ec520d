"""LEDGER_URL forms, and migrations on a fresh and on an existing database (both backends)."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from ledger_helpers import HOUR, T0, constant_closes, record
from sqlalchemy import func, insert, inspect, select

from ledger.db import (
    alembic_config,
    create_ledger_engine,
    current_revision,
    driver_url,
    migrate,
)
from ledger.models import Base, ForecastRow, QuantileRow, StepRow
from ledger.scorer import score_due
from ledger.store import Ledger

HEAD = ScriptDirectory.from_config(alembic_config()).get_current_head()  # the newest migration


@pytest.mark.parametrize(
    ("plain", "full"),
    [
        ("sqlite:///data/ledger.db", "sqlite:///data/ledger.db"),
        ("sqlite:////abs/ledger.db", "sqlite:////abs/ledger.db"),
        ("postgresql://user@host/db", "postgresql+psycopg://user@host/db"),
        ("postgres://u:pw@h:5433/db", "postgresql+psycopg://u:pw@h:5433/db"),
        ("postgresql+psycopg://u@h/db", "postgresql+psycopg://u@h/db"),
    ],
)
def test_plain_urls_get_our_drivers(plain: str, full: str) -> None:
    assert driver_url(plain) == full


def test_other_databases_are_refused() -> None:
    with pytest.raises(ValueError, match="LEDGER_URL"):
        driver_url("mysql://u@h/db")


def test_sqlite_folder_is_created(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'new' / 'dir' / 'ledger.db'}"
    Ledger.open(url)
    assert (tmp_path / "new" / "dir" / "ledger.db").exists()


def test_fresh_database_matches_the_models(ledger_url: str) -> None:
    engine = create_ledger_engine(ledger_url)
    assert current_revision(engine) is None
    migrate(engine)
    assert current_revision(engine) == HEAD
    with engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []


def test_existing_database_is_upgraded_in_place(ledger_url: str) -> None:
    first = Ledger.open(ledger_url)
    first.insert([record()])
    first.engine.dispose()
    again = Ledger.open(ledger_url)  # a restart: migrations run again, data kept
    with again.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(ForecastRow)).scalar_one() == 1
    assert current_revision(again.engine) == HEAD


def test_a_0001_database_gets_the_track_index_and_keeps_its_rows(ledger_url: str) -> None:
    engine = create_ledger_engine(ledger_url)
    migrate(engine, "0001")
    _insert_as_0002(Ledger(engine), record())  # 0001 and 0002 have the same columns
    migrate(engine)
    assert current_revision(engine) == HEAD
    indexes = {
        ix["name"]: ix["column_names"] for ix in inspect(engine).get_indexes("forecast_steps")
    }
    assert indexes["ix_steps_track"][:3] == ["forecast_id", "status", "step"]
    assert "ix_steps_forecast_status" not in indexes  # the new index's prefix
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(ForecastRow)).scalar_one() == 1


def test_a_0002_database_gets_the_blend_columns_and_its_old_rows_still_score(
    ledger_url: str,
) -> None:
    engine = create_ledger_engine(ledger_url)
    migrate(engine, "0002")
    old = record()  # inserted through the columns 0002 has
    legacy = Ledger(engine)
    _insert_as_0002(legacy, old)
    migrate(engine)
    assert current_revision(engine) == HEAD
    columns = {c["name"] for c in inspect(engine).get_columns("forecast_steps")}
    assert {"rw_crps", "rw_mae", "pit_blend", "mean_raw", "mae_raw"} <= columns
    assert "blend" in {c["name"] for c in inspect(engine).get_columns("step_quantiles")}
    indexes = {
        ix["name"]: ix["column_names"] for ix in inspect(engine).get_indexes("forecast_steps")
    }
    assert indexes["ix_steps_track"][-3:] == ["crps_raw", "rw_crps", "rw_mae"]
    assert indexes["ix_steps_pit"][-1] == "pit_blend"
    score_due(legacy, constant_closes(101.0), now=T0 + 100 * HOUR, grace=0)
    with engine.connect() as conn:
        rows = conn.execute(select(StepRow.rw_crps, StepRow.mae_raw, StepRow.abs_error)).all()
    assert rows and all(rw > 0 and mae == err for rw, mae, err in rows)


def _insert_as_0002(ledger: Ledger, rec) -> None:
    """Insert a record through the columns a 0002 database has."""
    from ledger.rows import forecast_values, quantile_values, step_values

    new = {"blend", "blend_version", "mean_raw"}
    with ledger.engine.begin() as conn:
        values = {k: v for k, v in forecast_values(rec).items() if k not in new}
        fid = conn.execute(insert(ForecastRow.__table__).values(values).returning(ForecastRow.id))
        fid = fid.scalar_one()
        steps = [{k: v for k, v in step_values(fid, s).items() if k not in new} for s in rec.steps]
        conn.execute(insert(StepRow.__table__), steps)
        grids = [
            {k: v for k, v in quantile_values(fid, s).items() if k not in new} for s in rec.steps
        ]
        conn.execute(insert(QuantileRow.__table__), grids)
