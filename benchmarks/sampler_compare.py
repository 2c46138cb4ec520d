"""Compare a replay ledger recorded under other sampler settings with the baseline one (not a test).

Usage, from the repository root:
    python -m benchmarks.sampler_compare BASE_URL VARIANT_URL BEFORE [WARMUP]
    python -m benchmarks.sampler_compare grid BASE_URL BEFORE
Both ledgers are replays of the same model with the blend off (LEDGER_BLEND=off), so a step's
`mean` and raw grid are the model's own; seeds are fixed by symbol, interval and origin, so the
same (symbol, origin) draws the same uniforms in both. Only (symbol, origin, step) scored in both
with origins before BEFORE are compared. Prints per symbol and ALL the variant / base ratios of
the raw grid's mean CRPS and of the MAE of the mean, the share of forecasts whose CRPS (summed
over steps) the variant lowers, the raw 80% coverage of each, and the served (calibrated,
`benchmarks.blend_resim` "model calibrated (today)") CRPS ratio, re-simulated on the common rows
only, reported for origins from WARMUP on (default: the common window's first 14 days are
warm-up for the calibration).
`grid`: on the base ledger's scored steps before BEFORE, the random walk's mean CRPS in closed
form against the same distribution scored on quantile grids of several resolutions, and the
stored 99-level grids (random walk, model raw) read at 999 levels (`scoring.quantiles_at`, the
grid's own interpolation and tails) against the 99-level score.
"""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd

from benchmarks.blend_resim import VARIANTS, simulate
from benchmarks.recalibration_resim import load
from forecasting import scoring as sc

KEY = ["symbol", "origin", "step"]
BAND80 = (9, 89)  # grid columns of the 10% and 90% levels


def common(base_url: str, variant_url: str, before: int):
    """Both ledgers' scored steps on their common (symbol, origin, step), same row order."""
    out = []
    for url in (base_url, variant_url):
        s, grid = load(url)
        ok = ((s.status == "scored") & (s.origin < before)).to_numpy()
        out.append((s[ok].reset_index(drop=True), grid[ok]))
    keys = out[0][0][KEY].merge(out[1][0][KEY], on=KEY).sort_values(["origin", "symbol", "step"])
    aligned = []
    for s, grid in out:
        pos = keys.merge(s.reset_index()[[*KEY, "index"]], on=KEY, how="left")["index"].to_numpy()
        aligned.append((s.iloc[pos].reset_index(drop=True), grid[pos]))
    return aligned


def scores(s: pd.DataFrame, grid: np.ndarray) -> pd.DataFrame:
    """Per step row: raw CRPS, absolute error of the mean, raw 80% hit, served CRPS."""
    y = s.realised.to_numpy(float)
    served = simulate(s, grid, VARIANTS["model calibrated (today)"], int(s.step.max()))
    return pd.DataFrame(
        {
            "crps": sc.crps_quantiles(grid, y),
            "ae": np.abs(s["mean"].to_numpy(float) - y),
            "h80": sc.band_hit(grid[:, BAND80[0]], grid[:, BAND80[1]], y),
            "served": served.crps.to_numpy(),
        }
    )


def interval(num: np.ndarray, den: np.ndarray, draws: int = 1000) -> np.ndarray:
    """A 90% interval of sum(num) / sum(den): origins resampled with replacement."""
    pick = np.random.default_rng(0).integers(0, num.size, (draws, num.size))
    return np.quantile(num[pick].sum(1) / den[pick].sum(1), [0.05, 0.95])


def compare(base_url: str, variant_url: str, before: int, warmup: int | None) -> pd.DataFrame:
    """One row per symbol and ALL: variant / base ratios and raw coverages."""
    (s, g0), (sv, g1) = common(base_url, variant_url, before)
    a, b = scores(s, g0), scores(sv, g1)
    start = warmup if warmup is not None else int(s.origin.min()) + 14 * 86400
    late = (s.origin >= start).to_numpy()
    rows = []
    for name, idx in [("ALL", s.index), *s.groupby("symbol").groups.items()]:
        i = np.asarray(idx)
        per = pd.DataFrame({"o": s.origin[i], "a": a.crps[i], "b": b.crps[i]}).groupby("o").sum()
        j = i[late[i]]
        srv = (
            pd.DataFrame({"o": s.origin[j], "a": a.served[j], "b": b.served[j]}).groupby("o").sum()
        )
        rows.append(
            {
                "symbol": name,
                "origins": len(per),
                "crps raw v/b": b.crps[i].mean() / a.crps[i].mean(),
                "90% CI": "{:.3f}-{:.3f}".format(*interval(per.b.to_numpy(), per.a.to_numpy())),
                "mae v/b": b.ae[i].mean() / a.ae[i].mean(),
                "v wins": (per.b < per.a).mean(),
                "cov80 raw b": a.h80[i].mean(),
                "cov80 raw v": b.h80[i].mean(),
                "crps served v/b": b.served[j].mean() / a.served[j].mean(),
                "served 90% CI": "{:.3f}-{:.3f}".format(
                    *interval(srv.b.to_numpy(), srv.a.to_numpy())
                ),
            }
        )
    return pd.DataFrame(rows)


def grid_cost(url: str, before: int) -> pd.DataFrame:
    """CRPS of the random walk on K-level grids / closed form; stored grids read at 999 levels."""
    s, model = load(url)
    ok = ((s.status == "scored") & (s.origin < before)).to_numpy()
    s, model = s[ok], model[ok]
    y, last = s.realised.to_numpy(float), s.last_close.to_numpy(float)
    m, sd = sc.random_walk_distribution(last, s.drift_sigma.to_numpy(float), s.step.to_numpy())
    exact = sc.crps_lognormal(m, sd, y).mean()
    fine = np.round(np.arange(1, 1000) / 1000, 6)
    rows = [("random walk", "closed form", 1.0)]
    for k in (19, 49, 99, 199, 999):
        lv = np.round(np.arange(1, k + 1) / (k + 1), 6)
        got = sc.crps_quantiles(sc.lognormal_quantiles(m, sd, lv), y, lv).mean()
        rows.append(("random walk", f"{k} levels", got / exact))
    rw99 = sc.quantiles_at(sc.lognormal_quantiles(m, sd), fine)
    rows.append(("random walk", "99 read at 999", sc.crps_quantiles(rw99, y, fine).mean() / exact))
    raw = sc.crps_quantiles(model, y).mean()
    read = sc.crps_quantiles(sc.quantiles_at(model, fine), y, fine).mean()
    rows += [("model raw", "99 levels", 1.0), ("model raw", "99 read at 999", read / raw)]
    out = pd.DataFrame(rows, columns=["distribution", "scored on", "crps / reference"])
    return out.assign(steps=len(s))


def main(argv: list[str]) -> None:
    """`grid URL BEFORE` or `BASE VARIANT BEFORE [WARMUP]`: print the table."""
    at = lambda d: int(pd.Timestamp(d, tz="UTC").timestamp())  # noqa: E731
    if argv[0] == "grid":
        out = grid_cost(argv[1], at(argv[2]))
    else:
        out = compare(argv[0], argv[1], at(argv[2]), at(argv[3]) if len(argv) > 3 else None)
    print(out.to_string(index=False, float_format="{:.4f}".format))


if __name__ == "__main__":
    main(sys.argv[1:])
