"""The page in a real Chromium against an in-process stand-in speaking the API shapes that issues
12 (ledger) and 13 (intervals, levels, close-time stamps) specify: the interval selector, the 90%
band, the track-record charts and the ledger's service state, before those endpoints land."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import pairwise
from typing import Any

import pytest
from fastapi import FastAPI

from tests.dashboard.browser import (
    STEP_MS,
    assert_chart_matches,
    console_errors,
    off_loopback,
    open_dashboard,
    page_predict,
    requested_urls,
    state,
    traces,
    visible_badge,
    wait_for,
)
from tests.dashboard.contract_api import (
    accuracy,
    contract_app,
    contract_server,
    forecasts,
    leaderboard,
)

pytestmark = pytest.mark.e2e
Select = pytest.importorskip("selenium.webdriver.support.ui").Select


@pytest.fixture(scope="module")
def stand_in() -> FastAPI:
    """The stand-in API app (its `state.outage` switch is the tests' to flip)."""
    return contract_app()


@pytest.fixture(scope="module")
def contract(stand_in: FastAPI) -> Iterator[str]:
    """The stand-in API on a loopback port."""
    with contract_server(stand_in) as url:
        yield url


def test_intervals_and_90_band(browser: Any, contract: str) -> None:
    console_errors(browser), requested_urls(browser)
    shown = open_dashboard(browser, contract, "BTC")
    assert shown["caps"]["intervalParam"] is True
    interval = Select(browser.find_element("id", "interval"))
    assert [o.get_attribute("value") for o in interval.options] == ["15m", "1h", "4h", "1d"]
    assert "levels=80%2C90" in shown["predictUrl"] and "interval=1h" in shown["predictUrl"]
    assert_chart_matches(browser, page_predict(browser, contract))
    assert "90% band" in traces(browser)
    for chosen in ("4h", "1d"):
        interval.select_by_value(chosen)
        wait_for(browser, f"window.dashboardState.predict.interval === '{chosen}'")
        body = page_predict(browser, contract)
        assert_chart_matches(browser, body)
        x = traces(browser)["mean forecast"]["x"]
        assert {b - a for a, b in pairwise(x)} == {STEP_MS[chosen]}
    assert "calibrated" in visible_badge(browser, "calibrated").lower()
    served = visible_badge(browser, "blend")
    assert served == "served: blend kronos 0.32 · random walk 0.51 · drift 0.17"
    assert "raw 81.0%" in browser.find_element("id", "stats").text
    assert off_loopback(requested_urls(browser)) == []
    assert console_errors(browser) == []


def test_track_record_panel(browser: Any, contract: str) -> None:
    open_dashboard(browser, contract, "ETH")
    wait_for(browser, "window.dashboardState.track.state === 'shown'")
    expected = accuracy("ETH", 30)
    coverage = traces(browser, "coverage-chart")
    assert coverage["80% band"]["y"] == pytest.approx([s["coverage80"] for s in expected["steps"]])
    assert coverage["90% raw"]["y"] == pytest.approx(
        [s["coverage90Raw"] for s in expected["steps"]]
    )
    assert coverage["nominal 90%"]["y"] == pytest.approx([0.9] * 24)
    skill = traces(browser, "skill-chart")["CRPS skill"]["y"]
    assert skill == pytest.approx([s["crpsSkill"] for s in expected["steps"]])
    reliability = traces(browser, "reliability-chart")["realised"]
    buckets = expected["confidence"]["buckets"]
    assert reliability["x"] == pytest.approx([b["stated"] for b in buckets])
    assert reliability["y"] == pytest.approx([b["hitRate"] for b in buckets])
    realised = traces(browser, "forecasts-chart")["realised close"]
    steps = {
        s["timestamp"]: s["realised"] for f in forecasts("ETH")["forecasts"] for s in f["steps"]
    }
    assert len(realised["y"]) == len(steps) and sorted(realised["y"]) == sorted(steps.values())
    track = browser.find_element("id", "track-stats").text
    assert "ECE" in track and "3.0% (raw 19.0%)" in track
    best = traces(browser, "skill-chart")["skill vs random walk"]["y"]
    assert best == pytest.approx([s["crpsSkillBestBaseline"] for s in expected["steps"]])
    wait_for(browser, "window.dashboardState.leaderboard")
    table = browser.find_element("id", "leaderboard")
    assert table.is_displayed() and "ranked by CRPS" in table.text
    rows = table.find_elements("css selector", "tbody tr")
    expected_board = leaderboard("ETH", 30)["forecasters"]
    assert [r.get_attribute("data-name") for r in rows] == [f["name"] for f in expected_board]
    first = rows[0].find_elements("css selector", "th, td")
    assert [c.text for c in first[:3]] == ["1", "random walk", "baseline"]
    assert first[1].get_attribute("scope") == "row"


def test_service_state_shows_dtype_and_ledger(browser: Any, contract: str) -> None:
    open_dashboard(browser, contract, "BTC")
    wait_for(browser, "window.dashboardState.health")
    line = browser.find_element("id", "service-line").text
    assert "cuda:0 bfloat16" in line and "ledger ok" in line
    service = browser.find_element("id", "service").text
    assert "ledger dropped" in service and "bfloat16" in service
    assert state(browser)["health"]["ledger"]["state"] == "ok"


def test_failed_update_keeps_the_last_forecast(
    browser: Any, contract: str, stand_in: FastAPI
) -> None:
    open_dashboard(browser, contract, "BTC")
    stand_in.state.outage = True
    try:
        browser.find_element("id", "refresh").click()
        wait_for(browser, "window.dashboardState.error")
        error = browser.find_element("id", "forecast-error")
        assert error.is_displayed() and error.text.startswith("Update failed (503")
        assert_chart_matches(browser, state(browser)["predict"])
    finally:
        stand_in.state.outage = False
    wait_for(browser, "window.dashboardState.error === null", timeout=20)  # the next poll
    assert not browser.find_element("id", "forecast-error").is_displayed()
