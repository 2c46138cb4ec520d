"""Fixtures of the ledger-in-the-API tests: a small slice of the shared candles."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from tests.forecast_api.ledger_side.live_helpers import START, SYMBOLS


@pytest.fixture
def candles(ohlcv_dir: Path) -> dict[str, pd.DataFrame]:
    """The first START + 40 hourly candles of each symbol (a small slice of the shared data)."""
    return {s: pd.read_csv(ohlcv_dir / f"{s}_1h.csv", nrows=START + 40) for s in SYMBOLS}
