"""Alembic migrations of the ledger (applied by ledger.db.migrate)."""
