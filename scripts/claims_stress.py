"""How often each verdict rule says a decisive word on runs with no effect, under the noise it
assumes and under the noise a real GPU day has: unequal spreads, heavy tails, a run that diverges,
correlated evaluations, image-by-image disagreement between models, and seeds added after a look.

    python scripts/claims_stress.py [--sims 2000] [--seed 0]
    python scripts/claims_stress.py --images 4000      # the image term alone, more sets (seed 123)
    python scripts/claims_stress.py --pilot 20000      # pilot then plan alone, more sets (seed 5)

Each line: the rule, the case, and the share of simulated sets (no effect in any of them) that
got "reproduced" or "contradicted". It drives the rules of paperlib/paper/claims/ as they stand.
The same cases through the rules before they changed (OLS slope, a diverged run losing every
comparison, a range test's turn read off one sweep's own scatter, a one-run accuracy with a
stated SD) are this script at commit 8208dd2: `git worktree add /tmp/before 8208dd2 && cd
/tmp/before && python scripts/claims_stress.py`.
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


def means(runs, bad) -> dict:
    """The rules' arguments as claims.curve_means makes them: each curve's mean, SE and df over
    its completed runs, and its divergence counts."""
    ok = ~bad
    k = ok.sum(-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(ok, runs, 0).sum(-1) / k
        var = np.where(ok, (runs - mean[..., None]) ** 2, 0).sum(-1) / (k - 1)
        se = np.where(k >= 2, np.sqrt(var / k), np.nan)
    return {"value": mean, "se": se, "df": np.where(k >= 2, k - 1.0, 0.0),
            "diverged": bad.sum(-1), "runs": np.full(k.shape, runs.shape[-1])}, var, k


def rate(codes) -> float:
    return float(np.mean(np.asarray(codes) != 0))


def gap_case(rng, sims, n, sds, noise="normal", diverge=0.0):
    s, _, _ = means(*draw(rng, sims, n, sds, noise, diverge))
    return rate(C.decide(*C.best_p(**s, higher=True)))


def order_case(rng, sims, n, sds, noise="normal", diverge=0.0):
    s, _, _ = means(*draw(rng, sims, n, sds, noise, diverge))
    return rate(C.decide(*C.order_p(**s, higher=False)))


def best_case(rng, sims, n, sds, noise="normal", diverge=0.0):
    s, _, _ = means(*draw(rng, sims, n, sds, noise, diverge))
    return rate(C.decide(*C.best_p(**s, higher=True)))


def tost_case(rng, sims, n, sds, noise="normal", diverge=0.0, at_margin=False):
    """With a true gap at the margin: the share called equivalent; else: called different."""
    margin = 1.0
    runs, bad = draw(rng, sims, n, sds, noise, diverge)
    if at_margin:
        runs = runs + np.array([0.0, 0.5, 1.0])[None, :, None] * margin
    s, _, _ = means(runs, bad)
    p_r, p_c = C.equal_p(s["value"], s["se"], s["df"], margin, diverged=s["diverged"],
                         runs=s["runs"])
    return float(np.mean((p_r if at_margin else p_c) < C.ALPHA))


def slope_case(rng, sims, n, sds, noise="normal", diverge=0.0):
    """Fig 8b's rule: the linear contrast of the per-TBS means in log2 TBS."""
    runs, bad = draw(rng, sims, n, sds, noise, diverge)
    s, var, k = means(runs, bad)
    p_r, p_c, *_ = C.trend_p(s["value"], var, k.astype(float), np.log2([128, 256, 512, 1024]),
                             diverged=s["diverged"], runs=s["runs"])
    return rate(C.decide(p_r, p_c))


WINDOWS = (("a", 0.0, 1 / 3), ("b", 1 / 3, 2 / 3), ("c", 2 / 3, 2.0))


def turn_case(rng, sims, length, rho, sweeps=1):
    """A flat sweep read at three windows (its thirds): one sweep's own scatter, or a t-test
    across `sweeps` sweeps."""
    lr = np.linspace(0, 1, length)
    shape = (sims, sweeps, length)
    noise = ar1(rng, shape, rho) if rho else rng.standard_normal(shape)
    if sweeps == 1:
        return rate([int(C.decide(*C.turn_p_one(*C.one_sweep(lr, e[0], WINDOWS))[:2]))
                     for e in noise])
    w = np.stack([[C.window_means(lr, e, WINDOWS) for e in sets] for sets in noise])
    return rate(C.decide(*C.turn_p(w)[:2]))


def one_run_case(rng, sims, factor):
    """One run per curve: no spread to read, so no verdict, whatever the runs' true SD."""
    value = 0.92 + factor * C.SEED_SD["cifar10"][0] * rng.standard_normal((sims, 2))
    g = C.pair_p(value, np.full(value.shape, np.nan), np.zeros(value.shape), [(0, 1)],
                 higher=True)
    return rate(C.decide(g.better[..., 0], g.worse[..., 0]))


def disagreement_case(rng, sims, n, images, tau, seed_sd):
    """Two curves with equal accuracy over all images but disagreeing image by image (per-image
    logit offsets of SD tau), each set scored on its own draw of `images` test images; a run adds
    a logit shift of SD seed_sd. The rule takes the disagreement term from the per-image records."""
    codes = []
    for _ in range(sims):
        base = rng.normal(1.5, 1.5, images)
        mu = base[None, :] + rng.normal(0, tau, (2, images))
        shift = rng.normal(0, seed_sd, (2, n, 1))
        p = 1 / (1 + np.exp(-(mu[:, None, :] + shift)))
        y = (rng.random(p.shape) < p).astype(float)
        acc = y.mean(-1)
        value, se = acc.mean(-1), acc.std(-1, ddof=1) / math.sqrt(n)
        g = C.pair_p(value, se, np.full(2, n - 1.0), [(0, 1)], higher=True,
                     extra=np.array([C.image_variance([y[0], y[1]], [1, -1])]))
        codes.append(int(C.decide(g.better, g.worse)[0]))
    return rate(codes)


def sequential_case(rng, sims, ladder):
    """A gap looked at after each rung of `ladder` seeds, stopping at the first decisive word:
    what the plan lock labels exploratory (the rule itself is unchanged by it)."""
    runs = rng.standard_normal((sims, 2, ladder[-1]))
    decided = np.zeros(sims, bool)
    for n in ladder:
        s, _, _ = means(runs[..., :n], np.zeros((sims, 2, n), bool))
        decided |= C.decide(*C.best_p(**s, higher=True)) != 0
    return float(decided.mean())


def pilot_case(rng, sims, key, curves, sigma, pilot=4, cap=60):
    """An internal pilot: `pilot` runs per curve, the plan's n for 80% power under Smith's effect
    at the pilot's pooled SD (plan.runs_for_power on a grid of SDs), the final n read once with
    the pilot's runs counted; no effect. Returns (reproduced, contradicted, fewest n, most n)."""
    from paperlib.paper import plan as P
    grid = sigma * np.geomspace(0.25, 4, 9)
    lookup = []
    for sd in grid:
        n, _ = P.runs_for_power(key, "paper", sigma=float(sd), sims=300)
        lookup.append(cap if n is None else min(cap, n))
    runs = rng.standard_normal((sims, curves, cap)) * sigma
    spread = np.sqrt(runs[..., :pilot].var(-1, ddof=1).mean(-1))
    n = np.maximum(pilot, np.array(lookup)[np.clip(np.searchsorted(grid, spread), 0, 8)])
    codes = np.empty(sims, int)
    for m in np.unique(n):
        at = n == m
        s, _, _ = means(runs[at][..., :m], np.zeros((int(at.sum()), curves, m), bool))
        rule = C.order_p(**s, higher=False) if key == "fig8a_order" else C.best_p(**s,
                                                                                   higher=True)
        codes[at] = C.decide(*rule)
    return float(np.mean(codes == 1)), float(np.mean(codes == -1)), int(n.min()), int(n.max())


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sims", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--images", type=int, default=0, help="only the image term, this many sets")
    ap.add_argument("--pilot", type=int, default=0, help="only pilot then plan, this many sets")
    args = ap.parse_args(argv)
    sims = args.sims
    rng = np.random.default_rng(args.seed)
    if args.images:
        rng = np.random.default_rng(123)
        for tau in (0.0, 1.0):
            print(f"gap, shared test images, n=16, 2,000 images, disagreement SD {tau:g}: "
                  f"{100 * disagreement_case(rng, args.images, 16, 2000, tau, 0.02):.2f}%")
        return 0
    if args.pilot:
        rng = np.random.default_rng(5)
        for key, curves, sigma in (("fig8a_order", 3, 0.02), ("fig5a", 2, 0.0028)):
            up, down, lo, hi = pilot_case(rng, args.pilot, key, curves, sigma)
            print(f"pilot then plan, {key} (n {lo} to {hi}): reproduced {100 * up:.3f}%, "
                  f"contradicted {100 * down:.3f}%")
        return 0
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
        show("slope (Fig 8b)", f"n={n} SD 10x by TBS",
             slope_case(rng, sims, n, [1, 2.15, 4.64, 10]))
        show("slope (Fig 8b)", f"n={n} t3 tails", slope_case(rng, sims, n, [1] * 4, "t3"))
        show("slope (Fig 8b)", f"n={n} 1% diverge", slope_case(rng, sims, n, [1] * 4, diverge=0.01))
    for n in (4, 6, 8, 12):
        show("slope (Fig 8b)", f"n={n} SD 10x by TBS, rising",
             slope_case(rng, sims, n, [1, 2.15, 4.64, 10]))
        show("slope (Fig 8b)", f"n={n} SD 10x by TBS, falling",
             slope_case(rng, sims, n, [10, 4.64, 2.15, 1]))
    for n in (5, 6, 8):
        show("gap (Welch)", f"n={n} SD 10x", gap_case(rng, sims, n, [1, 10]))
    for length in (5, 24, 40):
        show("range-test turn, one sweep", f"{length} evaluations, white",
             turn_case(rng, sims, length, 0.0))
    for rho in (0.6, 0.8):
        for length in (24, 40):
            show("range-test turn, one sweep", f"{length} evaluations, AR(1) rho {rho}",
                 turn_case(rng, sims, length, rho))
    for rho in (0.0, 0.6, 0.8):
        show("range-test turn, 4 sweeps", f"40 evaluations, AR(1) rho {rho}",
             turn_case(rng, sims, 40, rho, sweeps=4))
    for factor in (1.0, 2.0, 3.5):
        show("one-run accuracy, stated SD", f"true SD {factor:g}x stated",
             one_run_case(rng, sims, factor))
    for tau in (0.0, 1.0):
        show("gap, shared test images", f"n=16, 2,000 images, disagreement SD {tau:g}",
             disagreement_case(rng, min(sims, 1000), 16, 2000, tau, 0.02))
    for key, curves, sigma in (("fig5a", 2, 0.0028), ("fig8a_order", 3, 0.02),
                               ("fig5b_best", 4, 0.01)):
        up, down, lo, hi = pilot_case(rng, sims, key, curves, sigma)
        show(f"pilot then plan, {key}", f"reproduced (n {lo} to {hi})", up)
        show(f"pilot then plan, {key}", f"contradicted (n {lo} to {hi})", down)
    show("gap, seeds added after a look", "2 -> 4", sequential_case(rng, sims, [2, 4]))
    show("gap, seeds added after a look", "4 -> 8 -> 16 -> 36",
         sequential_case(rng, sims, [4, 8, 16, 36]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
