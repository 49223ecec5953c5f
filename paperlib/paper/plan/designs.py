"""Each claim as a design: Smith's effect with its source, how to read one run's noise for a
profile, and how to draw sets of runs through its rule (DESIGNS, `design`).

Separate because this is where the plan meets the paper and our committed runs: Smith's numbers
read off his figures, and readers of figures/*.json that pool our replicates' spread. The
simulations below it (simulate.py) know no claim, and the table above it (table.py) only asks each
design for its noise and its draws.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from ...errors import ConfigError
from .. import claims as C
from ..profiles import eval_subset_for, runs_for, scale_for
from .simulate import (simulate_below, simulate_best, simulate_gap, simulate_order,
                       simulate_slope, simulate_tost, simulate_turn, stated_error)

# Smith's Fig 1a test loss (paper/figs/fig1a.png, blue curve), read by pixel colour at each
# evaluation lr = 0.004 k, k = 2..25 (the first, at 0.004, is hidden by the figure's box).
SMITH_FIG1A_LR = tuple(0.004 * k for k in range(2, 26))
SMITH_FIG1A_LOSS = (1.320, 1.107, 1.032, 1.013, 1.125, 1.324, 1.471, 1.523, 1.558, 1.543, 1.563,
                    1.553, 1.553, 1.538, 1.533, 1.533, 1.485, 1.371, 1.358, 1.367, 1.429, 1.363,
                    1.295, 1.270)
# Smith's Fig 15a minima as the rule reads them: 3-point-smoothed validation loss at its lowest
# (paper/figs/fig15a.png, read by pixel colour at the 22 evaluations, lr 0.175 + 0.0375 k).
SMITH_FIG15A_MIN = {1e-4: 1.828, 1e-5: 1.836, 3e-4: 1.881}
# Smith's Table 1 row of Fig 8b's TBS-512 run, 1cycle 0.08-0.8 with CM 0.95-0.85: 92.0 ± 0.2 %
# (SETTINGS.md §6).
FIG8B_SD = 0.002


@dataclass(frozen=True)
class Design:
    """One claim: its figure (whose seeds and runs it needs), what it says, Smith's effect with
    its source, the EFFECT_AT entry that dates it (None: none), and how to read its noise and draw
    it for a profile."""
    key: str
    figure: str
    statement: str
    effect: str
    effect_at: str | None
    noise: Callable[[str, Path], tuple[float | None, str]]
    draw: Callable[..., np.ndarray] | None  # (rng, sigma, n, sims, profile) -> codes
    note: str = ""
    effect_curve: Callable | None = None  # the curve EFFECT_AT dates (claims/smith.py), else all
    cut: Callable[[str], str | None] | None = None  # the rule's own "not testable" for a profile


def _test_images(figure: str, profile: str) -> int:
    return eval_subset_for(figure, profile) or 10_000


def _committed(figures_dir: Path, figure: str) -> tuple[pd.DataFrame, pd.DataFrame, dict] | None:
    """(tidy metrics, run rows, JSON) of a committed figure, or None."""
    base = Path(figures_dir) / figure
    if not base.with_suffix(".json").exists() or not base.with_suffix(".csv").exists():
        return None
    data = json.loads(base.with_suffix(".json").read_text())
    return pd.read_csv(base.with_suffix(".csv")), pd.DataFrame(data["runs"]), data


def pooled_sd(values: pd.Series, groups: pd.Series) -> tuple[float, int] | None:
    """The pooled within-group SD, sqrt(sum (n_i - 1) s_i^2 / sum (n_i - 1)), and its df; None
    without a group of 2."""
    frame = pd.DataFrame({"v": values.astype(float).to_numpy(), "g": groups.to_numpy()})
    stats = frame.groupby("g")["v"].agg(["var", "size"])
    stats = stats[stats["size"] >= 2]
    df = int((stats["size"] - 1).sum())
    if not df:
        return None
    return math.sqrt(float(((stats["size"] - 1) * stats["var"]).sum()) / df), df


def _final(column: str) -> Callable:
    """A reader of the pooled SD of one summary column of the completed runs, by curve."""
    def read(metrics, runs):
        runs = runs[runs["status"] == "completed"]
        return pooled_sd(runs[column], runs["curve"]), f"pooled SD of {column} by curve"
    return read


def _readings(metrics, runs):
    readings, k, problem = C.last_k_readings(metrics, runs)
    if problem:
        return None, problem
    readings = readings[runs["status"] == "completed"]
    return (pooled_sd(readings["reading"], readings["tbs"]),
            f"pooled SD of final accuracy (mean of the last {k} evaluations) by TBS")


def _minima(metrics, runs):
    minima = C.range_minima(metrics, "wd")
    return pooled_sd(minima["min_loss"], minima["wd"]), "pooled SD of smoothed minima by WD"


def _sweep_scatter(metrics, runs):
    test = metrics[(metrics["split"] == "test") & (metrics["curve"] == "LR range 0-0.4")
                   & (metrics["lr"] <= 0.1)]
    first = test[test["replicate"] == test["replicate"].min()].sort_values("step")
    if len(first) < 3:
        return None, "fewer than 3 evaluations at lr <= 0.1"
    loss = first["loss"].to_numpy(float)
    return ((C.sweep_scatter(loss), len(loss) - 2),
            "scatter of one 0-0.4 sweep at lr <= 0.1 by turns_up's estimator")


def _noise(figure: str, reader: Callable, fallback: tuple[float, str] | None) -> Callable:
    """One run's noise for a profile: our committed replicates of `figure` where they were run
    under that profile (read when called), else Smith's `fallback` = (sd, source), else our
    committed replicates of another profile, else none."""
    def read(profile: str, figures_dir: Path) -> tuple[float | None, str]:
        found = _committed(figures_dir, figure)
        ours = None
        if found is not None:
            metrics, runs, data = found
            got, what = reader(metrics, runs)
            if got is not None:
                role = data.get("dataset_role")
                ours = (got[0], f"{what}, our committed runs ({figure}.json, profile "
                                f"{data.get('profile', '?')}, {got[1]} df"
                                + (f", {role})" if role else ")"))
                if data.get("profile") == profile:
                    return ours
        if fallback is not None:
            return fallback
        if ours is not None:
            return ours
        return None, (f"no published run-to-run SD (REPLICATIONS.md §5) and no committed "
                      f"replicates of {figure} in {figures_dir}")
    return read


def _smith_fig1a_scatter() -> tuple[float, str]:
    loss = np.asarray(SMITH_FIG1A_LOSS)
    return (C.sweep_scatter(loss),
            "the scatter of Smith's own Fig 1a curve at lr <= 0.1, by turns_up's estimator "
            "(figs/fig1a.png)")


def _fig1a_truth(profile: str) -> np.ndarray:
    """Smith's Fig 1a loss at the lrs <= 0.1 where this profile's 0-0.4 sweep is evaluated."""
    spec = runs_for("fig1a", profile)[0]
    every = scale_for("fig1a", profile).eval_every
    steps = list(range(every, spec.steps + 1, every))
    if steps[-1] != spec.steps:
        steps.append(spec.steps)
    lrs = spec.schedule["lr_max"] * (np.array(steps) - 1) / (spec.steps - 1)
    lrs = lrs[lrs <= 0.1]
    return np.interp(lrs, SMITH_FIG1A_LR, SMITH_FIG1A_LOSS)


def _fig1a_cut(profile: str) -> str | None:
    seen = len(_fig1a_truth(profile))
    return (None if seen >= C.MIN_TURN_EVALUATIONS else
            f"{C.NOT_TESTABLE}: {seen} evaluation(s) at lr <= 0.1, and claims_fig1a needs "
            f"{C.MIN_TURN_EVALUATIONS} to show a dip")


def _fig1a_draw(rng, sigma, n, sims, profile):
    truth = _fig1a_truth(profile)
    if len(truth) < C.MIN_TURN_EVALUATIONS:
        return np.zeros(sims, int)  # the rule calls fewer evaluations not testable
    return simulate_turn(rng, truth, sigma, n, sims)


def _accuracy_stated(figure: str, dataset: str, profile: str):
    return stated_error(dataset, _test_images(figure, profile))


FIG5A = C.PAPER["fig5a_final"]
FIG5B = C.PAPER["fig5b_final"]
FIG8A = C.PAPER["fig8a_final_loss"]
FIG8B = C.PAPER["fig8b_peak"]
SEED10 = C.SEED_SD["cifar10"]
SEED100 = C.SEED_SD["cifar100"]

DESIGNS = (
    Design("fig1a_rise", "fig1a", "the 0-3 sweep's test loss falls, then rises (Fig 1a, §4.1)",
           "none: Smith shows no sweep past lr 0.4 (the 0-3 sweep is this project's, "
           "SETTINGS.md §3)", None, _noise("fig1a", _sweep_scatter, _smith_fig1a_scatter()), None),
    Design("fig1a_dip", "fig1a", "the 0-0.4 sweep's test loss dips near lr 0.02 and rises "
           "(Fig 1a box)", "Smith's Fig 1a: 1.32 at lr 0.008, 1.01 at 0.02, 1.56 at 0.04 "
           "(figs/fig1a.png)", None, _noise("fig1a", _sweep_scatter, _smith_fig1a_scatter()),
           _fig1a_draw,
           "one sweep per curve is read off its own scatter; n sweeps average to one curve",
           cut=_fig1a_cut),
    Design("fig5a", "fig5a", "CLR 0.1-3 beats LR 0.35 run 8x as long (Fig 5a)",
           f"{FIG5A['CLR=0.1-3']} vs {FIG5A['LR=0.35']} (Fig 5a annotations, SETTINGS.md §4)",
           "fig5a", _noise("fig5a", _final("final_test_accuracy"), SEED10),
           lambda rng, sigma, n, sims, profile: simulate_gap(
               rng, [FIG5A["CLR=0.1-3"], FIG5A["LR=0.35"]], sigma, n, sims,
               stated=_accuracy_stated("fig5a", "cifar10", profile)),
           effect_curve=lambda spec: spec.label == "CLR=0.1-3"),
    Design("fig5b_collapse", "fig5b", "WD 1e-3 ends below 0.2 (Fig 5b)",
           f"{FIG5B[1e-3]} (read off Fig 5b, SETTINGS.md §4) against the rule's 0.2",
           "fig5b_collapse", _noise("fig5b", _final("final_test_accuracy"), SEED10),
           lambda rng, sigma, n, sims, profile: simulate_below(
               rng, [FIG5B[1e-3]], sigma, n, sims, threshold=0.2,
               test_images=_test_images("fig5b", profile),
               stated=_accuracy_stated("fig5b", "cifar10", profile))),
    Design("fig5b_best", "fig5b", "WD 1e-4 ends highest of 1e-3..1e-6 (Fig 5b)",
           "1e-4: 0.92, 1e-6: 0.90, 1e-5: 0.89, 1e-3: 0.10 (read off Fig 5b, SETTINGS.md §4)",
           "fig5b_best", _noise("fig5b", _final("final_test_accuracy"), SEED10),
           lambda rng, sigma, n, sims, profile: simulate_best(
               rng, [FIG5B[1e-4], FIG5B[1e-3], FIG5B[1e-5], FIG5B[1e-6]], sigma, n, sims,
               higher=True, stated=_accuracy_stated("fig5b", "cifar10", profile))),
    Design("fig8a_order", "fig8a", "final test loss 0.95-0.85 < 0.9 < 0.85-0.95 (Fig 8a)",
           "0.345 < 0.36 < 0.385 (read off Fig 8a, SETTINGS.md §4)", "fig8a",
           _noise("fig8a", _final("final_test_loss"), None),
           lambda rng, sigma, n, sims, profile: simulate_order(
               rng, [FIG8A["CM range=0.95-0.85"], FIG8A["Momentum=0.9"],
                     FIG8A["CM range=0.85-0.95"]], sigma, n, sims, higher=False)),
    Design("fig8b_slope", "fig8b", "final accuracy rises with TBS at a fixed budget (Fig 8b)",
           "+0.0013 per doubling: OLS of the inset's peaks 128: 0.9165, 256: 0.919, 512: 0.920, "
           "1024: 0.9205 (SETTINGS.md §4)", "fig8b",
           _noise("fig8b", _readings, (FIG8B_SD, "Smith's Table 1, TBS 512 with CM "
                                       "0.95-0.85: 92.0 ± 0.2 % (SETTINGS.md §6)")),
           lambda rng, sigma, n, sims, profile: simulate_slope(
               rng, [FIG8B[t] for t in sorted(FIG8B)], sigma, n, sims,
               x=np.log2(sorted(FIG8B))),
           effect_curve=lambda spec: spec.extra.get("tbs") == 512),
    Design("fig15a_best", "fig15a", "WD 1e-4 reaches the lowest smoothed loss (Fig 15a)",
           "smoothed minima 1e-4: 1.828, 1e-5: 1.836, 3e-4: 1.881 (read off figs/fig15a.png)",
           None, _noise("fig15a", _minima, None),
           lambda rng, sigma, n, sims, profile: simulate_best(
               rng, [SMITH_FIG15A_MIN[1e-4], SMITH_FIG15A_MIN[3e-4], SMITH_FIG15A_MIN[1e-5]],
               sigma, n, sims, higher=False),
           "about CIFAR-100: on a stand-in dataset not testable"),
    Design("fig15b_equal", "fig15b", "TBS 256/512/1024 end within ±1 SD (Fig 15b)",
           f"equal means (the claim; Table 2: 69.0 ± 0.4 %, SETTINGS.md §6), margin "
           f"±{C.FIG15B_MARGIN}", None, _noise("fig15b", _readings, SEED100),
           lambda rng, sigma, n, sims, profile: simulate_tost(
               rng, [0.690] * 3, sigma, n, sims, margin=C.FIG15B_MARGIN,
               stated=_accuracy_stated("fig15b", "cifar100", profile)),
           "about CIFAR-100: on a stand-in dataset not testable"),
)


def design(key: str) -> Design:
    for d in DESIGNS:
        if d.key == key:
            return d
    raise ConfigError(f"claim {key!r} is unknown; choose one of "
                      + ", ".join(d.key for d in DESIGNS))
