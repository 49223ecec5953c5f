"""Each claim as a design: Smith's effect with its source, how to read one run's noise (from a set
of runs, or Smith's tables), and how to draw sets of runs through its rule (DESIGNS, `design`).

Separate because this is where the plan meets the paper and our runs: Smith's numbers read off his
figures, and readers that pool a set of runs' spread, the committed figures/*.json or a pilot's
(pilot.py). The simulations below it (simulate.py) know no claim, and the table above it
(table.py) only asks each design for its noise and its draws.
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
from ..profiles import runs_for, scale_for
from .simulate import (simulate_below, simulate_best, simulate_gap, simulate_order,
                       simulate_tost, simulate_trend, simulate_turn)

Noise = tuple  # (sd | None, source text, df)


@dataclass(frozen=True)
class Design:
    """One claim: its figure (whose seeds and runs it needs), what it says, Smith's effect with
    its source, the EFFECT_AT entry that dates it (None: none), how to read one run's noise from
    a set of runs (`reader`: (metrics, runs) -> ((sd, df) | None, what)) or from Smith (`smith`:
    (sd, source, df)), and how to draw it for a profile; `alt_*`: the power under a second effect
    (Fig 15b: equal means beside Smith's own peaks)."""
    key: str
    figure: str
    statement: str
    effect: str
    effect_at: str | None
    reader: Callable | None
    smith: Noise | None
    draw: Callable[..., np.ndarray] | None  # (rng, sigma, n, sims, profile) -> codes
    note: str = ""
    effect_curve: Callable | None = None  # the curve EFFECT_AT dates (claims/smith.py), else all
    cut: Callable[[str], str | None] | None = None  # the rule's own "not testable" for a profile
    alt_effect: str = ""
    alt_draw: Callable[..., np.ndarray] | None = None

    def noise_from(self, metrics, runs, label: str) -> Noise | None:
        """One run's SD read off a set of runs, or None."""
        if self.reader is None:
            return None
        got, what = self.reader(metrics, runs)
        return None if got is None else (got[0], f"{what}, {label}, {got[1]} df", got[1])

    def noise(self, profile: str, figures_dir: Path) -> Noise:
        """One run's noise for a profile: our committed runs of the figure where they were run
        under that profile (read when called), else Smith's, else our committed runs of another
        profile, else none."""
        found, ours = committed(figures_dir, self.figure), None
        if found is not None:
            metrics, runs, data = found
            role = data.get("dataset_role")
            ours = self.noise_from(metrics, runs, f"our committed runs ({self.figure}.json, "
                                   f"profile {data.get('profile', '?')}"
                                   + (f", {role})" if role else ")"))
            if ours is not None and data.get("profile") == profile:
                return ours
        if self.smith is not None:
            return self.smith
        if ours is not None:
            return ours
        return (None, f"no published run-to-run SD (REPLICATIONS.md §5) and no committed "
                      f"replicates of {self.figure} in {figures_dir}", math.nan)


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


def _final(column: str) -> Callable:
    def read(metrics, runs):
        done = _completed(runs)
        return pooled_sd(done[column], done["curve"]), f"pooled SD of {column} by curve"
    return read


def _readings(metrics, runs):
    readings, k, problem = C.last_k_readings(metrics, runs)
    if problem:
        return None, problem
    readings = readings[readings["status"] == "completed"]
    return (pooled_sd(readings["reading"], readings["tbs"]),
            f"pooled SD of final accuracy (mean of the last {k} evaluations) by TBS")


def _window(metrics, runs):
    (_, lo, hi), = C.WINDOWS["fig15a"]
    test = metrics[(metrics["split"] == "test") & (metrics["lr"] >= lo) & (metrics["lr"] < hi)]
    per_sweep = test.groupby(["wd", "replicate"])["loss"].mean().reset_index()
    return (pooled_sd(per_sweep["loss"], per_sweep["wd"]),
            f"pooled SD of each sweep's mean loss at lr {lo:g}-{hi:g} by WD")


def _white_scatter(loss) -> tuple[float, int]:
    d2 = np.diff(np.asarray(loss, float), 2)
    return math.sqrt(float(np.mean(d2 * d2)) / 6), max(1, len(d2) // 3)


def _dip(metrics, runs):
    """One evaluation's SD in the dip's windows: between sweeps at each evaluation where there
    are several, else one sweep's scatter by its second differences."""
    windows = C.WINDOWS["fig1a_dip"]
    lo, hi = windows[0][1], windows[-1][2]
    test = metrics[(metrics["split"] == "test") & (metrics["curve"] == "LR range 0-0.4")
                   & (metrics["lr"] >= lo) & (metrics["lr"] < hi)]
    if test["replicate"].nunique() >= 2:
        return (pooled_sd(test["loss"], test["step"]),
                f"pooled SD between sweeps at each evaluation, lr {lo:g}-{hi:g}")
    if len(test) < 5:
        return None, f"fewer than 5 evaluations at lr {lo:g}-{hi:g}"
    return (_white_scatter(test.sort_values("step")["loss"]),
            f"one sweep's scatter by second differences, lr {lo:g}-{hi:g}")


def _smith_fig1a() -> Noise:
    sd, df = _white_scatter(C.SMITH_FIG1A_LOSS)
    return (sd, "the scatter of Smith's own Fig 1a curve at lr <= 0.1 by second differences "
                "(figs/fig1a.png), one curve", df)


def _eval_lrs(figure: str, profile: str, curve: int) -> np.ndarray:
    """The lrs at which a profile's range test of `figure` is evaluated."""
    spec = runs_for(figure, profile)[curve]
    every = scale_for(figure, profile).eval_every
    steps = list(range(every, spec.steps + 1, every))
    if steps[-1] != spec.steps:
        steps.append(spec.steps)
    lo, hi = spec.schedule["lr_min"], spec.schedule["lr_max"]
    return lo + (hi - lo) * (np.array(steps) - 1) / (spec.steps - 1)


def _dip_cut(profile: str) -> str | None:
    lrs = _eval_lrs("fig1a", profile, 0)
    empty = [name for name, a, b in C.WINDOWS["fig1a_dip"] if not ((lrs >= a) & (lrs < b)).any()]
    return (None if not empty else f"{C.NOT_TESTABLE}: this profile's 0-0.4 sweep has no "
            f"evaluation in the window(s) {', '.join(empty)} of claims_fig1a")


def _dip_draw(rng, sigma, n, sims, profile):
    lrs = _eval_lrs("fig1a", profile, 0)
    truth = np.interp(lrs, C.SMITH_FIG1A_LR, C.SMITH_FIG1A_LOSS)
    return simulate_turn(rng, truth, lrs, sigma, n, sims, C.WINDOWS["fig1a_dip"])


def _smith_window_means(windows) -> list[float]:
    return list(C.window_means(C.SMITH_FIG1A_LR, C.SMITH_FIG1A_LOSS, windows))


FIG5A, FIG5B = C.PAPER["fig5a_final"], C.PAPER["fig5b_final"]
FIG8A, FIG8B, FIG15B = C.PAPER["fig8a_final_loss"], C.PAPER["fig8b_peak"], C.PAPER["fig15b_peak"]
FIG15A = {wd: float(np.mean(v)) for wd, v in C.SMITH_FIG15A_WINDOW.items()}
TABLE1 = (C.SEED_SD["cifar10"][0], C.SEED_SD["cifar10"][1], C.SEED_SD_DF["cifar10"])
TABLE2 = (C.SEED_SD["cifar100"][0], C.SEED_SD["cifar100"][1], C.SEED_SD_DF["cifar100"])
_TBS = sorted(FIG8B)
FIG8B_TREND = float(np.dot(C.trend_weights(np.log2(_TBS)), [FIG8B[t] for t in _TBS]))
_DIP = _smith_window_means(C.WINDOWS["fig1a_dip"])

DESIGNS = (
    Design("fig1a_rise", "fig1a", "the 0-3 sweep's test loss falls, then rises (Fig 1a, §4.1)",
           "none: Smith shows no sweep past lr 0.4 (the 0-3 sweep is this project's, "
           "SETTINGS.md §3)", None, None,
           (None, "none needed: with no effect of Smith's to aim at, there is no power to plan "
                  "for (SETTINGS.md §3)", math.nan), None),
    Design("fig1a_dip", "fig1a", "the 0-0.4 sweep's test loss dips inside lr 0.01-0.04 (Fig 1a "
           "box)", f"Smith's Fig 1a mean loss below / inside / above the box {_DIP[0]:.3f} / "
           f"{_DIP[1]:.3f} / {_DIP[2]:.3f} (figs/fig1a.png)", "fig1a_dip", _dip, _smith_fig1a(),
           _dip_draw, "sweeps drawn with independent evaluations; one sweep is read off its own "
           "scatter", cut=_dip_cut, effect_curve=lambda spec: spec.label == "LR range 0-0.4"),
    Design("fig5a", "fig5a", "CLR 0.1-3 beats LR 0.35 run 8x as long (Fig 5a)",
           f"{FIG5A['CLR=0.1-3']} vs {FIG5A['LR=0.35']} (Fig 5a annotations, SETTINGS.md §4)",
           "fig5a", _final("final_test_accuracy"), TABLE1,
           lambda rng, sigma, n, sims, profile: simulate_gap(
               rng, [FIG5A["CLR=0.1-3"], FIG5A["LR=0.35"]], sigma, n, sims),
           effect_curve=lambda spec: spec.label == "CLR=0.1-3"),
    Design("fig5b_collapse", "fig5b", "WD 1e-3 ends below 0.2 (Fig 5b)",
           f"{FIG5B[1e-3]} (read off Fig 5b, SETTINGS.md §4) against the rule's 0.2",
           "fig5b_collapse", _final("final_test_accuracy"), TABLE1,
           lambda rng, sigma, n, sims, profile: simulate_below(
               rng, [FIG5B[1e-3]], sigma, n, sims, threshold=0.2, test_images=10_000)),
    Design("fig5b_best", "fig5b", "WD 1e-4 ends highest of 1e-3..1e-6 (Fig 5b)",
           "1e-4: 0.92, 1e-6: 0.90, 1e-5: 0.89, 1e-3: 0.10 (read off Fig 5b, SETTINGS.md §4)",
           "fig5b_best", _final("final_test_accuracy"), TABLE1,
           lambda rng, sigma, n, sims, profile: simulate_best(
               rng, [FIG5B[1e-4], FIG5B[1e-3], FIG5B[1e-5], FIG5B[1e-6]], sigma, n, sims,
               higher=True)),
    Design("fig8a_order", "fig8a", "final test loss 0.95-0.85 < 0.9 < 0.85-0.95 (Fig 8a)",
           "0.345 < 0.36 < 0.385 (read off Fig 8a, SETTINGS.md §4)", "fig8a",
           _final("final_test_loss"), None,
           lambda rng, sigma, n, sims, profile: simulate_order(
               rng, [FIG8A["CM range=0.95-0.85"], FIG8A["Momentum=0.9"],
                     FIG8A["CM range=0.85-0.95"]], sigma, n, sims, higher=False)),
    Design("fig8b_trend", "fig8b", "final accuracy rises with TBS at a fixed budget (Fig 8b)",
           f"{FIG8B_TREND:+.4f} per doubling: the linear contrast of the inset's peaks 128: "
           "0.9165, 256: 0.919, 512: 0.920, 1024: 0.9205 (SETTINGS.md §4)", "fig8b",
           _readings, (C.FIG8B_SD[0], "Smith's Table 1, TBS 512 with CM 0.95-0.85: 92.0 ± 0.2 % "
                       "(SETTINGS.md §6)", C.FIG8B_SD[1]),
           lambda rng, sigma, n, sims, profile: simulate_trend(
               rng, [FIG8B[t] for t in _TBS], sigma, n, sims, x=np.log2(_TBS)),
           effect_curve=lambda spec: spec.extra.get("tbs") == 512),
    Design("fig15a_best", "fig15a", "WD 1e-4 has the lowest mean loss at lr 0.25-0.45 (Fig 15a)",
           "mean validation loss at lr 0.25-0.45 1e-4: {:.3f}, 1e-5: {:.3f}, 3e-4: {:.3f} (read "
           "off figs/fig15a.png)".format(FIG15A[1e-4], FIG15A[1e-5], FIG15A[3e-4]), "fig15a",
           _window, None,
           lambda rng, sigma, n, sims, profile: simulate_best(
               rng, [FIG15A[1e-4], FIG15A[3e-4], FIG15A[1e-5]], sigma, n, sims, higher=False),
           "about CIFAR-100: on a stand-in dataset not testable"),
    Design("fig15b_equal", "fig15b", "TBS 256/512/1024 end within ±1 SD (Fig 15b)",
           f"Smith's own peaks 0.6895 / 0.691 / 0.687 (Fig 15b inset, SETTINGS.md §4): their "
           f"largest gap, 0.004, is the margin ±{C.FIG15B_MARGIN} ({C.FIG15B_MARGIN_WHY})",
           "fig15b", _readings, TABLE2,
           lambda rng, sigma, n, sims, profile: simulate_tost(
               rng, [FIG15B[256], FIG15B[512], FIG15B[1024]], sigma, n, sims,
               margin=C.FIG15B_MARGIN),
           "about CIFAR-100: on a stand-in dataset not testable",
           effect_curve=lambda spec: spec.extra.get("tbs") == 512,
           alt_effect="equal means",
           alt_draw=lambda rng, sigma, n, sims, profile: simulate_tost(
               rng, [0.690] * 3, sigma, n, sims, margin=C.FIG15B_MARGIN)),
)


def design(key: str) -> Design:
    for d in DESIGNS:
        if d.key == key:
            return d
    raise ConfigError(f"claim {key!r} is unknown; choose one of "
                      + ", ".join(d.key for d in DESIGNS))
