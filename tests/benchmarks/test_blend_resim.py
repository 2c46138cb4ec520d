"""blend_resim on a small replay ledger: reproduces its served bands, runs a blend."""

from __future__ import annotations

import numpy as np
import pandas as pd

from benchmarks.blend_resim import Variant, baselines, simulate, table
from benchmarks.recalibration_resim import load
from forecasting.blend import BlendSettings
from forecasting.recalibration import RecalibrationSettings
from ledger.records import RecordMeta
from ledger.replay import replay
from ledger.store import Ledger

HOUR = 3600
T0 = 1_760_000_400 // HOUR * HOUR
RECAL = RecalibrationSettings(window=60, min_scored=15, prior=5.0, confidence_window=60)


def _frames(n: int = 200) -> dict[str, pd.DataFrame]:
    index = pd.date_range(pd.Timestamp(T0, unit="s", tz="UTC"), periods=n, freq="1h")
    out = {}
    for k, sym in enumerate(["BTC", "ETH"]):
        close = 100.0 * np.exp(np.cumsum(0.01 * np.random.default_rng(k).standard_normal(n)))
        out[sym] = pd.DataFrame({"close": close, "open": close, "volume": 1.0}, index=index)
    return out


def _narrow(frames: list[pd.DataFrame], horizon: int) -> list[np.ndarray]:
    """Too-narrow random-walk paths, seeded by the last candle."""
    out = []
    for df in frames:
        closes = df["close"].to_numpy()
        rng = np.random.default_rng(int(df.index[-1].timestamp()))
        sigma = 0.5 * np.diff(np.log(closes[-48:])).std()
        out.append(closes[-1] * np.exp(np.cumsum(sigma * rng.standard_normal((32, horizon)), 1)))
    return out


def test_resim_reproduces_the_replay_and_runs_a_blend(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'replay.db'}"
    replay(
        Ledger.open(url),
        _frames(),
        interval="1h",
        start=pd.Timestamp(T0 + 60 * HOUR, unit="s", tz="UTC"),
        end=pd.Timestamp(T0 + 190 * HOUR, unit="s", tz="UTC"),
        every="1h",
        horizon=4,
        forecast_many=_narrow,
        meta_for=lambda s, t: RecordMeta(s, "1h", "replay", "kronos", "narrow", 32, seed=t),
        trend_threshold=0.005,
        context=64,
        settings=RECAL,
        blend=None,
        progress=False,
    )
    s, grid = load(url)
    got = simulate(s, grid, Variant(None, "on", RECAL), 4)
    scored = (s.status == "scored").to_numpy()
    assert scored.sum() > 300
    assert np.array_equal(got.h80[scored], s.hit80[scored])  # the service's path, reproduced
    assert np.array_equal(got.h90[scored], s.hit90[scored])
    blend = simulate(s, grid, Variant(BlendSettings(window=100, min_scored=30), "on", RECAL), 4)
    now = T0 + 190 * HOUR
    rows = table(s, baselines(s, grid), blend, now, 5)
    assert list(rows.symbol) == ["ALL", "BTC", "ETH"]
    assert np.isfinite(rows[["crps/rw", "crps/drift", "mae/naive", "cov80", "ece"]]).all().all()
    raw = table(s, baselines(s, grid), simulate(s, grid, Variant(None, "off", RECAL), 4), now, 5)
    assert raw["crps/raw"].iloc[0] == 1.0  # the model's own grid against itself
    assert rows["crps/rw"].iloc[0] < raw["crps/rw"].iloc[0]  # too narrow: the blend helps
