"""`/api/forecasts` bounds at the edges of the calendar: an empty page or a 4xx, never a 500."""

from __future__ import annotations

from pathlib import Path

import pytest

from kronos_runner.runner import RunnerCore
from tests.forecast_api.api_helpers import LocalRunnerClient, client_for


@pytest.mark.parametrize(
    "bounds",
    [
        {"to": "0001-01-01T00:00:00Z"},  # 30 days before it is before year 1
        {"from": "9999-12-31T23:59:59-14:00"},
        {"from": "0001-01-01T00:00:00+14:00", "to": "9999-12-31T23:59:59-14:00"},
        {"from": "2030-01-01T00:00:00Z", "to": "2020-01-01T00:00:00Z"},
    ],
)
def test_extreme_bounds_give_an_empty_page(
    bounds: dict[str, str], make_settings, core: RunnerCore, tmp_path: Path
) -> None:
    settings = make_settings(ledger_url=f"sqlite:///{tmp_path / 'ledger.db'}")
    with client_for(settings, LocalRunnerClient(core)) as client:
        response = client.get("/api/forecasts", params={"symbol": "BTC", **bounds})
    assert response.status_code == 200, response.text
    assert response.json() == {"items": [], "nextCursor": None}
