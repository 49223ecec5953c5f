"""Each figure's claims: which runs and metrics a claim reads, which test decides it, and when the
runs cannot test it at all (claims_fig1a, claims_fig5, claims_fig8, claims_fig15).

Separate because this is the one part that knows Smith's figures: curve names, how a run's final
reading is taken, and whether runs end before his effect appears (`untestable`, against
smith.EFFECT_AT) or were truncated. The statistics live below it (noise.py, rules.py), so a
figure's function reads as the claim it checks.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from .noise import (_bad, best_of, collapse_gap, curve_means, equivalence, gap, mean_of, ordering,
                    tbs_slope, turns_up)
from .rules import CONTRADICTED, INCONCLUSIVE, MIN_TURN_EVALUATIONS, NOT_TESTABLE, _smooth3
from .smith import EFFECT_AT, FIG15B_MARGIN, LAST_K, SEED_SD


def _row(claim: str, paper: str, ours: str, verdict: str, untestable: str | None = None) -> dict:
    """One claims row; a reason in `untestable` overrides the verdict and is given in `ours`."""
    if untestable:
        ours, verdict = f"{ours}; {untestable}", NOT_TESTABLE
    return {"claim": claim, "paper": paper, "ours": ours, "verdict": verdict}


def _stops(runs: pd.DataFrame, *, named: bool = False) -> str:
    """'; diverged at step N' (with the curve's name first if `named`) for each run that ended
    early."""
    return "".join(f"; {r['curve'] + ' ' if named else ''}{r['status']} at step "
                   f"{int(r['diverged_at'])}" for _, r in runs[runs["diverged_at"].notna()].iterrows())


def untestable(runs: pd.DataFrame, effect: str | None = None) -> str | None:
    """Why these runs cannot test a claim, or None: runs truncated by max_steps, or (for an
    `effect` of EFFECT_AT) runs that end before the point where Smith's runs show it."""
    if "truncated" in runs and runs["truncated"].fillna(False).astype(bool).any():
        done = int(runs["steps_done"].max()) if "steps_done" in runs else 0
        return (f"not testable: the runs were truncated at {done} step(s) of "
                f"{int(runs['steps'].max())} (max_steps)")
    if effect is not None and len(runs):
        need, why = EFFECT_AT[effect]
        images = int((runs["steps"].astype(int) * runs["batch_size"].astype(int)).max())
        if images < need:
            return (f"not testable: the runs end at {images / 1e6:.2g} M images, and {why}, "
                    f"at ~{need / 1e6:.3g} M")
    return None


def _test_curve(metrics: pd.DataFrame, curve: str) -> pd.DataFrame:
    """Mean over replicates of a curve's test rows, by step, with the lr of that step."""
    test = metrics[(metrics["curve"] == curve) & (metrics["split"] == "test")]
    return test.groupby("step")[["lr", "loss", "accuracy"]].mean().dropna(subset=["loss"])


def claims_fig1a(metrics: pd.DataFrame, runs: pd.DataFrame, *, lr_max: float) -> list[dict]:
    """Rise (the 0-lr_max sweep): `turns_up` on its test loss. Dip (the 0-0.4 sweep, Fig 1a's
    box): `turns_up` on its evaluations at lr <= 0.1. Either needs MIN_TURN_EVALUATIONS of them,
    else not testable; truncated runs cannot test either."""
    truncated = untestable(runs)
    rows = []
    wide = _test_curve(metrics, f"LR range 0-{lr_max:g}")
    stopped = runs[(runs["curve"] == f"LR range 0-{lr_max:g}") & runs["diverged_at"].notna()]
    cut = truncated
    if len(wide) >= MIN_TURN_EVALUATIONS:
        ours, verdict = turns_up(wide, ended_early=len(stopped) > 0)
        ours += _stops(stopped)
    else:
        ours, verdict = f"{len(wide)} test evaluation(s)", NOT_TESTABLE
        cut = cut or (f"not testable: a rise needs at least {MIN_TURN_EVALUATIONS} evaluations")
    rows.append(_row(f"the test loss falls, then rises once the lr is too large; lr_max is read "
                     f"there (§4.1, sweep 0-{lr_max:g})", "a minimum inside the sweep, then a rise",
                     ours, verdict, cut))
    low = _test_curve(metrics, "LR range 0-0.4")
    low = low[low["lr"] <= 0.1]
    if len(low) >= MIN_TURN_EVALUATIONS:
        ours, verdict = turns_up(low, ended_early=False)
        dip_cut = truncated
    else:
        ours, verdict = f"{len(low)} evaluations at lr <= 0.1", NOT_TESTABLE
        dip_cut = truncated or (f"not testable: a dip needs at least {MIN_TURN_EVALUATIONS} "
                                "evaluations at lr <= 0.1")
    rows.append(_row("at small lr the test loss dips and rises again, the overfitting Fig 1a "
                     "boxes at lr 0.01-0.04", "a dip near lr 0.02", ours, verdict, dip_cut))
    return rows


def claims_fig5(runs_a: pd.DataFrame, runs_b: pd.DataFrame) -> list[dict]:
    """CLR vs LR=0.35: the CLR curve's mean final accuracy above the other's (`gap`, one-sided
    ALPHA each way). WD 1e-3 collapses: its mean final accuracy below 0.2 (2x chance) beyond the
    noise (reproduced) or above it beyond the noise (contradicted), the floor included
    (`collapse_gap`); a diverged run did not train. Best WD: 1e-4 the highest mean final accuracy
    (`best_of`). One run per curve takes the CIFAR-10 SEED_SD with the test-set floor. Each needs
    runs as long as the point where Smith's runs show the effect (EFFECT_AT), else not testable."""
    sd = SEED_SD["cifar10"]
    acc = curve_means(runs_a, "curve", "final_test_accuracy", seed_sd=sd)
    rows = []
    if {"CLR=0.1-3", "LR=0.35"} <= set(acc):
        g = gap(acc["CLR=0.1-3"], acc["LR=0.35"], higher=True)
        ours = (f"{acc['CLR=0.1-3'].text()} vs {acc['LR=0.35'].text()}: {g.text()}"
                + _stops(runs_a, named=True))
        verdict = g.verdict
    else:
        ours, verdict = "a curve has no run", INCONCLUSIVE
    rows.append(_row("CLR 0.1-3 in N iterations beats a constant lr 0.35 run 8N (Fig 5a)",
                     "0.924 vs 0.912", ours, verdict,
                     untestable(runs_a[runs_a["curve"] == "CLR=0.1-3"], "fig5a")
                     or untestable(runs_a)))
    big = runs_b[np.isclose(runs_b["wd"].astype(float), 1e-3)]
    if len(big):
        m = next(iter(curve_means(big, "wd", "final_test_accuracy", seed_sd=sd).values()))
        g = collapse_gap(m, 0.2)
        ours = ("diverged: it did not train" if math.isinf(m.value) else
                f"{m.text()}; below 0.2 by {g.text()}")
        ours, verdict = ours + _stops(big), g.verdict
    else:
        ours, verdict = "no run at weight decay 1e-3", INCONCLUSIVE
    rows.append(_row("weight decay 1e-3 prevents training at lr up to 3 (Fig 5b)",
                     "0.10 (collapses after ~4k iterations)", ours, verdict,
                     untestable(runs_b, "fig5b_collapse")))
    ours, verdict = best_of(curve_means(runs_b, "wd", "final_test_accuracy", seed_sd=sd), 1e-4,
                            higher=True)
    rows.append(_row("weight decay 1e-4 gives the best accuracy of 1e-3..1e-6 (Fig 5b)",
                     "1e-4: 0.92; 1e-6: 0.90; 1e-5: 0.89; 1e-3: 0.10", ours, verdict,
                     untestable(runs_b, "fig5b_best")))
    return rows


def last_k_readings(metrics: pd.DataFrame, runs: pd.DataFrame, *, last_k: int = LAST_K
                    ) -> tuple[pd.DataFrame, int, str | None]:
    """Each run's final accuracy as the mean of its last k test evaluations, with the same k for
    every run: `last_k`, or the fewest evaluations any completed run has if that is fewer. A run
    that diverged (or was stopped) reads 0. Returns (runs with a `reading` column, k, a problem or
    None: a completed run with no test evaluation)."""
    test = metrics[metrics["split"] == "test"].dropna(subset=["accuracy"]).sort_values("step")
    # a CSV read back may have turned a curve's name into a number: match names as text
    by_run = {(str(c), int(r)): g["accuracy"].to_numpy(float)
              for (c, r), g in test.groupby(["curve", "replicate"])}
    keys = [(str(c), int(r)) for c, r in zip(runs["curve"], runs["replicate"])]
    bad = _bad(runs)
    counts = [len(by_run.get(key, ())) for key, is_bad in zip(keys, bad) if not is_bad]
    out = runs.copy()
    if counts and min(counts) == 0:
        return out.assign(reading=np.nan), 0, "a completed run has no test evaluation"
    k = max(1, min([last_k, *counts]))
    out["reading"] = [0.0 if is_bad else float(by_run[key][-k:].mean())
                      for key, is_bad in zip(keys, bad)]
    return out, k, None


def claims_fig8(runs_a: pd.DataFrame, metrics_b: pd.DataFrame, runs_b: pd.DataFrame, *,
                last_k: int = LAST_K) -> list[dict]:
    """Momentum order (Fig 8a), one claim: final test loss 0.95-0.85 < 0.9 < 0.85-0.95, by
    `ordering` (both adjacent gaps beyond their noise at one-sided ALPHA: reproduced; any of the 3
    pairs reversed beyond its noise at ALPHA / 3: contradicted). One run per curve has no noise
    estimate for a test loss (inconclusive).
    TBS (Fig 8b): each run's final accuracy read as the mean of its last `last_k` test evaluations,
    the same k for every curve (`last_k_readings`; a diverged run reads 0), regressed on log2(TBS)
    over all runs by ordinary least squares (`tbs_slope`, df = runs - 2): reproduced if the slope
    is positive beyond its noise at one-sided ALPHA, contradicted if negative beyond it.
    Both need runs as long as the point where Smith's runs show the effect (EFFECT_AT: Fig 8a on
    every curve, Fig 8b on the TBS-512 curve, whose log dates it); truncated runs cannot test them.
    """
    order = ["CM range=0.95-0.85", "Momentum=0.9", "CM range=0.85-0.95"]
    ours, verdict = ordering(curve_means(runs_a, "curve", "final_test_loss"), order, higher=False)
    rows = [_row("final test loss ranks momentum decreasing while the lr rises (0.95-0.85) "
                 "lowest, constant 0.9 next, increasing (0.85-0.95) highest (Fig 8a)",
                 "0.95-0.85: 0.345 < 0.9: 0.36 < 0.85-0.95: 0.385",
                 ours + _stops(runs_a, named=True), verdict,
                 untestable(runs_a, "fig8a"))]
    readings, k, problem = last_k_readings(metrics_b, runs_b, last_k=last_k)
    if problem:
        ours, verdict = problem, INCONCLUSIVE
    elif readings["tbs"].nunique() < 2 or len(readings) < 3:
        ours, verdict = "fewer than 2 batch sizes or 3 runs", INCONCLUSIVE
    else:
        slope = tbs_slope(readings)
        means = readings.groupby("tbs")["reading"].agg(["mean", "std", "size"])
        ours = (f"final accuracy (mean of the last {k} evaluation(s) of each run) "
                + "; ".join(f"{int(t)}: {r['mean']:.3f}"
                            + (f" ± {r['std']:.3f} (n={int(r['size'])})" if r["size"] > 1 else "")
                            for t, r in means.iterrows())
                + f"; OLS slope per doubling of TBS {slope.text()}" + _stops(runs_b, named=True))
        verdict = slope.verdict
    tbs512 = runs_b[runs_b["tbs"].astype(float) == 512] if "tbs" in runs_b else runs_b.iloc[:0]
    rows.append(_row("for a fixed budget, a larger TBS gives a higher accuracy (Figs 6, 8b)",
                     "peaks 128: 0.9165 < 256: 0.919 < 512: 0.920 < 1024: 0.9205", ours,
                     verdict, untestable(runs_b)
                     or untestable(tbs512 if len(tbs512) else runs_b, "fig8b")))
    return rows


def range_minima(metrics: pd.DataFrame, key: str) -> pd.DataFrame:
    """Per (key, replicate): the minimum of the 3-point-smoothed test loss and its lr."""
    rows = []
    test = metrics[metrics["split"] == "test"]
    by = [key, "replicate"] if "replicate" in test else [key]
    for ids, m in test.groupby(by):
        m = m.sort_values("step")
        smooth = _smooth3(m["loss"])
        i = int(np.argmin(smooth))
        rows.append({key: ids[0] if isinstance(ids, tuple) else ids, "min_loss": smooth[i],
                     "lr": float(m["lr"].iloc[i]), "status": "completed"})
    return pd.DataFrame(rows)


def claims_fig15(metrics_a: pd.DataFrame, runs_a: pd.DataFrame, metrics_b: pd.DataFrame,
                 runs_b: pd.DataFrame, *, dataset: str, last_k: int = LAST_K,
                 margin: float = FIG15B_MARGIN) -> list[dict]:
    """Best WD (Fig 15a): the WD 1e-4 range test reaches the lowest minimum of its smoothed test
    loss (`best_of` over per-replicate minima; a sweep that stopped keeps its minimum; one sweep per
    WD has no noise estimate for a loss: inconclusive).
    TBS (Fig 15b), an equivalence claim: each run's final accuracy as the mean of its last `last_k`
    evaluations, the same k for every curve (`last_k_readings`), and a two-one-sided-tests
    equivalence of every pair of TBS means within ±`margin` = FIG15B_MARGIN, one run-to-run SD as
    Smith's Table 2 gives it (`equivalence`). A run that diverged did not end near the others
    (contradicted). One run per TBS takes the CIFAR-100 SEED_SD with the test-set floor, which at
    these sizes exceeds the margin: it can refute, never confirm.
    Both claims are about CIFAR-100: on a stand-in dataset they are not testable."""
    tag = "" if dataset == "cifar100" else f" [{dataset} stand-in]"
    stand_in = None if dataset == "cifar100" else (
        f"not testable: the claim is about CIFAR-100 and these runs are on {dataset}")
    minima = range_minima(metrics_a, "wd")
    lrs = minima.groupby("wd")["lr"].mean()
    means = {wd: mean_of(m["min_loss"], accuracy=False, test_images=None)
             for wd, m in minima.groupby("wd")}
    ours, verdict = best_of(means, 1e-4, higher=False)
    ours += "; lr at the minimum: " + ", ".join(f"{wd:g}: {lr:.2f}" for wd, lr in lrs.items())
    rows = [_row("weight decay 1e-4 gives the lowest validation loss in the range test "
                 "(Fig 15a)" + tag, "1e-4: min loss 1.80 at lr ~0.29",
                 ours + _stops(runs_a, named=True), verdict, untestable(runs_a) or stand_in)]
    readings, k, problem = last_k_readings(metrics_b, runs_b, last_k=last_k)
    diverged = _bad(runs_b).any()
    sd = SEED_SD["cifar100"] if dataset == "cifar100" else None
    acc = {} if problem else curve_means(readings, "tbs", "reading", accuracy=True, seed_sd=sd)
    text = (f"final accuracy (mean of the last {k} evaluation(s) of each run) "
            + "; ".join(f"{int(t)}: {m.text()}" for t, m in acc.items()))
    if diverged:
        text, verdict = text + _stops(runs_b, named=True), CONTRADICTED
    elif problem:
        text, verdict = problem, INCONCLUSIVE
    elif len(acc) < 2:
        text, verdict = text + "; fewer than 2 batch sizes ran", INCONCLUSIVE
    else:
        eq, verdict = equivalence(acc, margin)
        text += "; " + eq
    rows.append(_row("TBS 256/512/1024 end within a standard deviation of each other "
                     "(Fig 15b)" + tag, "0.6895 / 0.691 / 0.687 (Table 2: 0.690 ± 0.004)",
                     text, verdict, untestable(runs_b) or stand_in))
    return rows
