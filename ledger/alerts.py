"""Alert rules and their deliveries in the ledger database.

A rule watches the scheduled forecasts of one symbol and interval; when one fires it, the
delivery is recorded once per (rule, origin) before it is sent (`claim_delivery`), so a rule
fires at most once per scheduled forecast across workers and replicas. Each attempt's outcome is
recorded on the delivery (`record_attempt`).
"""

from __future__ import annotations

import secrets
import time
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from ledger.models import AlertDeliveryRow, AlertRuleRow
from ledger.store import Ledger

PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"
MAX_FAILURES_KEPT = 20  # the newest attempt failures kept per delivery


@dataclass(frozen=True)
class AlertRule:
    """A stored rule (`condition` holds the rule's own fields, e.g. above/hours/probability)."""

    id: str
    client: str
    symbol: str
    interval: str
    condition: dict[str, Any]
    webhook: str
    secret: str
    created_at: int


RULES = AlertRuleRow.__table__


def _rule(row: Any) -> AlertRule:
    """The rule of an `alert_rules` row."""
    return AlertRule(
        row.id,
        row.client,
        row.symbol,
        row.interval,
        dict(row.condition),
        row.webhook,
        row.secret,
        int(row.created_at),
    )


def add_rule(
    ledger: Ledger,
    *,
    client: str,
    symbol: str,
    interval: str,
    condition: dict[str, Any],
    webhook: str,
    max_per_client: int,
) -> AlertRule | None:
    """Store a new rule with a fresh id and secret; None when `client` has `max_per_client`."""
    rule = AlertRule(
        uuid.uuid4().hex,
        client,
        symbol,
        interval,
        condition,
        webhook,
        secrets.token_hex(32),
        int(time.time()),
    )
    count = select(func.count()).select_from(RULES).where(RULES.c.client == client)
    with ledger.engine.begin() as conn:
        if conn.execute(count).scalar_one() >= max_per_client:
            return None
        conn.execute(RULES.insert().values(rule.__dict__))
    return rule


def get_rule(ledger: Ledger, rule_id: str) -> AlertRule | None:
    """The rule with this id, or None."""
    with ledger.engine.connect() as conn:
        row = conn.execute(select(RULES).where(RULES.c.id == rule_id)).first()
    return None if row is None else _rule(row)


def delete_rule(ledger: Ledger, rule_id: str) -> bool:
    """Remove a rule and its deliveries; whether it existed."""
    with ledger.engine.begin() as conn:
        conn.execute(delete(AlertDeliveryRow).where(AlertDeliveryRow.rule_id == rule_id))
        gone = conn.execute(delete(AlertRuleRow).where(AlertRuleRow.id == rule_id))
    return bool(gone.rowcount)


def rules_for(ledger: Ledger, symbol: str, interval: str) -> list[AlertRule]:
    """Every rule watching `symbol` at `interval`, oldest first."""
    stmt = (
        select(RULES)
        .where(RULES.c.symbol == symbol, RULES.c.interval == interval)
        .order_by(RULES.c.created_at, RULES.c.id)
    )
    with ledger.engine.connect() as conn:
        return [_rule(row) for row in conn.execute(stmt)]


def claim_delivery(
    ledger: Ledger, rule_id: str, origin: int, forecast_uid: str | None, body: bytes
) -> int | None:
    """Record that `rule_id` fired for the forecast of `origin` (pending); its id, or None when
    it already fired for that origin (here or in another worker)."""
    dialect = postgresql if ledger.engine.dialect.name == "postgresql" else sqlite
    values = {
        "rule_id": rule_id,
        "origin": origin,
        "forecast_uid": forecast_uid,
        "body": body,
        "status": PENDING,
        "attempts": 0,
        "failures": [],
        "created_at": int(time.time()),
    }
    stmt = dialect.insert(AlertDeliveryRow.__table__).values(values).on_conflict_do_nothing()
    with ledger.engine.begin() as conn:
        row = conn.execute(stmt.returning(AlertDeliveryRow.__table__.c.id)).first()
    return None if row is None else int(row[0])


def record_attempt(ledger: Ledger, delivery_id: int, *, error: str | None, final: bool) -> None:
    """One attempt's outcome: delivered (`error` None), or a failure kept in `failures` (and
    the delivery `failed` when it was the `final` attempt)."""
    now = int(time.time())
    table = AlertDeliveryRow.__table__
    with ledger.engine.begin() as conn:
        row = conn.execute(select(table).where(table.c.id == delivery_id)).first()
        if row is None:  # the rule was deleted meanwhile
            return
        values: dict[str, Any] = {"attempts": row.attempts + 1}
        if error is None:
            values |= {"status": DELIVERED, "delivered_at": now}
        else:
            failures = [*row.failures, {"at": now, "error": error[:300]}][-MAX_FAILURES_KEPT:]
            values |= {"failures": failures, "status": FAILED if final else PENDING}
        conn.execute(update(table).where(table.c.id == delivery_id).values(values))


def deliveries(ledger: Ledger, rule_id: str, limit: int = 50) -> list[dict[str, Any]]:
    """The rule's newest deliveries, newest first: origin, status, attempts, failures."""
    table = AlertDeliveryRow.__table__
    stmt = (
        select(table).where(table.c.rule_id == rule_id).order_by(table.c.origin.desc()).limit(limit)
    )
    with ledger.engine.connect() as conn:
        rows = list(conn.execute(stmt))
    return [
        {
            "origin": int(r.origin),
            "forecastId": r.forecast_uid,
            "status": r.status,
            "attempts": int(r.attempts),
            "failures": list(r.failures),
            "createdAt": int(r.created_at),
            "deliveredAt": None if r.delivered_at is None else int(r.delivered_at),
            "body": bytes(r.body).decode(),
        }
        for r in rows
    ]
