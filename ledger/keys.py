"""API keys in the ledger database: created, listed, revoked and looked up by their hash.

A key is 32 random bytes (URL-safe text with a `kf_` prefix); only its sha256 is stored, so the
database never holds a usable key.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from ledger.models import ApiKeyRow

PREFIX = "kf_"


def key_hash(key: str) -> str:
    """The stored form of a key."""
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True)
class KeyInfo:
    """A key as listed: name, own quota (None: the default), when created and revoked."""

    name: str
    quota: int | None
    created_at: int
    revoked_at: int | None = None


class KeyExistsError(ValueError):
    """A key of that name exists already."""


class KeyStore:
    """The `api_keys` table of a (migrated) ledger database."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def create(self, name: str, quota: int | None = None) -> str:
        """A new key named `name` (KeyExistsError if the name is taken); returned once."""
        key = PREFIX + secrets.token_urlsafe(32)
        row = ApiKeyRow(name=name, key_hash=key_hash(key), quota=quota, created_at=int(time.time()))
        try:
            with self.engine.begin() as conn:
                conn.execute(ApiKeyRow.__table__.insert().values(**_values(row)))
        except IntegrityError as exc:
            raise KeyExistsError(f"a key named {name!r} exists already") from exc
        return key

    def list(self) -> list[KeyInfo]:
        """Every key, revoked ones included, by name."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(ApiKeyRow.__table__).order_by(ApiKeyRow.name)).all()
        return [KeyInfo(r.name, r.quota, r.created_at, r.revoked_at) for r in rows]

    def revoke(self, name: str) -> bool:
        """Revoke the key named `name`; False if there is no such live key."""
        table = ApiKeyRow.__table__
        with self.engine.begin() as conn:
            done = conn.execute(
                update(table)
                .where(table.c.name == name, table.c.revoked_at.is_(None))
                .values(revoked_at=int(time.time()))
            )
        return done.rowcount > 0

    def lookup(self, key: str) -> KeyInfo | None:
        """The live key `key` is, or None (unknown or revoked)."""
        table = ApiKeyRow.__table__
        with self.engine.connect() as conn:
            row = conn.execute(
                select(table).where(table.c.key_hash == key_hash(key), table.c.revoked_at.is_(None))
            ).first()
        return None if row is None else KeyInfo(row.name, row.quota, row.created_at)


def _values(row: ApiKeyRow) -> dict:
    return {c.name: getattr(row, c.name) for c in ApiKeyRow.__table__.columns}
