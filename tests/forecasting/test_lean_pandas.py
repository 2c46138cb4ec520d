"""pandas without pyarrow (what `service.py` sets up first): nothing loads pyarrow until a
parquet file is read, and the files source still reads CSV and parquet candles."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = """
import asyncio, sys
import forecasting.lean_pandas
import pandas as pd
from data_sources import DEFAULT_ASSETS, AssetRegistry, FilesSource
assert "pyarrow" not in sys.modules
folder = sys.argv[1]
csv = pd.read_csv(sys.argv[2])
assert "pyarrow" not in sys.modules
source = FilesSource(folder, AssetRegistry(DEFAULT_ASSETS))
btc = asyncio.run(source.candles("BTC", limit=10))
assert "pyarrow" not in sys.modules
csv.tail(50).to_parquet(f"{folder}/ETH_1h.parquet", index=False)
eth = asyncio.run(source.candles("ETH", limit=10))
assert len(btc) == len(eth) == 10 and eth["close"].iloc[-1] == csv["close"].iloc[-1]
print("ok")
"""


def test_pyarrow_is_loaded_only_for_parquet(ohlcv_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "BTC_1h.csv").symlink_to(ohlcv_dir / "BTC_1h.csv")
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path), str(ohlcv_dir / "ETH_1h.csv")],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]
