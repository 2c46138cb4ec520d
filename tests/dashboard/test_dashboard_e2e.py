"""The dashboard in a real headless Chromium against real `bentoml serve` processes (files source,
tiny checkpoint): offline, faithful to /api/predict, interactive, labelled, self-updating."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest

from tests.dashboard.browser import (
    assert_chart_matches,
    console_errors,
    off_loopback,
    open_dashboard,
    page_predict,
    requested_urls,
    state,
    traces,
    viewport,
    visible_badge,
    wait_for,
)

pytestmark = pytest.mark.e2e


def screenshot(driver: Any, path: Path) -> None:
    """The whole page at the current width as a PNG, once the chart fits the viewport."""
    fits = "document.querySelector('#price-chart .main-svg').clientWidth <= window.innerWidth"
    wait_for(driver, f"document.querySelector('#price-chart .main-svg') && {fits}")
    width = driver.execute_script("return window.innerWidth")
    viewport(driver, width, driver.execute_script("return document.documentElement.scrollHeight"))
    wait_for(driver, fits)
    path.parent.mkdir(parents=True, exist_ok=True)
    assert driver.get_screenshot_as_file(str(path))


@pytest.fixture()
def shots(tmp_path: Path, pytestconfig: pytest.Config) -> Path:
    """Where screenshots go: the README's docs/ with UPDATE_SCREENSHOTS=1, else a temp dir."""
    if os.environ.get("UPDATE_SCREENSHOTS") == "1":
        return pytestconfig.rootpath / "docs"
    return tmp_path


def test_page_loads_offline_without_errors(browser: Any, dash_server: str, shots: Path) -> None:
    console_errors(browser), requested_urls(browser)  # start from empty logs
    shown = open_dashboard(browser, dash_server)
    assert shown["error"] is None and shown["predict"]["symbol"] == "BTC"
    wait_for(
        browser, "window.dashboardState.health && window.dashboardState.track.state !== 'loading'"
    )
    assert browser.execute_script("return typeof Plotly") == "object"
    urls = requested_urls(browser)
    assert any(u.endswith("/dashboard/vendor/plotly.min.js") for u in urls)
    assert off_loopback(urls) == []
    assert console_errors(browser) == []
    service = browser.find_element("id", "service").text
    assert "loaded" in service and "cpu" in service and "files" in service
    screenshot(browser, shots / "dashboard-desktop.png")


def test_phone_width(browser: Any, dash_server: str, shots: Path) -> None:
    open_dashboard(browser, dash_server, width=390)
    assert browser.execute_script("return window.innerWidth") == 390
    no_sideways_scroll = "document.documentElement.scrollWidth <= window.innerWidth"
    assert browser.execute_script(f"return {no_sideways_scroll}")
    screenshot(browser, shots / "dashboard-phone.png")
    assert browser.execute_script(f"return {no_sideways_scroll}")


def test_chart_holds_the_forecast(browser: Any, dash_server: str) -> None:
    shown = open_dashboard(browser, dash_server, "BTC")
    body = page_predict(browser, dash_server)
    assert body["generatedAt"] == shown["predict"]["generatedAt"]
    assert_chart_matches(browser, body)
    assert shown["chart"]["anchor"][1] == pytest.approx(body["currentPrice"])
    stats = browser.find_element("id", "stats").text
    assert body["prediction"]["trend"] in stats
    assert visible_badge(browser, "model").startswith("Model: kronos")


def test_switching_asset_interval_and_style_rerenders(browser: Any, dash_server: str) -> None:
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select

    open_dashboard(browser, dash_server, "BTC")
    renders = state(browser)["renders"]
    Select(browser.find_element("id", "asset")).select_by_value("DOGE")
    wait_for(
        browser, "window.dashboardState.predict && window.dashboardState.predict.symbol === 'DOGE'"
    )
    assert state(browser)["renders"] > renders
    assert_chart_matches(browser, page_predict(browser, dash_server))
    browser.find_element("id", "style-candles").send_keys(Keys.SPACE)  # keyboard, not a click
    wait_for(browser, "window.dashboardState.chart.style === 'candles'")
    assert "candles (from closes)" in traces(browser)
    interval = browser.find_element("id", "interval")
    options = [o.get_attribute("value") for o in Select(interval).options]
    if not state(browser)["caps"]["intervalParam"]:  # this API forecasts 1h only
        assert options == ["1h"] and not interval.is_enabled()
        assert browser.find_element("id", "interval-note").is_displayed()
        return
    Select(interval).select_by_value("4h")
    wait_for(browser, "window.dashboardState.predict.interval === '4h'")
    assert_chart_matches(browser, page_predict(browser, dash_server))


def test_track_record_appears_with_ledger(browser: Any, dash_server: str) -> None:
    accuracy = httpx.get(f"{dash_server}/api/accuracy", params={"symbol": "BTC", "days": 30})
    if accuracy.status_code == 404:
        pytest.skip("no forecast ledger yet (issue 12): /api/accuracy answers 404")
    assert accuracy.status_code == 200, accuracy.text
    open_dashboard(browser, dash_server, "BTC")
    wait_for(browser, "window.dashboardState.track.state !== 'loading'")
    if accuracy.json()["scored"] == 0:
        assert "No track record yet" in browser.find_element("id", "track-status").text
        return
    wait_for(browser, "window.dashboardState.track.state === 'shown'")
    for chart in ("coverage-chart", "skill-chart", "reliability-chart", "forecasts-chart"):
        assert traces(browser, chart), chart
    coverage = traces(browser, "coverage-chart")["80% band"]["y"]
    assert coverage == pytest.approx([s["coverage80"] for s in accuracy.json()["steps"]])


def test_past_forecasts_chart_has_points_dated_in_the_ledgers_range(
    browser: Any, dash_server: str
) -> None:
    page = httpx.get(f"{dash_server}/api/forecasts", params={"symbol": "BTC"}).json()
    steps = [s for item in page["items"] for s in item["steps"]]
    assert steps, "the replayed ledger holds BTC forecasts"
    first = min(pd.Timestamp(s["candleOpen"]) for s in steps).value // 1_000_000
    last = max(pd.Timestamp(s["closesAt"]) for s in steps).value // 1_000_000
    open_dashboard(browser, dash_server, "BTC")
    wait_for(browser, "window.dashboardState.track.state === 'shown'")
    chart = traces(browser, "forecasts-chart")
    for name in ("past mean forecasts", "realised close"):
        xs = chart[name]["x"]
        assert xs and all(first <= x <= last for x in xs), (name, xs[:3], first, last)
    mean = chart["past mean forecasts"]
    assert all(isinstance(y, float) and y > 0 for y in mean["y"])


def test_docs_render_offline(browser: Any, dash_server: str) -> None:
    console_errors(browser), requested_urls(browser)
    browser.get(f"{dash_server}/docs")
    title = wait_for(browser, "document.querySelector('.swagger-ui .info .title')", timeout=30)
    assert "Kronos forecast service" in title.text
    wait_for(browser, "document.querySelectorAll('.opblock').length > 0", timeout=30)
    assert off_loopback(requested_urls(browser)) == []
    assert console_errors(browser) == []


def append_candle(path: Path) -> str:
    """Add the next hourly candle to a candle file; its open time."""
    frame = pd.read_csv(path)
    last = frame.iloc[-1]
    stamp = pd.Timestamp(last["timestamp"]) + pd.Timedelta(hours=1)
    row = {**last.to_dict(), "timestamp": stamp.strftime("%Y-%m-%dT%H:%M:%SZ")}
    row["open"] = row["close"] = float(last["close"]) * 1.001
    row["high"], row["low"] = row["close"] * 1.002, float(last["close"]) * 0.999
    pd.concat([frame, pd.DataFrame([row])]).to_csv(path, index=False)
    return row["timestamp"]


def test_new_candle_updates_without_reload(
    browser: Any, dash_server: str, candle_dir: Path
) -> None:
    shown = open_dashboard(browser, dash_server, "ETH")
    browser.execute_script("window.notReloaded = true")
    new_candle = append_candle(candle_dir / "ETH_1h.csv")
    assert new_candle > shown["predict"]["lastCandle"]
    wait_for(browser, f"window.dashboardState.predict.lastCandle === '{new_candle}'", timeout=90)
    assert browser.execute_script("return window.notReloaded") is True
    assert state(browser)["renders"] > shown["renders"]
    assert_chart_matches(browser, page_predict(browser, dash_server))


def test_stale_forecast_is_labelled(browser: Any, dash_server: str, candle_dir: Path) -> None:
    open_dashboard(browser, dash_server, "SOL")
    (candle_dir / "SOL_1h.csv").unlink()  # the files source now fails for SOL
    wait_for(browser, "window.dashboardState.predict && window.dashboardState.predict.stale", 60)
    assert visible_badge(browser, "stale").startswith("Stale: market data unavailable")


def test_fallback_forecast_is_labelled(browser: Any, broken_server: str) -> None:
    shown = open_dashboard(browser, broken_server, "BTC")
    assert shown["predict"]["prediction"]["model"] == "fallback"
    text = visible_badge(browser, "fallback")
    assert text.startswith("Fallback forecast") and "model not loaded" in text
    assert "uncalibrated" in {
        b.get_attribute("data-kind") for b in browser.find_elements("css selector", "#badges li")
    }
    wait_for(browser, "window.dashboardState.health")
    assert "fallback" in browser.find_element("id", "service").text
    header = browser.find_element("id", "service-line").text
    assert header.startswith("Model fallback") and "?" not in header  # no device: none shown
