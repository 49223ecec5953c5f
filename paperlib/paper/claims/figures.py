"""Each figure's claims from training runs: which runs and metrics a claim reads, which test decides
it, and when the runs cannot test it at all (claims_fig5, claims_fig8, claims_fig15; the range
tests' claims are in ranges.py), with the row every claim becomes (`row`).

Separate because this is the part that knows Smith's figures: curve names, how a run's final
reading is taken, which network a claim is about, and whether runs end before his effect appears
(`untestable`, against smith.EFFECT_AT and smith.CLAIM_MODEL) or were truncated. The statistics
live below it (noise.py, rules.py), so a figure's function reads as the claim it checks.

`per_image`: the figures' per-image test records ({figure: replicate.FigureResult.per_image}), for
the test images' disagreement term (images.py); without them each row says the term was not
available. `model`: the network the runs trained (FigureResult.settings["model"]), unless the
runs carry a `model` column.
"""
from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pandas as pd

from .images import curve_scores, image_variance, run_scores
from .noise import Finding, _bad, best_of, collapse, curve_means, equivalence, gap, ordering, trend
from .rules import CODES, NOT_TESTABLE, decide, trend_weights, two_sided
from .smith import CLAIM_MODEL, EFFECT_AT, FIG15B_MARGIN, LAST_K, PAPER, SHARED_RUNS

ROW_COLUMNS = ("claim", "paper", "ours", "verdict", "key", "n", "effect", "smith_inside", "p",
               "shares_runs_with", "images")


def row(key: str, claim: str, paper: str, found: Finding, untestable: str | None = None
        ) -> dict:
    """One claims row. A reason in `untestable` overrides the verdict and is given in `ours`; the
    effect is still shown. p: the claim's two-sided p (rules.two_sided), NaN if not testable.
    images: the test images' disagreement per curve (Finding.images; NaN: not estimated), which
    a pilot's plan reads from its claims CSV."""
    ours = found.ours
    if untestable:
        ours, verdict, p = f"{ours}; {untestable}", NOT_TESTABLE, math.nan
    else:
        verdict = CODES[int(decide(found.p_r, found.p_c))]
        p = float(two_sided(found.p_r, found.p_c))
    return {"claim": claim, "paper": paper, "ours": ours, "verdict": verdict, "key": key,
            "n": found.n, "effect": found.effect,
            "smith_inside": "" if found.inside is None else ("yes" if found.inside else "no"),
            "p": p, "shares_runs_with": ", ".join(SHARED_RUNS.get(key, ())),
            "images": math.nan if found.images is None else found.images}


def empty(text: str) -> Finding:
    return Finding(text, math.nan, math.nan, "", None, 0)


def stops(runs: pd.DataFrame, *, named: bool = False) -> str:
    """'; diverged at step N' (with the curve's name first if `named`) for each run that ended
    early."""
    ended = runs[runs["diverged_at"].notna()]
    return "".join(f"; {r['curve'] + ' ' if named else ''}{r['status']} at step "
                   f"{int(r['diverged_at'])}" for _, r in ended.iterrows())


def untestable(runs: pd.DataFrame, effect: str | None = None, *, key: str | None = None,
               model: str | None = None) -> str | None:
    """Why these runs cannot test a claim, or None: runs truncated by max_steps; runs of another
    network than the claim is about (smith.CLAIM_MODEL[key]); or (for an `effect` of EFFECT_AT)
    runs that have not trained, by the share of the run where the effect shows, as many images as
    Smith's had when his runs showed it."""
    if "truncated" in runs and runs["truncated"].fillna(False).astype(bool).any():
        done = int(runs["steps_done"].max()) if "steps_done" in runs else 0
        return (f"not testable: the runs were truncated at {done} step(s) of "
                f"{int(runs['steps'].max())} (max_steps)")
    need_model = CLAIM_MODEL.get(key) if key else None
    if need_model is not None:
        ran = sorted(set(runs["model"].astype(str))) if "model" in runs else (
            [model] if model else [])
        if not ran:
            return (f"not testable: the claim is about {need_model} and the runs do not say "
                    f"which network trained them (pass model=)")
        if ran != [need_model]:
            return (f"not testable: the claim is about Smith's {need_model} and these runs "
                    f"trained {', '.join(ran)}")
    if effect is not None and len(runs):
        need, why, share = EFFECT_AT[effect]
        images = int((runs["steps"].astype(int) * runs["batch_size"].astype(int)).max()) * share
        if images < need * (1 - 1e-9):
            where = "" if share == 1.0 else f" by {share:.0%} of the sweep"
            return (f"not testable: the runs have trained {images / 1e6:.2g} M images{where}, and "
                    f"{why}, at ~{need / 1e6:.3g} M")
    return None


def last_k_readings(metrics: pd.DataFrame, runs: pd.DataFrame, *, last_k: int = LAST_K
                    ) -> tuple[pd.DataFrame, int, str | None]:
    """Each completed run's final accuracy as the mean of its last k test evaluations, with the
    same k for every run: `last_k`, or the fewest evaluations any completed run has if that is
    fewer. A run that diverged (or was stopped) reads NaN: it is counted apart. Returns (runs with
    a `reading` column, k, a problem or None: a completed run with no test evaluation)."""
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
    out["reading"] = [math.nan if is_bad else float(by_run[key][-k:].mean())
                      for key, is_bad in zip(keys, bad)]
    return out, k, None


def _scores(per_image, figure, runs, key, what, last_k=1):
    records = (per_image or {}).get(figure)
    return curve_scores(run_scores(records, runs, what=what, last_k=last_k), runs, key)


def _model(runs, model):
    return runs.assign(model=model) if model and "model" not in runs else runs


def claims_fig5(runs_a: pd.DataFrame, runs_b: pd.DataFrame, *, model: str | None = None,
                per_image: dict | None = None) -> list[dict]:
    """CLR vs LR=0.35 (Fig 5a): the CLR curve's mean final accuracy above the other's (noise.gap).
    WD 1e-3 collapses (Fig 5b): its mean final accuracy below 0.2 (2x chance) beyond the noise,
    the floor included (noise.collapse); every run diverged: none trained. Best WD: 1e-4 the
    highest mean final accuracy (noise.best_of). Completed runs give the means, diverged ones
    are compared apart; one run per curve has no spread to read. Each needs Smith's ResNet-56 and
    runs as long as the point where his runs show the effect (EFFECT_AT)."""
    runs_a, runs_b = _model(runs_a, model), _model(runs_b, model)
    acc = curve_means(runs_a, "curve", "final_test_accuracy")
    rows = []
    if {"CLR=0.1-3", "LR=0.35"} <= set(acc):
        found = gap(acc, "CLR=0.1-3", "LR=0.35", higher=True, smith=PAPER["fig5a_final"],
                    scores=_scores(per_image, "fig5a", runs_a, "curve", "correct"))
        found = replace(found, ours=found.ours + stops(runs_a, named=True))
    else:
        found = empty("a curve has no run")
    rows.append(row("fig5a", "CLR 0.1-3 in N iterations beats a constant lr 0.35 run 8N (Fig 5a)",
                    "0.924 vs 0.912", found,
                    untestable(runs_a[runs_a["curve"] == "CLR=0.1-3"], "fig5a", key="fig5a")
                    or untestable(runs_a)))
    big = runs_b[np.isclose(runs_b["wd"].astype(float), 1e-3)]
    if len(big):
        m = next(iter(curve_means(big, "wd", "final_test_accuracy").values()))
        found = collapse(m, 0.2, smith=PAPER["fig5b_final"][1e-3])
        found = replace(found, ours=found.ours + stops(big))
    else:
        found = empty("no run at weight decay 1e-3")
    rows.append(row("fig5b_collapse", "weight decay 1e-3 prevents training at lr up to 3 (Fig 5b)",
                    "0.10 (collapses after ~4k iterations)", found,
                    untestable(runs_b, "fig5b_collapse", key="fig5b_collapse")))
    found = best_of(curve_means(runs_b, "wd", "final_test_accuracy"), 1e-4, higher=True,
                    smith=PAPER["fig5b_final"],
                    scores=_scores(per_image, "fig5b", runs_b, "wd", "correct"))
    rows.append(row("fig5b_best", "weight decay 1e-4 gives the best accuracy of 1e-3..1e-6 "
                    "(Fig 5b)", "1e-4: 0.92; 1e-6: 0.90; 1e-5: 0.89; 1e-3: 0.10", found,
                    untestable(runs_b, "fig5b_best", key="fig5b_best")))
    return rows


def _trend_term(scores: dict | None, tbs: list) -> float | None:
    if scores is None or any(t not in scores for t in tbs):
        return None
    return image_variance([scores[t] for t in tbs], trend_weights(np.log2(tbs)))


def claims_fig8(runs_a: pd.DataFrame, metrics_b: pd.DataFrame, runs_b: pd.DataFrame, *,
                last_k: int = LAST_K, model: str | None = None,
                per_image: dict | None = None) -> list[dict]:
    """Momentum order (Fig 8a), one claim: final test loss 0.95-0.85 < 0.9 < 0.85-0.95, by
    noise.ordering (both adjacent gaps beyond their noise at one-sided ALPHA: reproduced; any of
    the 3 pairs reversed beyond its noise at ALPHA / 3: contradicted).
    TBS (Fig 8b): each completed run's final accuracy read as the mean of its last `last_k` test
    evaluations, the same k for every curve (`last_k_readings`), and the linear trend of the
    per-TBS means in log2(TBS) by noise.trend, a contrast with each TBS's own spread: reproduced
    means a positive trend (higher accuracy per doubling of the batch) beyond the noise, not
    Smith's monotone order of the four (his own last-3 means are not monotone: 512 above 1024,
    smith.SMITH_FIG8B_LAST3). Diverged runs are compared apart in both. Both need
    gResnet56 and runs as long as the point where Smith's runs show the effect (EFFECT_AT: Fig 8a
    on every curve, Fig 8b on the TBS-512 curve, whose log dates it)."""
    runs_a, runs_b = _model(runs_a, model), _model(runs_b, model)
    order = ["CM range=0.95-0.85", "Momentum=0.9", "CM range=0.85-0.95"]
    found = ordering(curve_means(runs_a, "curve", "final_test_loss"), order, higher=False,
                     smith=PAPER["fig8a_final_loss"],
                     scores=_scores(per_image, "fig8a", runs_a, "curve", "loss"))
    rows = [row("fig8a_order", "final test loss ranks momentum decreasing while the lr rises "
                "(0.95-0.85) lowest, constant 0.9 next, increasing (0.85-0.95) highest (Fig 8a)",
                "0.95-0.85: 0.345 < 0.9: 0.36 < 0.85-0.95: 0.385",
                replace(found, ours=found.ours + stops(runs_a, named=True)),
                untestable(runs_a, "fig8a", key="fig8a_order"))]
    readings, k, problem = last_k_readings(metrics_b, runs_b, last_k=last_k)
    means = {} if problem else curve_means(readings, "tbs", "reading", accuracy=True)
    if problem:
        found = empty(problem)
    elif len(means) < 2:
        found = empty("fewer than 2 batch sizes ran")
    else:
        tbs = sorted(means)
        smith = float(np.dot(trend_weights(np.log2(tbs)), [PAPER["fig8b_last3"][t] for t in tbs]))
        scores = _scores(per_image, "fig8b", runs_b, "tbs", "correct", k)
        found = trend(means, {t: math.log2(t) for t in tbs}, smith=smith,
                      extra=_trend_term(scores, tbs), unit="doubling of TBS")
        found = replace(found, ours=f"final accuracy (mean of the last {k} evaluation(s) of "
                        f"each run) {found.ours}{stops(runs_b, named=True)}")
    tbs512 = runs_b[runs_b["tbs"].astype(float) == 512] if "tbs" in runs_b else runs_b.iloc[:0]
    rows.append(row("fig8b_trend", "for a fixed budget, a larger TBS gives a higher accuracy "
                    "(Figs 6, 8b)", "peaks 128: 0.9165 < 256: 0.919 < 512: 0.920 < 1024: 0.9205; "
                    "mean of the last 3 evaluations 128: 0.9139, 256: 0.9163, 512: 0.9191, 1024: "
                    "0.9189, +0.0018 per doubling",
                    found, untestable(runs_b, key="fig8b_trend")
                    or untestable(tbs512 if len(tbs512) else runs_b, "fig8b")))
    return rows


def claims_fig15b(metrics_b: pd.DataFrame, runs_b: pd.DataFrame, *, dataset: str,
                  last_k: int = LAST_K, margin: float = FIG15B_MARGIN, model: str | None = None,
                  per_image: dict | None = None) -> dict:
    """TBS (Fig 15b), an equivalence claim: each completed run's final accuracy as the mean of its
    last `last_k` evaluations, the same k for every curve (`last_k_readings`), and a two-one-
    sided-tests equivalence of every pair of TBS means within ±`margin` = FIG15B_MARGIN, one
    run-to-run SD as Smith's Table 2 gives it (noise.equivalence); a TBS whose runs diverge more
    often than another's is not within a SD of it (contradicted, beyond the count's noise). The
    claim is about CIFAR-100 on gResnet56: on a stand-in dataset or network not testable."""
    runs_b = _model(runs_b, model)
    tag = "" if dataset == "cifar100" else f" [{dataset} stand-in]"
    readings, k, problem = last_k_readings(metrics_b, runs_b, last_k=last_k)
    acc = {} if problem else curve_means(readings, "tbs", "reading", accuracy=True)
    if problem:
        found = empty(problem)
    elif len(acc) < 2:
        found = empty("fewer than 2 batch sizes ran")
    else:
        found = equivalence(acc, margin, smith=PAPER["fig15b_last3"],
                            scores=_scores(per_image, "fig15b", runs_b, "tbs", "correct", k))
        found = replace(found, ours=f"final accuracy (mean of the last {k} evaluation(s) of "
                        "each run) " + "; ".join(f"{int(t)}: {m.text()}" for t, m in acc.items())
                        + "; " + found.ours + stops(runs_b, named=True))
    stand_in = None if dataset == "cifar100" else (
        f"not testable: the claim is about CIFAR-100 and these runs are on {dataset}")
    tbs512 = runs_b[runs_b["tbs"].astype(float) == 512] if "tbs" in runs_b else runs_b.iloc[:0]
    return row("fig15b_equal", "TBS 256/512/1024 end within a standard deviation of each other "
               "(Fig 15b)" + tag, "peaks 0.6907 / 0.691 / 0.687; mean of the last 3 evaluations "
               "0.6878 / 0.6855 / 0.6845, largest gap 0.0033 (Table 2: 0.690 ± 0.004)", found,
               untestable(runs_b, key="fig15b_equal") or stand_in
               or untestable(tbs512 if len(tbs512) else runs_b, "fig15b"))
