"""Headless Debian Chromium driven by Selenium, and what the tests read back from a page."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pandas as pd
import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
)
LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}


@contextmanager
def chromium() -> Iterator[Any]:
    """A Chrome WebDriver on the system Chromium (no Selenium Manager download), with the
    browser console and the DevTools network events recorded."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    with tempfile.TemporaryDirectory(prefix="dash-chromium-") as profile:
        options = webdriver.ChromeOptions()
        options.binary_location = str(CHROMIUM)
        for flag in (*FLAGS, f"--user-data-dir={profile}"):
            options.add_argument(flag)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
        driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
        try:
            driver.set_window_size(1280, 900)
            yield driver
        finally:
            driver.quit()


def viewport(driver: Any, width: int, height: int) -> None:
    """Lay the page out at `width` x `height` CSS pixels (a phone below 600: touch, mobile)."""
    metrics = {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 600}
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)


def console_errors(driver: Any) -> list[dict]:
    """SEVERE browser-console entries since the last call (script errors, failed loads)."""
    return [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


def requested_urls(driver: Any) -> list[str]:
    """Every URL the browser asked for since the last call (DevTools Network events), plus the
    page's resource-timing entries."""
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    urls += driver.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name)"
    )
    return urls


def off_loopback(urls: list[str]) -> list[str]:
    """The URLs (http, https, ws) whose host is not a loopback address."""
    network = [u for u in urls if urlsplit(u).scheme in {"http", "https", "ws", "wss"}]
    return [u for u in network if urlsplit(u).hostname not in LOOPBACK]


def wait_for(driver: Any, script: str, timeout: float = 60.0) -> Any:
    """Poll a JavaScript expression until it is truthy; return its value."""
    from selenium.webdriver.support.ui import WebDriverWait

    check: Callable[[Any], Any] = lambda d: d.execute_script(f"return ({script})")  # noqa: E731
    return WebDriverWait(driver, timeout, poll_frequency=0.2).until(check)


def state(driver: Any) -> dict:
    """`window.dashboardState` as JSON (what the page shows)."""
    return driver.execute_script("return JSON.parse(JSON.stringify(window.dashboardState))")


def traces(driver: Any, element_id: str = "price-chart") -> dict[str, dict]:
    """The plotted traces of a chart by name: type, x (ms since the epoch) and y."""
    script = """
      const gd = document.getElementById(arguments[0]);
      const ms = (v) =>
        v instanceof Date ? v.getTime() : typeof v === "string" ? Date.parse(v) : v;
      return (gd.data || []).map((t) => ({name: t.name, type: t.type,
        x: Array.from(t.x || [], ms), y: Array.from(t.y || []), close: t.close || null}));
    """
    return {t["name"]: t for t in driver.execute_script(script, element_id)}


STEP_MS = {"15m": 900_000, "1h": 3_600_000, "4h": 14_400_000, "1d": 86_400_000}
RENDERED = "window.dashboardState && window.dashboardState.renders > 0"


def open_dashboard(driver: Any, url: str, symbol: str = "BTC", width: int = 1280) -> dict:
    """Load the page (polling every 2 s) and wait for its first forecast."""
    viewport(driver, width, 900)
    driver.get(f"{url}/dashboard?poll=2&symbol={symbol}")
    wait_for(driver, f"{RENDERED} || (window.dashboardState && window.dashboardState.error)")
    return state(driver)


def visible_badge(driver: Any, kind: str) -> str:
    """The text of the page's `kind` label; fails when it is missing or hidden."""
    element = driver.find_element("css selector", f'#badges [data-kind="{kind}"]')
    assert element.is_displayed()
    return element.text


def band_of(point: dict, level: int) -> tuple[float, float] | None:
    """A step's `level`% band: from `intervals` when sent, else low/high (the 80% band)."""
    for band in point.get("intervals") or []:
        if band["level"] == level:
            return band["low"], band["high"]
    return (point["low"], point["high"]) if level == 80 else None


def assert_chart_matches(driver: Any, body: dict) -> None:
    """The plotted forecast is the response's: mean, median and band per step, at close times."""
    plotted = traces(driver)
    points = body["prediction"]["predictions"]
    step = STEP_MS[body.get("interval", "1h")]
    shift = 0 if "openTime" in points[0] else step
    close_times = [pd.Timestamp(p["timestamp"]).value // 1_000_000 + shift for p in points]
    anchor = pd.Timestamp(body["lastCandle"]).value // 1_000_000 + step
    for name, field in (("mean forecast", "price"), ("median forecast", "median")):
        assert plotted[name]["x"] == [anchor, *close_times]
        assert plotted[name]["y"][1:] == pytest.approx([p[field] for p in points], rel=1e-12)
    for level in (80, 90):
        expected = [band_of(p, level) for p in points]
        if None in expected:
            assert f"{level}% band" not in plotted
            continue
        assert plotted[f"{level}% band low"]["y"][1:] == pytest.approx([b[0] for b in expected])
        assert plotted[f"{level}% band"]["y"][1:] == pytest.approx([b[1] for b in expected])


def page_predict(driver: Any, url: str) -> dict:
    """The same /api/predict request the page made (a cache hit: the same forecast)."""
    response = httpx.get(f"{url}/{state(driver)['predictUrl']}", timeout=60)
    assert response.status_code == 200, response.text
    return response.json()
