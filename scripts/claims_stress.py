"""How often each verdict rule says a decisive word on runs with no effect, under the noise it
assumes and under the noise a real GPU day has: unequal spreads, heavy tails, a run that diverges,
correlated evaluations, image-by-image disagreement between models, and seeds added after a look.

    python scripts/claims_stress.py [--sims 2000]

Each line: the rule, the case, and the share of simulated sets (no effect in any of them) that
got "reproduced" or "contradicted". This version drives the rules of claims/ as they stand at
this commit (OLS slope, a diverged run losing every comparison, a range test's turn read off one
sweep's own scatter, a one-run accuracy with a stated SD).
"""
from __future__ import annotations

import argparse
import math

import numpy as np

from paperlib.paper import claims as C


def ar1(rng, shape, rho):
    """Unit-variance AR(1) noise along the last axis."""
    e = rng.standard_normal(shape)
    out = np.empty(shape)
    out[..., 0] = e[..., 0]
    for t in range(1, shape[-1]):
        out[..., t] = rho * out[..., t - 1] + math.sqrt(1 - rho * rho) * e[..., t]
    return out


def draw(rng, sims, n, sds, noise="normal", diverge=0.0):
    """(runs (sims, curves, n), diverged (sims, curves, n)) around 0."""
    sds = np.asarray(sds, float)
    shape = (sims, len(sds), n)
    if noise == "t3":
        z = rng.standard_t(3, shape) / math.sqrt(3.0)  # unit variance
    else:
        z = rng.standard_normal(shape)
    runs = z * sds[None, :, None]
    return runs, rng.random(shape) < diverge


def old_means(runs, bad, *, higher):
    """The rules' (value, se, df) per curve as curve_means made them: a curve with a diverged run
    is the worst there is (se 0, df inf)."""
    n = runs.shape[-1]
    value = runs.mean(-1)
    se = runs.std(-1, ddof=1) / math.sqrt(n)
    df = np.full(value.shape, n - 1.0)
    hit = bad.any(-1)
    value = np.where(hit, -np.inf if higher else np.inf, value)
    se = np.where(hit, 0.0, se)
    df = np.where(hit, np.inf, df)
    return value, se, df


def rate(codes) -> float:
    return float(np.mean(np.asarray(codes) != 0))


def gap_case(rng, sims, n, sds, noise="normal", diverge=0.0):
    runs, bad = draw(rng, sims, n, sds, noise, diverge)
    return rate(C.decide_gap(*C.pair_gaps(*old_means(runs, bad, higher=True), [(0, 1)],
                                          higher=True))[..., 0])


def order_case(rng, sims, n, sds, noise="normal", diverge=0.0):
    runs, bad = draw(rng, sims, n, sds, noise, diverge)
    return rate(C.decide_order(*old_means(runs, bad, higher=False), higher=False))


def best_case(rng, sims, n, sds, noise="normal", diverge=0.0):
    runs, bad = draw(rng, sims, n, sds, noise, diverge)
    return rate(C.decide_best(*old_means(runs, bad, higher=True), higher=True))


def tost_case(rng, sims, n, sds, noise="normal", diverge=0.0, at_margin=False):
    """With a true gap at the margin: the share called equivalent; else: called different."""
    margin = 1.0
    runs, bad = draw(rng, sims, n, sds, noise, diverge)
    if at_margin:
        runs = runs + np.array([0.0, 0.5, 1.0])[None, :, None] * margin
    codes = C.decide_equal(*old_means(runs, bad, higher=True), margin)
    return float(np.mean(codes == (1 if at_margin else -1)))


def slope_case(rng, sims, n, sds, noise="normal", diverge=0.0):
    runs, bad = draw(rng, sims, n, sds, noise, diverge)
    runs = np.where(bad, -50.0, runs)  # a diverged run reads accuracy 0, far below the rest
    x = np.repeat(np.log2([128, 256, 512, 1024]), n)
    y = runs.reshape(sims, -1)
    return rate(C.decide_gap(*C.ols_slope(np.broadcast_to(x, y.shape), y)))


def turn_case(rng, sims, length, rho):
    noise = ar1(rng, (sims, length), rho) if rho else rng.standard_normal((sims, length))
    return rate([C.turns_up_code(e)[0] for e in noise])


def one_run_case(rng, sims, factor):
    """One run per curve at accuracy 0.92 on 10,000 images; the rule states hypot(floor,
    SEED_SD), the runs' own run-to-run SD is `factor` times SEED_SD."""
    true = math.hypot(math.sqrt(0.92 * 0.08 / 10_000), factor * C.SEED_SD["cifar10"][0])
    value = 0.92 + true * rng.standard_normal((sims, 2))
    se = np.hypot(C.accuracy_floor(value, 10_000), C.SEED_SD["cifar10"][0])
    return rate(C.decide_gap(*C.pair_gaps(value, se, np.full_like(se, np.inf), [(0, 1)],
                                          higher=True))[..., 0])


def disagreement_case(rng, sims, n, images, tau, seed_sd):
    """Two curves with equal accuracy over all images but disagreeing image by image (per-image
    logit offsets of SD tau), each set scored on its own draw of `images` test images; a run adds
    a logit shift of SD seed_sd. The rule reads the runs' accuracies alone."""
    codes = []
    for _ in range(sims):
        base = rng.normal(1.5, 1.5, images)
        mu = base[None, :] + rng.normal(0, tau, (2, images))
        shift = rng.normal(0, seed_sd, (2, n, 1))
        p = 1 / (1 + np.exp(-(mu[:, None, :] + shift)))
        acc = (rng.random(p.shape) < p).mean(-1)
        value, se = acc.mean(-1), acc.std(-1, ddof=1) / math.sqrt(n)
        codes.append(int(C.decide_gap(*C.pair_gaps(value, se, np.full(2, n - 1.0), [(0, 1)],
                                                   higher=True))[0]))
    return rate(codes)


def sequential_case(rng, sims, ladder):
    """A gap looked at after each rung of `ladder` seeds, stopping at the first decisive word."""
    runs = rng.standard_normal((sims, 2, ladder[-1]))
    decided = np.zeros(sims, bool)
    for n in ladder:
        part = runs[..., :n]
        value, se = part.mean(-1), part.std(-1, ddof=1) / math.sqrt(n)
        codes = C.decide_gap(*C.pair_gaps(value, se, np.full_like(se, n - 1.0), [(0, 1)],
                                          higher=True))[..., 0]
        decided |= codes != 0
    return float(decided.mean())


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sims", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=0)
    sims = ap.parse_args(argv).sims
    rng = np.random.default_rng(ap.parse_args(argv).seed)
    lines = []

    def show(rule, case, value):
        lines.append((rule, case, value))
        print(f"{rule:<34} {case:<44} {100 * value:5.1f}%", flush=True)

    for n in (4,):
        show("gap (Welch)", f"n={n} own noise", gap_case(rng, sims, n, [1, 1]))
        show("gap (Welch)", f"n={n} SD 10x", gap_case(rng, sims, n, [1, 10]))
        show("gap (Welch)", f"n={n} t3 tails", gap_case(rng, sims, n, [1, 1], "t3"))
        show("gap (Welch)", f"n={n} 1% diverge", gap_case(rng, sims, n, [1, 1], diverge=0.01))
    for n in (4, 36):
        show("ordering of 3 (Fig 8a)", f"n={n} own noise", order_case(rng, sims, n, [1] * 3))
        show("ordering of 3 (Fig 8a)", f"n={n} SD 10x", order_case(rng, sims, n, [1, 10, 1]))
        show("ordering of 3 (Fig 8a)", f"n={n} t3 tails", order_case(rng, sims, n, [1] * 3, "t3"))
        for p in (0.01, 0.002):
            show("ordering of 3 (Fig 8a)", f"n={n} {100 * p:g}% diverge",
                 order_case(rng, sims, n, [1] * 3, diverge=p))
    show("best of 4", "n=4 own noise", best_case(rng, sims, 4, [1] * 4))
    show("best of 4", "n=4 SD 10x", best_case(rng, sims, 4, [1, 10, 1, 1]))
    show("best of 4", "n=4 t3 tails", best_case(rng, sims, 4, [1] * 4, "t3"))
    show("best of 4", "n=4 1% diverge", best_case(rng, sims, 4, [1] * 4, diverge=0.01))
    for at in (False, True):
        what = "equivalent at the margin" if at else "different, equal means"
        show("TOST (Fig 15b)", f"n=24 own noise, {what}",
             tost_case(rng, sims, 24, [0.5] * 3, at_margin=at))
        show("TOST (Fig 15b)", f"n=24 SD 10x, {what}",
             tost_case(rng, sims, 24, [0.1, 1, 0.1], at_margin=at))
        show("TOST (Fig 15b)", f"n=24 t3, {what}",
             tost_case(rng, sims, 24, [0.5] * 3, "t3", at_margin=at))
        show("TOST (Fig 15b)", f"n=24 1% diverge, {what}",
             tost_case(rng, sims, 24, [0.5] * 3, diverge=0.01, at_margin=at))
    for n in (2, 5):
        show("slope (Fig 8b)", f"n={n} own noise", slope_case(rng, sims, n, [1] * 4))
        show("slope (Fig 8b)", f"n={n} SD 2x by TBS", slope_case(rng, sims, n, [1, 1.26, 1.59, 2]))
        show("slope (Fig 8b)", f"n={n} SD 10x by TBS", slope_case(rng, sims, n, [1, 2.15, 4.64, 10]))
        show("slope (Fig 8b)", f"n={n} t3 tails", slope_case(rng, sims, n, [1] * 4, "t3"))
        show("slope (Fig 8b)", f"n={n} 1% diverge", slope_case(rng, sims, n, [1] * 4, diverge=0.01))
    for length in (5, 24, 40):
        show("range-test turn, one sweep", f"{length} evaluations, white",
             turn_case(rng, sims, length, 0.0))
    for rho in (0.6, 0.8):
        for length in (24, 40):
            show("range-test turn, one sweep", f"{length} evaluations, AR(1) rho {rho}",
                 turn_case(rng, sims, length, rho))
    for factor in (1.0, 2.0, 3.5):
        show("one-run accuracy, stated SD", f"true SD {factor:g}x stated",
             one_run_case(rng, sims, factor))
    for tau in (0.0, 1.0):
        show("gap, shared test images", f"n=16, 2,000 images, disagreement SD {tau:g}",
             disagreement_case(rng, min(sims, 1000), 16, 2000, tau, 0.02))
    show("gap, seeds added after a look", "2 -> 4", sequential_case(rng, sims, [2, 4]))
    show("gap, seeds added after a look", "4 -> 8 -> 16 -> 36",
         sequential_case(rng, sims, [4, 8, 16, 36]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
