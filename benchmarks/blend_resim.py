"""Re-simulate the served blend + calibration of a replay ledger under named variants (not a test).

Usage, from the repository root:
    python -m benchmarks.blend_resim sqlite:///LEDGER.db NOW[,NOW] DAYS[,DAYS] [VARIANTS]
Reads the replayed forecasts' raw grids, means, drift (mu, sigma) and realised closes
(`benchmarks.recalibration_resim.load`; a ledger replayed with LEDGER_BLEND=off or before the
blend, so `mean` is the model's). Origin by origin in time order, with no look-ahead (only steps
closed by the issue time t + 1h), as `ledger.blending.fit_served` does: fits the blend
(`forecasting.blend.fit_blend`) on the newest scored rows, serves the blend of the model's grid
with the closed-form baselines, fits the calibration on the PITs of what it served before, and
scores the result. Prints, for origins in the DAYS before each NOW, ALL and per symbol:
CRPS served / random walk, / drift, / naive, / the model's raw grid; MAE (of the served point
forecast) / naive; 80% and 90% coverage averaged over steps and the worst step's distance from
nominal; the confidence ECE at the last step (ten buckets of P(stated trend) after the
confidence map).
Calibration per variant: "on" (the service), "off", or "gated" (per symbol and step, calibrated
only where, over the window, calibration lowered that symbol's CRPS).
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from benchmarks.recalibration_resim import STEP, load
from forecasting import scoring as sc
from forecasting.blend import (
    MODEL,
    BlendSettings,
    baseline_grids,
    baseline_points,
    fit_blend,
    fit_inputs,
)
from forecasting.recalibration import (
    BLEND_SETTINGS,
    DEFAULT_SETTINGS,
    ConfidenceMap,
    PitMap,
    RecalibrationSettings,
    calibrated_cdf,
    calibrated_quantiles,
    trend_probability,
)
from ledger.records import step_trends

BANDS = np.array([0.1, 0.9, 0.05, 0.95])
RATIOS = ("rw", "drift", "naive", "raw")


@dataclass(frozen=True)
class Variant:
    """A blend setting (None: the model alone) and how the calibration is applied."""

    blend: BlendSettings | None
    calibrate: str = "on"  # on | off | gated
    recal: RecalibrationSettings | None = None  # None: the blend's own, or the model's default

    def calibration(self) -> RecalibrationSettings:
        """The calibration settings this variant applies."""
        if self.recal is not None:
            return self.recal
        return DEFAULT_SETTINGS if self.blend is None else self.blend.calibration


VARIANTS = {
    "model calibrated": Variant(None),
    "model raw": Variant(None, "off"),
    "blend": Variant(BlendSettings()),
    "blend uncalibrated": Variant(BlendSettings(), "off"),
    "blend gated": Variant(BlendSettings(), "gated"),
    "blend w500": Variant(BlendSettings(window=500)),
    "blend no shrink/smooth": Variant(BlendSettings(prior=0.0, smooth=0.0)),
    "blend with drift": Variant(BlendSettings(components=(MODEL, "random_walk", "drift"))),
    "blend (model's calibration settings)": Variant(BlendSettings(), recal=DEFAULT_SETTINGS),
    "blend (calibration prior 1000)": Variant(
        BlendSettings(), recal=replace(BLEND_SETTINGS, prior=1e3)
    ),
    "blend (calibration prior 4000)": Variant(
        BlendSettings(), recal=replace(BLEND_SETTINGS, prior=4e3)
    ),
}


def _window(order: np.ndarray, closes: np.ndarray, at: int, size: int) -> np.ndarray:
    """The newest `size` rows of `order` (sorted by close) closed by `at`, newest first."""
    k = int(np.searchsorted(closes[order], at, side="right"))
    return order[max(0, k - size) : k][::-1]


def simulate(s: pd.DataFrame, grid: np.ndarray, v: Variant, horizon: int) -> pd.DataFrame:
    """Per step row: served CRPS and mean, band hits, confidence and trend hit under `v`."""
    n = len(s)
    col = {c: s[c].to_numpy() for c in s.columns}
    y, last, step = col["realised"].astype(float), col["last_close"], col["step"]
    mu, sigma, tau = col["drift_mu"], col["drift_sigma"], col["trend_threshold"]
    scored = (col["status"] == "scored") & np.isfinite(y)
    out = {k: np.full(n, np.nan) for k in ("crps", "mean", "h80", "h90", "conf", "thit", "cd")}
    pit, pre, cal = np.full(n, np.nan), np.full(n, np.nan), np.full(n, np.nan)
    rc = v.calibration()
    per, fit = {}, {}
    for h in range(1, horizon + 1):
        idx = np.where(scored & (step == h))[0]
        per[h] = idx[np.lexsort((col["forecast_id"][idx], col["closes_at"][idx]))]
        if v.blend is not None:
            r = per[h]
            comps = v.blend.components
            fit[h] = fit_inputs(y[r], last[r], mu[r], sigma[r], h, {MODEL: grid[r]}, comps)
            fit[h] = (fit[h][0], fit[h][1], {j: i for i, j in enumerate(r)})
    starts = np.flatnonzero(np.r_[True, np.diff(col["origin"]) != 0])
    for a, b in zip(starts, np.r_[starts[1:], n], strict=True):
        at = int(col["origin"][a]) + STEP
        blend = None
        if v.blend is not None:
            rows = {}
            for h in range(1, horizon + 1):
                w = _window(per[h], col["closes_at"], at, v.blend.window)
                pos = [fit[h][2][j] for j in w]
                rows[h] = (fit[h][0][pos], fit[h][1][pos])
            blend = fit_blend(rows, horizon, v.blend)
        for h in range(1, horizon + 1):
            mine = np.arange(a, b)[step[a:b] == h]
            if not mine.size:
                continue
            base, mean = grid[mine], col["mean"][mine].astype(float)
            w = None if blend is None else blend.weights(h)
            if w is not None:
                grids = {MODEL: base, **baseline_grids(last[mine], mu[mine], sigma[mine], h)}
                means = {MODEL: mean, **baseline_points(last[mine], mu[mine], sigma[mine], h)}
                base = sum(w[c] * grids[c] for c in w)
                mean = sum(w[c] * means[c] for c in w)
            recent = _window(per[h], col["closes_at"], at, max(rc.window, rc.confidence_window))
            g_rows = recent[: rc.window]
            g = None
            if v.calibrate != "off" and np.isfinite(pit[g_rows]).sum() >= rc.min_scored:
                g = PitMap.fit(pit[g_rows][np.isfinite(pit[g_rows])], rc.prior)
            maps = [g] * mine.size
            if v.calibrate == "gated" and g is not None:
                for i, row in enumerate(mine):
                    same = g_rows[col["symbol"][g_rows] == col["symbol"][row]]
                    if same.size and np.nanmean(cal[same]) > np.nanmean(pre[same]):
                        maps[i] = None
            served = calibrated_quantiles(base, sc.QUANTILE_LEVELS, maps)
            bands = calibrated_quantiles(base, BANDS, maps)
            trend = step_trends(mean, last[mine], tau[mine])
            pts = np.stack([last[mine] * (1 - tau[mine]), last[mine] * (1 + tau[mine])], 1)
            u = calibrated_cdf(base, pts, maps)
            cd = trend_probability(u[:, 0], u[:, 1], trend)
            conf = cd.copy()
            pairs = recent[: rc.confidence_window]
            pairs = pairs[np.isfinite(out["cd"][pairs])]
            if g is not None and pairs.size >= rc.min_scored:
                m = ConfidenceMap.fit(out["cd"][pairs], out["thit"][pairs], rc.confidence_prior)
                on = np.array([mp is not None for mp in maps])
                conf = np.where(on, m(cd), cd)
            ok = scored[mine]
            yy = y[mine][ok]
            cal_grid = calibrated_quantiles(base, sc.QUANTILE_LEVELS, [g] * mine.size)
            pit[mine[ok]] = sc.cdf_from_quantiles(base[ok], yy)
            pre[mine[ok]] = sc.crps_grid(base[ok], yy)
            cal[mine[ok]] = sc.crps_grid(cal_grid[ok], yy)
            out["crps"][mine[ok]] = sc.crps_grid(served[ok], yy)
            out["h80"][mine[ok]] = sc.band_hit(bands[ok, 0], bands[ok, 1], yy)
            out["h90"][mine[ok]] = sc.band_hit(bands[ok, 2], bands[ok, 3], yy)
            out["thit"][mine[ok]] = sc.trend_hit(trend[ok], yy, last[mine][ok], tau[mine][ok])
            out["cd"][mine[ok]] = cd[ok]
            out["mean"][mine], out["conf"][mine] = mean, conf
    return pd.DataFrame(out, index=s.index)


def baselines(s: pd.DataFrame, grid: np.ndarray) -> pd.DataFrame:
    """Per step row: CRPS of the random walk, drift (closed form), naive and the model's grid."""
    y, last, h = s.realised.to_numpy(float), s.last_close.to_numpy(), s.step.to_numpy(float)
    mu, sigma = s.drift_mu.to_numpy(), s.drift_sigma.to_numpy()
    ok = np.isfinite(y)
    yy = np.where(ok, y, last)
    return pd.DataFrame(
        {
            "rw": sc.crps_lognormal(*sc.random_walk_distribution(last, sigma, h), yy),
            "drift": sc.crps_lognormal(*sc.drift_distribution(last, mu, sigma, h), yy),
            "naive": np.abs(yy - last),
            "raw": sc.crps_grid(grid, yy),
        },
        index=s.index,
    ).where(pd.Series(ok, index=s.index), axis=0)


def table(s: pd.DataFrame, base: pd.DataFrame, got: pd.DataFrame, now: int, days: float):
    """One row per symbol (and ALL) of the window's ratios, coverage and ECE."""
    w = (s.origin >= now - days * 86400) & (s.origin <= now) & got.crps.notna()
    d = pd.concat([s[["symbol", "step", "realised", "last_close"]], base, got], axis=1)[w]
    last_step = int(s.step.max())
    out = []
    for name, g in [("ALL", d), *d.groupby("symbol")]:
        per = g.groupby("step")[["h80", "h90"]].mean()
        ref = g[g.step == last_step]
        bucket = np.minimum((ref.conf * 10).astype(int), 9)
        ece = sum(len(x) * abs(x.conf.mean() - x.thit.mean()) for _, x in ref.groupby(bucket))
        mae = (g["mean"] - g.realised).abs().mean() / (g.last_close - g.realised).abs().mean()
        out.append(
            {
                "symbol": name,
                "n": len(g),
                **{
                    f"crps/{k}": g.crps.mean() / g[k].mean()
                    for k in ("rw", "drift", "naive", "raw")
                },
                "mae/naive": mae,
                "cov80": per.h80.mean(),
                "worst80": per.h80.sub(0.8).abs().max(),
                "cov90": per.h90.mean(),
                "worst90": per.h90.sub(0.9).abs().max(),
                "ece": ece / max(len(ref), 1),
            }
        )
    return pd.DataFrame(out)


def main(argv: list[str]) -> None:
    """Load once, simulate every named variant, print its table."""
    url = argv[0]
    nows = [int(pd.Timestamp(t, tz="UTC").timestamp()) for t in argv[1].split(",")]
    windows = list(zip(nows, [float(d) for d in argv[2].split(",")], strict=True))
    names = argv[3].split(",") if len(argv) > 3 else list(VARIANTS)
    if unknown := [n for n in names if n not in VARIANTS]:
        raise SystemExit(f"unknown variants {unknown}; choose from {list(VARIANTS)}")
    t0 = time.time()
    s, grid = load(url)
    keep = (s.origin <= max(nows)).to_numpy()
    s, grid = s[keep].reset_index(drop=True), grid[keep]
    horizon = int(s.step.max())
    base = baselines(s, grid)
    print(f"loaded {len(s)} steps in {time.time() - t0:.1f}s")
    for name in names:
        got = simulate(s, grid, VARIANTS[name], horizon)
        for now, days in windows:
            stamp = pd.Timestamp(now, unit="s", tz="UTC").isoformat()
            print(f"\n## {name}: {days:g} days to {stamp} ({time.time() - t0:.0f}s)")
            frame = table(s, base, got, now, days)
            print(frame.to_string(index=False, float_format="{:.3f}".format))


if __name__ == "__main__":
    main(sys.argv[1:])
