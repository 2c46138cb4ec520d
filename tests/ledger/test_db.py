"""LEDGER_URL forms, and migrations on a fresh and on an existing database (both backends)."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from ledger_helpers import record
from sqlalchemy import func, inspect, select

from ledger.db import (
    alembic_config,
    create_ledger_engine,
    current_revision,
    driver_url,
    migrate,
)
from ledger.models import Base, ForecastRow
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
    Ledger(engine).insert([record()])
    migrate(engine)
    assert current_revision(engine) == HEAD
    indexes = {
        ix["name"]: ix["column_names"] for ix in inspect(engine).get_indexes("forecast_steps")
    }
    assert indexes["ix_steps_track"][:3] == ["forecast_id", "status", "step"]
    assert "ix_steps_forecast_status" not in indexes  # the new index's prefix
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(ForecastRow)).scalar_one() == 1
