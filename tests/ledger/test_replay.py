"""Replay: no look-ahead (altered future candles change nothing before them), resumable."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from ledger_helpers import HOUR, T0
from sqlalchemy import select

from forecasting.blend import BlendSettings
from forecasting.recalibration import RecalibrationSettings
from ledger.models import ForecastRow, StepRow
from ledger.records import RecordMeta
from ledger.replay import origins, replay
from ledger.store import Ledger

SETTINGS = RecalibrationSettings(window=60, min_scored=15, prior=5.0)
SCORE_COLUMNS = {"status", "scored_at", "realised", "abs_error", "pct_error", "crps", "crps_raw"}
SCORE_COLUMNS |= {"pit", "hit80", "hit90", "hit80_raw", "hit90_raw", "direction_hit", "trend_hit"}
SCORE_COLUMNS |= {"naive_crps", "naive_mae", "drift_crps", "drift_mae", "pit_blend", "mae_raw"}
SCORE_COLUMNS |= {"direction_hit_raw", "drift_hit80", "drift_hit90", "drift_direction_hit"}
SCORE_COLUMNS |= {"rw_crps", "rw_mae", "rw_hit80", "rw_hit90", "rw_direction_hit"}


def _frames(n: int = 260) -> dict[str, pd.DataFrame]:
    """Hourly random-walk candles for two symbols."""
    index = pd.date_range(pd.Timestamp(T0, unit="s", tz="UTC"), periods=n, freq="1h")
    out = {}
    for k, sym in enumerate(["BTC", "ETH"]):
        rng = np.random.default_rng(k)
        close = 100.0 * np.exp(np.cumsum(0.01 * rng.standard_normal(n)))
        out[sym] = pd.DataFrame({"close": close, "open": close, "volume": 1.0}, index=index)
    return out


def cheap_forecaster(frames: list[pd.DataFrame], horizon: int) -> list[np.ndarray]:
    """Too-narrow random-walk paths, seeded by each input's last candle (deterministic)."""
    out = []
    for df in frames:
        closes = df["close"].to_numpy()
        sigma = np.diff(np.log(closes[-48:])).std() * 0.5
        seed = int(df.index[-1].timestamp()) + int(closes[-1] * 1000)
        rng = np.random.default_rng(seed)
        out.append(closes[-1] * np.exp(np.cumsum(sigma * rng.standard_normal((32, horizon)), 1)))
    return out


def _meta(symbol: str, origin: int) -> RecordMeta:
    return RecordMeta(symbol, "1h", "replay", "kronos", "cheap", 32, seed=origin)


BLEND = BlendSettings(window=60, min_scored=15, prior=10.0)


def _run(ledger: Ledger, frames, start: int, end: int, blend: BlendSettings | None = None):
    return replay(
        ledger,
        frames,
        interval="1h",
        start=pd.Timestamp(start, unit="s", tz="UTC"),
        end=pd.Timestamp(end, unit="s", tz="UTC"),
        every="2h",
        horizon=4,
        forecast_many=cheap_forecaster,
        meta_for=_meta,
        trend_threshold=0.005,
        context=64,
        settings=SETTINGS,
        blend=blend,
        progress=False,
    )


def _table(ledger: Ledger) -> pd.DataFrame:
    stmt = select(ForecastRow, StepRow).join(StepRow, StepRow.forecast_id == ForecastRow.id)
    with ledger.engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(stmt)]
    df = pd.DataFrame(rows).drop(columns=["id", "uid", "forecast_id"])
    return df.sort_values(["symbol", "origin", "step"]).reset_index(drop=True)


START, END = T0 + 60 * HOUR, T0 + 250 * HOUR


@pytest.mark.parametrize("blend", [None, BLEND], ids=["blend-off", "blend-on"])
def test_altered_future_candles_change_nothing_before_them(tmp_path, blend) -> None:
    frames = _frames()
    cut = pd.Timestamp(T0 + 160 * HOUR, unit="s", tz="UTC")
    altered = {s: df.copy() for s, df in frames.items()}
    for df in altered.values():
        df.loc[df.index > cut, "close"] *= 1.3  # a different future
    a, b = (
        Ledger.open(f"sqlite:///{tmp_path / 'a.db'}"),
        Ledger.open(f"sqlite:///{tmp_path / 'b.db'}"),
    )
    _run(a, frames, START, END, blend)
    _run(b, altered, START, END, blend)
    ta, tb = _table(a), _table(b)
    assert ta["calibrated"].any(), "the calibration never kicked in: the test would be vacuous"
    blended = ta["blend"].map(lambda info: bool(info and info["weights"]))
    assert blended.any() == (blend is not None), "the blend never kicked in (or was not off)"
    early = ta["origin"] <= cut.timestamp()
    served = [c for c in ta.columns if c not in SCORE_COLUMNS]
    pd.testing.assert_frame_equal(ta.loc[early, served], tb.loc[early, served])
    realised_early = ta["candle_open"] <= cut.timestamp()
    pd.testing.assert_frame_equal(
        ta.loc[realised_early, sorted(SCORE_COLUMNS - {"scored_at"})],
        tb.loc[realised_early, sorted(SCORE_COLUMNS - {"scored_at"})],
    )
    late = ~early
    assert not np.allclose(ta.loc[late, "mean"], tb.loc[late, "mean"])  # the future did differ


def test_calibration_at_an_origin_counts_only_steps_realised_by_then(tmp_path) -> None:
    ledger = Ledger.open(f"sqlite:///{tmp_path / 'l.db'}")
    _run(ledger, _frames(), START, END)
    table = _table(ledger)
    for (_, origin), info in table.groupby(["symbol", "origin"])["calibration"].first().items():
        issued = origin + HOUR
        realised = table[(table.closes_at <= issued) & (table.step == 1)].drop_duplicates(
            ["symbol", "origin"]
        )
        assert info["scored"] <= min(len(realised), SETTINGS.window)


def test_replay_resumes_where_it_stopped(tmp_path) -> None:
    frames = _frames()
    whole = Ledger.open(f"sqlite:///{tmp_path / 'whole.db'}")
    _run(whole, frames, START, END)
    parts = Ledger.open(f"sqlite:///{tmp_path / 'parts.db'}")
    first = _run(parts, frames, START, T0 + 150 * HOUR)
    second = _run(parts, frames, START, END)  # re-run over the whole range
    assert second.skipped == 2 * first.origins
    assert first.recorded + second.recorded == 2 * len(
        origins(pd.Timestamp(START, unit="s"), pd.Timestamp(END, unit="s"), "2h", HOUR)
    )
    ta, tb = _table(whole), _table(parts)
    served = [c for c in ta.columns if c not in SCORE_COLUMNS | {"issued_at"}]
    pd.testing.assert_frame_equal(ta[served], tb[served])


def test_cadence_must_fit_the_interval() -> None:
    with pytest.raises(ValueError):
        origins(pd.Timestamp(T0, unit="s"), pd.Timestamp(T0 + 10 * HOUR, unit="s"), "90min", HOUR)
    assert origins(
        pd.Timestamp(T0 + 1, unit="s"), pd.Timestamp(T0 + 7 * HOUR, unit="s"), "3h", HOUR
    ) == [
        T0 + HOUR,
        T0 + 4 * HOUR,
        T0 + 7 * HOUR,
    ]
