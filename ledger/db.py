"""Ledger URLs, engines and the Alembic migrations applied at start-up."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url

MIGRATIONS = Path(__file__).with_name("migrations")
_PG_LOCK = 0x6C656467  # pg_advisory_lock key: one replica migrates at a time ("ledg")


def driver_url(url: str) -> str:
    """The SQLAlchemy URL with our driver for a plain `sqlite:///...` or `postgresql://...` URL."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return parsed.set(drivername="sqlite").render_as_string(hide_password=False)
    if backend in ("postgresql", "postgres"):
        return parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    raise ValueError(f"LEDGER_URL must be sqlite:///path or postgresql://..., got {backend!r}")


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    """WAL (readers never block the writer), a busy timeout, foreign keys on."""
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")  # with WAL: durable across process crashes
    cursor.execute("PRAGMA cache_size=-65536")  # 64 MiB of page cache for the aggregates
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def create_ledger_engine(url: str, *, connect_timeout: float = 3.0) -> Engine:
    """An engine for the ledger URL; the SQLite file's folder is created if missing."""
    full = make_url(driver_url(url))
    if full.get_backend_name() == "sqlite":
        if full.database and full.database != ":memory:":
            Path(full.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(full, connect_args={"timeout": connect_timeout})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(
        full, pool_pre_ping=True, connect_args={"connect_timeout": max(1, int(connect_timeout))}
    )


def alembic_config() -> Config:
    """Alembic configuration pointing at the migrations shipped inside this package."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def migrate(engine: Engine, revision: str = "head") -> None:
    """Upgrade the database to `revision` (a fresh one is created; an existing one is upgraded)."""
    cfg = alembic_config()
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK})
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at (None before the first migration)."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()
