"""The range tests' claims: Fig 1a's rise and dip, Fig 15a's best weight decay (claims_fig1a,
claims_fig15, which also gives Fig 15b's row from figures.py).

Separate from figures.py because a range test is read differently from a training run: not at
its end but at lr windows fixed before any run (smith.WINDOWS), sweep by sweep (sweeps.py). With
several sweeps per curve the noise is their spread and a turn is a t-test across sweeps; one
sweep gives no verdict (sweeps.py says why), and the row says so. Fig 15a compares weight
decays by each sweep's mean loss in the window where Smith's three sweeps reach their lowest, so
that no sweep's minimum is picked from its own noise (a noisier sweep's minimum sits lower by its
noise alone).
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from .figures import _model, claims_fig15b, empty, row, stops, untestable
from .noise import Finding, best_of, interval, mean_of
from .smith import (FIG15B_MARGIN, LAST_K, SMITH_FIG1A_LOSS, SMITH_FIG1A_LR, SMITH_FIG15A_WINDOW,
                    WINDOWS)
from .rules import p_noise, t975
from .sweeps import turn_p, window_means

ONE_SWEEP = ("one sweep: no spread between sweeps to read, so no verdict (its own scatter would "
             "need an assumed correlation between neighbouring evaluations; with 2 or more "
             "sweeps the noise is their spread)")


def sweep_windows(metrics: pd.DataFrame, curve_mask, windows) -> dict:
    """Each sweep's window means ({replicate: array}) and its evaluations ({replicate: (lr,
    loss)}), from the tidy test rows selected by `curve_mask`."""
    test = metrics[curve_mask & (metrics["split"] == "test")].dropna(subset=["loss"])
    reps = test["replicate"] if "replicate" in test else pd.Series(0, index=test.index)
    means, evals = {}, {}
    for r, g in test.groupby(reps):
        g = g.sort_values("step")
        lr, loss = g["lr"].to_numpy(float), g["loss"].to_numpy(float)
        means[int(r)], evals[int(r)] = window_means(lr, loss, windows), (lr, loss)
    return {"means": means, "evals": evals}


def _turn(found: dict, windows, status: dict, smith=None, *, rise_by_stop: bool) -> Finding:
    """The turn rule on a curve's sweeps: across sweeps where two or more have every window, no
    verdict where one has (ONE_SWEEP); and (`rise_by_stop`) where every sweep stopped before the
    last window (its loss above 4x its best, or diverged), the stop is the rise and the fall alone
    is tested, at the full ALPHA each way."""
    names = [w[0] for w in windows]
    full = {r: m for r, m in found["means"].items() if not np.isnan(m).any()}
    stopped = {r: m for r, m in found["means"].items() if r not in full
               and status.get(r) in ("diverged", "stopped") and not np.isnan(m[:2]).any()}
    rise_given = False
    if not full and rise_by_stop and stopped and len(stopped) == len(found["means"]):
        full, rise_given = stopped, True
    if not full:
        return empty(f"no sweep has evaluations in every window ({', '.join(names)}), and not "
                     "every sweep stopped after a fall")
    note = ""
    if len(full) >= 2:
        p_r, p_c, mean, se, df = turn_p(np.stack(list(full.values())))
        basis = f"t x SE across {len(full)} sweeps"
    else:
        (only,) = full.values()
        mean = np.array([only[0] - only[1], only[2] - only[1]])
        se, df = np.full(2, math.nan), np.zeros(2)
        p_r = p_c = math.nan
        basis, note = "one sweep", "; " + ONE_SWEEP
    if rise_given:
        if len(full) >= 2:
            p_r, p_c = p_noise(mean[0], se[0], df[0]), p_noise(-mean[0], se[0], df[0])
        mean = np.array([mean[0], math.inf])
    seen = np.stack(list(found["means"].values()))
    every = [f"{names[i]} " + (f"{np.nanmean(seen[:, i]):.3f}" if not np.isnan(seen[:, i]).all()
                               else "-") for i in range(3)]
    text = (f"mean loss by window ({', '.join(f'{a:g}-{b:g}' for _, a, b in windows)}): "
            + ", ".join(every))
    effects, inside = [], []
    for i, part in enumerate(("fall", "rise")):
        if math.isinf(mean[i]):
            text += f"; {part}: every sweep stopped before lr {windows[2][1]:g} (the stop rule)"
            effects.append(f"{part}: the stop rule")
            continue
        noise = (f"noise ±{t975(float(df[i])) * float(se[i]):.3f}" if np.isfinite(se[i])
                 and df[i] > 0 else "no noise estimate")
        text += f"; {part} {float(mean[i]):+.3f}, {noise} ({basis})"
        e, ok = interval(float(mean[i]), float(se[i]), float(df[i]),
                         None if smith is None else smith[i], f"{part} ")
        effects.append(e)
        inside.append(ok)
    skipped = len(found["means"]) - len(full)
    if skipped:
        text += f"; {skipped} sweep(s) without every window, read apart"
    both = None if (not inside or None in inside) else all(inside)
    return Finding(text + note, float(p_r), float(p_c), " | ".join(effects), both, len(full))


def _status(runs: pd.DataFrame, curve: str) -> dict:
    mine = runs[runs["curve"] == curve]
    reps = mine["replicate"] if "replicate" in mine else pd.Series(0, index=mine.index)
    return {int(r): s for r, s in zip(reps, mine["status"])}


def _smith_turn(windows) -> list[float]:
    m = window_means(SMITH_FIG1A_LR, SMITH_FIG1A_LOSS, windows)
    return [m[0] - m[1], m[2] - m[1]]


def claims_fig1a(metrics: pd.DataFrame, runs: pd.DataFrame, *, lr_max: float,
                 model: str | None = None) -> list[dict]:
    """Rise (the 0-lr_max sweep, this project's): its mean test loss in WINDOWS["fig1a_rise"]
    (start, middle, end): the loss falls from the start to the middle and rises from the middle
    to the end, each beyond the noise (sweeps.turn_p across sweeps; one sweep gives no verdict);
    a sweep that stopped (diverged, or its loss above 4x its best) before the end
    window rose by that stop, if every sweep did. Contradicted: either difference reversed beyond
    the noise at ALPHA / 2. A claim about range tests in general (§4.1): any network.
    Dip (the 0-0.4 sweep, Fig 1a's box): the same rule below, inside and above lr 0.01-0.04
    (WINDOWS["fig1a_dip"]), about Smith's gResnet56, and needing the sweep up to lr 0.07 to have
    trained as many images as his had by then (EFFECT_AT["fig1a_dip"])."""
    runs = _model(runs, model)
    truncated = untestable(runs)
    rows = []
    curve = f"LR range 0-{lr_max:g}"
    windows = WINDOWS["fig1a_rise"]
    found = _turn(sweep_windows(metrics, metrics["curve"] == curve, windows), windows,
                  _status(runs, curve), rise_by_stop=True)
    found = Finding(found.ours + stops(runs[runs["curve"] == curve]), found.p_r, found.p_c,
                    found.effect, found.inside, found.n)
    cut = truncated or (None if found.effect else "not testable: " + found.ours)
    rows.append(row("fig1a_rise", f"the test loss falls, then rises once the lr is too large; "
                    f"lr_max is read there (§4.1, sweep 0-{lr_max:g})",
                    "a minimum inside the sweep, then a rise", found, cut))
    curve, windows = "LR range 0-0.4", WINDOWS["fig1a_dip"]
    found = _turn(sweep_windows(metrics, metrics["curve"] == curve, windows), windows,
                  _status(runs, curve), _smith_turn(windows), rise_by_stop=False)
    low = runs[runs["curve"] == curve]
    cut = (truncated or untestable(low if len(low) else runs, "fig1a_dip", key="fig1a_dip")
           or (None if found.effect else "not testable: " + found.ours))
    rows.append(row("fig1a_dip", "at small lr the test loss dips and rises again, the "
                    "overfitting Fig 1a boxes at lr 0.01-0.04", "a dip near lr 0.02", found, cut))
    return rows


def claims_fig15(metrics_a: pd.DataFrame, runs_a: pd.DataFrame, metrics_b: pd.DataFrame,
                 runs_b: pd.DataFrame, *, dataset: str, last_k: int = LAST_K,
                 margin: float = FIG15B_MARGIN, model: str | None = None,
                 per_image: dict | None = None) -> list[dict]:
    """Best WD (Fig 15a): each sweep's mean validation loss over lr 0.25-0.45
    (WINDOWS["fig15a"], where Smith's three sweeps reach their lowest), and WD 1e-4 the lowest
    mean of those over its sweeps (noise.best_of, Welch across sweeps; one sweep per WD has no
    spread between sweeps to read: no verdict). A sweep that stopped keeps its window if it
    reached it. Fig 15b: figures.claims_fig15b. Both claims are about CIFAR-100 on gResnet56."""
    runs_a = _model(runs_a, model)
    tag = "" if dataset == "cifar100" else f" [{dataset} stand-in]"
    stand_in = None if dataset == "cifar100" else (
        f"not testable: the claim is about CIFAR-100 and these runs are on {dataset}")
    windows = WINDOWS["fig15a"]
    (_, lo, hi), = windows
    per_wd = {}
    for wd in sorted(metrics_a["wd"].dropna().unique()) if "wd" in metrics_a else []:
        found = sweep_windows(metrics_a, np.isclose(metrics_a["wd"].astype(float), wd), windows)
        values = [m[0] for m in found["means"].values() if not np.isnan(m[0])]
        per_wd[float(wd)] = mean_of(pd.Series(values, dtype=float), accuracy=False,
                                    test_images=None)
    per_wd = {wd: m for wd, m in per_wd.items() if m.n}
    smith = {wd: float(np.mean(v)) for wd, v in SMITH_FIG15A_WINDOW.items()}
    found = best_of(per_wd, 1e-4, higher=False, smith=smith) if per_wd else empty(
        f"no sweep has an evaluation at lr {lo:g}-{hi:g}")
    found = Finding(f"mean validation loss at lr {lo:g}-{hi:g} per sweep, by WD: " + found.ours
                    + stops(runs_a, named=True), found.p_r, found.p_c, found.effect,
                    found.inside, found.n)
    rows = [row("fig15a_best", "weight decay 1e-4 gives the lowest validation loss in the range "
                "test (Fig 15a)" + tag, "1e-4: min loss 1.80 at lr ~0.29; mean at lr 0.25-0.45 "
                "1e-4 1.857, 1e-5 1.897, 3e-4 1.909 (figs/fig15a.png)", found,
                untestable(runs_a, key="fig15a_best") or stand_in
                or untestable(runs_a, "fig15a"))]
    rows.append(claims_fig15b(metrics_b, runs_b, dataset=dataset, last_k=last_k, margin=margin,
                              model=model, per_image=per_image))
    return rows
