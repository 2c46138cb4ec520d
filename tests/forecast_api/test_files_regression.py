"""A candle file replaced by a truncated copy while serving: stale answers, /health degraded;
restored: fresh again (files source, tiny checkpoint in-process)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from data_sources import MarketDataSettings
from kronos_runner.runner import RunnerCore
from tests.forecast_api.api_helpers import LocalRunnerClient, assert_error, client_for


def test_a_truncated_file_is_served_stale_until_restored(
    make_settings, core: RunnerCore, ohlcv_dir: Path, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    path = data / "BTC_1h.csv"
    shutil.copy(ohlcv_dir / "BTC_1h.csv", path)
    market = MarketDataSettings(_env_file=None, market_data_source="files", market_data_dir=data)
    params = {"symbol": "BTC", "seed": 1}
    with client_for(make_settings(market=market), LocalRunnerClient(core)) as c:
        fresh = c.get("/api/predict", params=params).json()
        assert fresh["stale"] is False
        lines = path.read_text().splitlines(keepends=True)
        truncated = tmp_path / "truncated.csv"
        truncated.write_text("".join(lines[: len(lines) - 5000]))  # at a line boundary
        os.replace(truncated, path)
        stale = c.get("/api/predict", params=params).json()
        assert stale["stale"] is True and stale["lastCandle"] == fresh["lastCandle"]
        assert stale["prediction"] == fresh["prediction"]
        health = c.get("/health").json()["dataSource"]
        assert health["state"] == "degraded" and "before the" in health["lastError"]
        assert_error(
            c.get("/api/history", params={"symbol": "BTC"}), 503, "market_data_unavailable"
        )
        shutil.copy(ohlcv_dir / "BTC_1h.csv", path)  # restored
        again = c.get("/api/predict", params=params).json()
        assert again["stale"] is False and again["lastCandle"] == fresh["lastCandle"]
        assert c.get("/health").json()["dataSource"]["state"] == "ok"
