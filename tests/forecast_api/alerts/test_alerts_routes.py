"""`/api/alerts` over HTTP (in-process app, SQLite ledger): create, show, delete, and clear 4xx
for bad rules."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.forecast_api.api_helpers import client_for

RULE = {"symbol": "BTC", "interval": "1h", "above": 100000, "hours": 24, "probability": 0.7}
HOOK = "https://hooks.example/kronos"


@pytest.fixture
def api(make_settings, tmp_path: Path) -> Iterator[TestClient]:
    """The app with a ledger, scheduling 1h, at most 3 rules per client."""
    settings = make_settings(
        ledger_url=f"sqlite:///{tmp_path / 'ledger.db'}", ledger_schedule=["1h"], alert_max_rules=3
    )
    with client_for(settings, runner=None) as client:
        yield client


def test_create_show_delete(api: TestClient) -> None:
    made = api.post("/api/alerts", json={**RULE, "webhook": HOOK})
    assert made.status_code == 201, made.text
    rule = made.json()
    assert len(rule["secret"]) == 64 and rule["symbol"] == "BTC" and rule["above"] == 100000
    shown = api.get(f"/api/alerts/{rule['id']}")
    assert shown.status_code == 200
    assert "secret" not in shown.json() and shown.json()["deliveries"] == []
    trend = api.post(
        "/api/alerts",
        json={"symbol": "eth", "trend": "bearish", "minConfidence": 0.6, "webhook": HOOK},
    )
    assert trend.status_code == 201 and trend.json()["trend"] == "bearish"
    assert api.delete(f"/api/alerts/{rule['id']}").status_code == 204
    assert api.get(f"/api/alerts/{rule['id']}").status_code == 404
    gone = api.delete(f"/api/alerts/{rule['id']}")
    assert gone.status_code == 404 and gone.json()["error"] == "not_found"


@pytest.mark.parametrize(
    ("change", "status", "names"),
    [
        ({"symbol": "NOPE"}, 404, "NOPE"),
        ({"interval": "4h"}, 422, "LEDGER_SCHEDULE"),  # served but not scheduled here
        ({"interval": "2h"}, 422, "interval"),
        ({"probability": 1.5}, 422, "probability"),
        ({"probability": 0}, 422, "probability"),
        ({"hours": 0}, 422, "hours"),
        ({"hours": 25}, 422, "hours"),
        ({"above": -1}, 422, "above"),
        ({"webhook": "ftp://hooks.example/x"}, 422, "webhook"),
        ({"webhook": "hooks.example/x"}, 422, "webhook"),
        ({"webhook": "http://:80/x"}, 422, "webhook"),
        ({"trend": "bearish"}, 422, "either"),
        ({"hours": None}, 422, "needs"),
        ({"colour": "red"}, 422, "colour"),
    ],
)
def test_bad_rules_are_a_clear_4xx(api: TestClient, change: dict, status: int, names: str) -> None:
    body = {**RULE, "webhook": HOOK, **change}
    answer = api.post("/api/alerts", json={k: v for k, v in body.items() if v is not None})
    assert answer.status_code == status, answer.text
    assert names in answer.json()["message"]


def test_rules_per_client_are_bounded(api: TestClient) -> None:
    for _ in range(3):
        assert api.post("/api/alerts", json={**RULE, "webhook": HOOK}).status_code == 201
    refused = api.post("/api/alerts", json={**RULE, "webhook": HOOK})
    assert refused.status_code == 429 and "ALERT_MAX_RULES" in refused.json()["message"]


def test_wrong_methods_and_no_ledger(make_settings) -> None:
    with client_for(make_settings(ledger_url=""), runner=None) as client:
        answer = client.post("/api/alerts", json={**RULE, "webhook": HOOK})
        assert answer.status_code == 503
        assert client.put("/api/alerts/x").status_code == 405
