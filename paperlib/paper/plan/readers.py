"""What the plan reads off a set of runs: one run's noise (a pooled SD with its df) and the
conditions the rules will meet (each curve's share of diverged runs, the correlation between a
range test's neighbouring evaluations, the test images' disagreement a claims table measured).

Separate because these readers know the saved figures' layout (a figure's <figure>.json and
<figure>.csv as notebook.save_results writes them, a notebook's <notebook>_claims.csv as
notebook.write_claims writes it), which the designs (designs.py) and the pilot (pilot.py) share
and the simulations below them do not need.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from .. import claims as C
from ..profiles import runs_for, scale_for


def committed(figures_dir: Path, figure: str) -> tuple[pd.DataFrame, pd.DataFrame, dict] | None:
    """(tidy metrics, run rows, JSON) of a saved figure, or None."""
    base = Path(figures_dir) / figure
    if not base.with_suffix(".json").exists() or not base.with_suffix(".csv").exists():
        return None
    data = json.loads(base.with_suffix(".json").read_text())
    return pd.read_csv(base.with_suffix(".csv")), pd.DataFrame(data["runs"]), data


def pooled_sd(values: pd.Series, groups: pd.Series) -> tuple[float, int] | None:
    """The pooled within-group SD, sqrt(sum (n_i - 1) s_i^2 / sum (n_i - 1)), and its df; None
    without a group of 2."""
    frame = pd.DataFrame({"v": values.astype(float).to_numpy(), "g": groups.to_numpy()})
    stats = frame.dropna().groupby("g")["v"].agg(["var", "size"])
    stats = stats[stats["size"] >= 2]
    df = int((stats["size"] - 1).sum())
    if not df:
        return None
    return math.sqrt(float(((stats["size"] - 1) * stats["var"]).sum()) / df), df


def _completed(runs):
    return runs[runs["status"] == "completed"]


def final(column: str, *, leave_out: tuple | None = None) -> Callable:
    """A reader of the pooled SD of `column` by curve over the completed runs; `leave_out`:
    (column, value) of a curve kept out (Fig 5b's WD 1e-3, whose collapse is its own claim and
    whose spread is not a trained run's)."""
    def read(metrics, runs):
        done = _completed(runs)
        what = f"pooled SD of {column} by curve"
        if leave_out is not None and leave_out[0] in done:
            done = done[~np.isclose(done[leave_out[0]].astype(float), leave_out[1])]
            what += f" (curve {leave_out[0]} {leave_out[1]:g} left out)"
        return pooled_sd(done[column], done["curve"]), what
    return read


def readings(metrics, runs):
    got, k, problem = C.last_k_readings(metrics, runs)
    if problem:
        return None, problem
    got = got[got["status"] == "completed"]
    return (pooled_sd(got["reading"], got["tbs"]),
            f"pooled SD of final accuracy (mean of the last {k} evaluations) by TBS")


def window(metrics, runs):
    (_, lo, hi), = C.WINDOWS["fig15a"]
    test = metrics[(metrics["split"] == "test") & (metrics["lr"] >= lo) & (metrics["lr"] < hi)]
    per_sweep = test.groupby(["wd", "replicate"])["loss"].mean().reset_index()
    return (pooled_sd(per_sweep["loss"], per_sweep["wd"]),
            f"pooled SD of each sweep's mean loss at lr {lo:g}-{hi:g} by WD")


def white_scatter(loss) -> tuple[float, int]:
    d2 = np.diff(np.asarray(loss, float), 2)
    return math.sqrt(float(np.mean(d2 * d2)) / 6), max(1, len(d2) // 3)


def _dip_span(metrics):
    windows = C.WINDOWS["fig1a_dip"]
    lo, hi = windows[0][1], windows[-1][2]
    test = metrics[(metrics["split"] == "test") & (metrics["curve"] == "LR range 0-0.4")
                   & (metrics["lr"] >= lo) & (metrics["lr"] < hi)]
    return test, lo, hi


def dip(metrics, runs):
    """One evaluation's SD in the dip's windows: between sweeps at each evaluation where there
    are several, else one sweep's scatter by its second differences."""
    test, lo, hi = _dip_span(metrics)
    if test["replicate"].nunique() >= 2:
        return (pooled_sd(test["loss"], test["step"]),
                f"pooled SD between sweeps at each evaluation, lr {lo:g}-{hi:g}")
    if len(test) < 5:
        return None, f"fewer than 5 evaluations at lr {lo:g}-{hi:g}"
    return (white_scatter(test.sort_values("step")["loss"]),
            f"one sweep's scatter by second differences, lr {lo:g}-{hi:g}")


def dip_rho(metrics) -> tuple[float, str] | None:
    """The lag-1 correlation between neighbouring evaluations of the dip's sweeps, from their
    departures from the mean over sweeps at each evaluation (pooled over sweeps, lr in the dip's
    windows); None with fewer than 2 sweeps or 5 evaluations."""
    test, lo, hi = _dip_span(metrics)
    if test["replicate"].nunique() < 2:
        return None
    table = test.pivot_table(index="step", columns="replicate", values="loss").dropna()
    if len(table) < 5:
        return None
    resid = (table - table.mean(axis=1).to_numpy()[:, None]).to_numpy()
    rho = float(np.sum(resid[1:] * resid[:-1]) / np.sum(resid * resid))
    return rho, (f"the lag-1 correlation of {table.shape[1]} sweeps' departures from their mean, "
                 f"lr {lo:g}-{hi:g}")


def divergence(runs, curves: tuple) -> tuple | None:
    """Each curve's share of runs that diverged or were stopped, in the order of `curves`
    ((column, keys)); None where a curve has no run."""
    column, keys = curves
    if column not in runs:
        return None
    bad = runs["status"].isin(["diverged", "stopped"])
    out = []
    for key in keys:
        mine = (np.isclose(runs[column].astype(float), float(key)) if not isinstance(key, str)
                else runs[column].astype(str) == key)
        if not mine.any():
            return None
        out.append(float(bad[mine].mean()))
    return tuple(out)


def claims_images(directory: Path) -> dict:
    """{claim key: the test images' disagreement per curve} from the `images` column of the
    <notebook>_claims.csv files in `directory` (claims rows with per-image records), where
    finite."""
    out = {}
    for path in sorted(Path(directory).glob("*_claims.csv")):
        table = pd.read_csv(path)
        if "images" not in table or "key" not in table:
            continue
        for key, value in zip(table["key"], table["images"]):
            if isinstance(value, (int, float)) and math.isfinite(value):
                out[str(key)] = float(value)
    return out


def smith_fig1a() -> tuple:
    sd, df = white_scatter(C.SMITH_FIG1A_LOSS)
    return (sd, "the scatter of Smith's own Fig 1a curve at lr <= 0.1 by second differences "
                "(figs/fig1a.png), one curve", df)


def eval_lrs(figure: str, profile: str, curve: int) -> np.ndarray:
    """The lrs at which a profile's range test of `figure` is evaluated."""
    spec = runs_for(figure, profile)[curve]
    every = scale_for(figure, profile).eval_every
    steps = list(range(every, spec.steps + 1, every))
    if steps[-1] != spec.steps:
        steps.append(spec.steps)
    lo, hi = spec.schedule["lr_min"], spec.schedule["lr_max"]
    return lo + (hi - lo) * (np.array(steps) - 1) / (spec.steps - 1)


def dip_cut(profile: str) -> str | None:
    lrs = eval_lrs("fig1a", profile, 0)
    empty = [name for name, a, b in C.WINDOWS["fig1a_dip"] if not ((lrs >= a) & (lrs < b)).any()]
    return (None if not empty else f"{C.NOT_TESTABLE}: this profile's 0-0.4 sweep has no "
            f"evaluation in the window(s) {', '.join(empty)} of claims_fig1a")
