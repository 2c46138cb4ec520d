"""Re-simulate the rolling recalibration of a replay ledger under other settings (not a test).

Usage, from the repository root:
    python -m benchmarks.recalibration_resim sqlite:////tmp/replay/ledger.db NOW DAYS [VARIANTS]
Reads each replayed forecast's raw quantile grids, raw PITs, trends and realised closes; for each
origin in time order fits the calibration as `Ledger.calibration` does (the newest scored steps
closed by the issue time, per step) and scores the bands and confidence it would have served.
The forecasts are the ledger's own, so a variant costs seconds, not a model replay. With the
settings the ledger was recorded with it reproduces the stored bands and confidences exactly
(printed as "check"). Prints, for the origins in the DAYS before NOW: coverage averaged over the
steps, the worst step's distance from nominal, and the confidence ECE at step 24.
"""

from __future__ import annotations

import sys
import time

import numpy as np
import pandas as pd
from sqlalchemy import create_engine

from forecasting.recalibration import (
    ConfidenceMap,
    PitMap,
    RecalibrationSettings,
    trend_probability,
)
from forecasting.scoring import cdf_from_quantiles, quantiles_at

STEP = 3600


def load(url: str):
    """Steps of the replayed forecasts (with their forecast's fields) and their raw grids."""
    e = create_engine(url)
    f = pd.read_sql(
        "select id, symbol, origin, issued_at, last_close, trend_threshold, drift_mu, drift_sigma"
        " from forecasts"
        " where kind = 'replay' order by origin, id",
        e,
    )
    s = pd.read_sql(
        "select s.forecast_id, s.step, s.closes_at, s.status, s.pit, s.trend, s.realised, s.mean,"
        " s.trend_hit, s.hit80, s.hit90, s.confidence, s.confidence_dist, s.confidence_raw, q.raw"
        " from forecast_steps s join step_quantiles q on q.forecast_id = s.forecast_id"
        " and q.step = s.step",
        e,
    )
    s = s.merge(f, left_on="forecast_id", right_on="id")
    s = s.sort_values(["origin", "forecast_id", "step"]).reset_index(drop=True)
    grid = np.stack([np.frombuffer(b, dtype="<f8") for b in s.pop("raw")])
    return s, grid


def simulate(
    s: pd.DataFrame,
    grid: np.ndarray,
    st: RecalibrationSettings,
    conf_window=None,
    conf_bins=10,
    conf_prior=None,
    horizon=24,
):
    """Served hit80, hit90, confidence, confidence_dist per step row under the settings."""
    n = len(s)
    hit80, hit90 = np.full(n, np.nan), np.full(n, np.nan)
    conf, cdist = np.full(n, np.nan), np.full(n, np.nan)
    scored = (s.status == "scored").to_numpy()
    closes = s.closes_at.to_numpy()
    step = s.step.to_numpy()
    fid = s.forecast_id.to_numpy()
    pit = s.pit.to_numpy()
    thit = s.trend_hit.to_numpy()
    y = s.realised.to_numpy()
    last = s.last_close.to_numpy()
    tau = s.trend_threshold.to_numpy()
    trend = s.trend.to_numpy()
    origin = s.origin.to_numpy()
    craw = s.confidence_raw.to_numpy()
    # per step: order of scored rows by (closes_at, forecast_id)
    per = {}
    for h in range(1, horizon + 1):
        idx = np.where(scored & (step == h) & ~np.isnan(pit))[0]
        idx = idx[np.lexsort((fid[idx], closes[idx]))]
        per[h] = idx
    cw = conf_window or st.confidence_window
    cp = st.prior if conf_prior is None else conf_prior
    for t in np.unique(origin):
        at = t + STEP
        rows_t = np.where(origin == t)[0]
        for h in range(1, horizon + 1):
            idx = per[h]
            k = np.searchsorted(closes[idx], at, side="right")
            mine = rows_t[step[rows_t] == h]
            if not mine.size:
                continue
            g_rows = idx[max(0, k - st.window) : k][::-1]
            q = grid[mine]
            pts = np.stack(
                [last[mine], last[mine] * (1 - tau[mine]), last[mine] * (1 + tau[mine])], 1
            )
            if g_rows.size >= st.min_scored:
                g = PitMap.fit(pit[g_rows], st.prior)
                lv = g.inverse(np.array([0.1, 0.9, 0.05, 0.95]))
                b = quantiles_at(q, lv)
                u = g(cdf_from_quantiles(q[:, None, :], pts))
            else:
                b = quantiles_at(q, np.array([0.1, 0.9, 0.05, 0.95]))
                u = cdf_from_quantiles(q[:, None, :], pts)
                g = None
            b = np.maximum(b, 0.0)
            hit80[mine] = (y[mine] >= b[:, 0]) & (y[mine] <= b[:, 1])
            hit90[mine] = (y[mine] >= b[:, 2]) & (y[mine] <= b[:, 3])
            cd = trend_probability(u[:, 1], u[:, 2], trend[mine])
            cdist[mine] = cd
            c_rows = idx[max(0, k - cw) : k][::-1]
            if g is not None and c_rows.size >= st.min_scored:
                m = ConfidenceMap.fit(cdist[c_rows], thit[c_rows], cp, bins=conf_bins)
                conf[mine] = m(cd)
            elif g is not None:
                conf[mine] = cd
            else:
                conf[mine] = craw[mine]  # an uncalibrated step serves the raw confidence
    sc = ~scored
    hit80[sc] = hit90[sc] = np.nan
    return hit80, hit90, conf, cdist


def report(s, hit80, hit90, conf, now, days=60, label=""):
    """One line: coverage means and worst steps, ECE at step 24, for origins in the window."""
    w = (s.origin >= now - days * 86400) & (s.origin <= now) & (s.status == "scored")
    d = s[w].assign(h80=hit80[w], h90=hit90[w], c=conf[w])
    per = d.groupby("step")[["h80", "h90"]].mean()
    ref = d[d.step == 24]
    b = np.minimum((ref.c * 10).astype(int), 9).clip(0)
    # queries' bucket rule: c >= b/10 (same as floor for these values)
    g = ref.groupby(b)
    ece = sum(len(x) * abs(x.c.mean() - x.trend_hit.mean()) for _, x in g) / len(ref)
    print(
        f"{label:40s} cov80 {per.h80.mean():.4f} worst {per.h80.sub(0.8).abs().max():.4f} "
        f"cov90 {per.h90.mean():.4f} worst {per.h90.sub(0.9).abs().max():.4f} "
        f"ECE {ece:.4f} n24 {len(ref)}"
    )


VARIANTS = {
    "default w500 m50 k5": dict(st=RecalibrationSettings(window=500), conf_window=500),
    "w250": dict(st=RecalibrationSettings(window=250), conf_window=250),
    "w1000": dict(st=RecalibrationSettings(window=1000), conf_window=1000),
    "conf window 2000": dict(st=RecalibrationSettings(window=500), conf_window=2000),
    "conf 5 bins": dict(st=RecalibrationSettings(window=500), conf_window=500, conf_bins=5),
    "conf prior 50": dict(st=RecalibrationSettings(window=500), conf_window=500, conf_prior=50.0),
    "w1000 conf2000": dict(st=RecalibrationSettings(window=1000), conf_window=2000),
    "w1000 conf1000": dict(st=RecalibrationSettings(window=1000), conf_window=1000),
}

if __name__ == "__main__":
    url, now = sys.argv[1], int(pd.Timestamp(sys.argv[2], tz="UTC").timestamp())
    days = float(sys.argv[3])
    names = sys.argv[4].split(",") if len(sys.argv) > 4 else list(VARIANTS)
    t0 = time.time()
    s, grid = load(url)
    keep = (s.origin <= now).to_numpy()
    s, grid = s[keep].reset_index(drop=True), grid[keep]
    print("loaded", len(s), round(time.time() - t0, 1))
    for name in names:
        v = VARIANTS[name]
        h80, h90, c, cd = simulate(
            s, grid, v["st"], v.get("conf_window"), v.get("conf_bins", 10), v.get("conf_prior")
        )
        if name in sys.argv[5:]:  # the ledger's own settings: must reproduce it
            ok = (s.status == "scored").to_numpy()
            print(
                "check vs ledger:",
                np.nanmax(np.abs(h80[ok] - s.hit80[ok])),
                np.nanmax(np.abs(c - s.confidence)),
                np.nanmax(np.abs(cd - s.confidence_dist)),
            )
        report(s, h80, h90, c, now, days, label=name)
        print("   ", round(time.time() - t0, 1), "s", flush=True)
