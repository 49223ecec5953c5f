"""How often each verdict rule says a decisive word on runs with no effect, each direction apart,
under the noise it assumes and under the noise a real GPU day has: unequal spreads, heavy tails,
diverged runs, correlated evaluations, image-by-image disagreement between models, a pilot that
picks n, and seeds added after a look.

    python scripts/claims_stress.py [--sims 10000] [--seed 0]   # every rule, per direction
    python scripts/claims_stress.py --dof           # a gap's df, integrated exactly; the trend's
    python scripts/claims_stress.py --pilot 40000   # pilot, plan, final runs (fresh or counted)
    python scripts/claims_stress.py --images 500    # the image term on a gap and on the trend

Each line: the rule, the case, and the shares of simulated sets (no effect in any of them) called
"reproduced" and "contradicted", each to be held to 2.5%. It drives the rules of
paperlib/paper/claims/ as they stand; the rules before (Welch-Satterthwaite's df, a diverged run
split against a missing number, a 90% TOST, one sweep's own scatter, the pilot's runs counted)
are this script's ancestor at 5c4138d.
"""
from __future__ import annotations

import argparse
import math

import numpy as np

from paperlib.paper import claims as C

X = np.log2([128, 256, 512, 1024])


def ar1(rng, shape, rho):
    """Unit-variance AR(1) noise along the last axis."""
    e = rng.standard_normal(shape)
    out = np.empty(shape)
    out[..., 0] = e[..., 0]
    for t in range(1, shape[-1]):
        out[..., t] = rho * out[..., t - 1] + math.sqrt(1 - rho * rho) * e[..., t]
    return out


def draw(rng, sims, n, sds, noise="normal", diverge=0.0, mu=None):
    """(runs (sims, curves, n), diverged (sims, curves, n)) around `mu` (default 0)."""
    sds = np.asarray(sds, float)
    shape = (sims, len(sds), n)
    z = rng.standard_t(3, shape) / math.sqrt(3.0) if noise == "t3" else rng.standard_normal(shape)
    centre = np.zeros(len(sds)) if mu is None else np.asarray(mu, float)
    return centre[None, :, None] + z * sds[None, :, None], rng.random(shape) < diverge


def means(runs, bad) -> dict:
    """The rules' arguments as claims.curve_means makes them."""
    ok = ~bad
    k = ok.sum(-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(ok, runs, 0).sum(-1) / k
        var = np.where(ok, (runs - mean[..., None]) ** 2, 0).sum(-1) / (k - 1)
        se = np.where(k >= 2, np.sqrt(var / k), np.nan)
    return {"value": mean, "se": se, "df": np.where(k >= 2, k - 1.0, 0.0),
            "diverged": bad.sum(-1), "runs": np.full(k.shape, runs.shape[-1])}


def ways(codes) -> tuple[float, float]:
    codes = np.asarray(codes)
    return float(np.mean(codes == 1)), float(np.mean(codes == -1))


def best(rng, sims, n, sds, noise="normal", diverge=0.0):
    return ways(C.decide(*C.best_p(**means(*draw(rng, sims, n, sds, noise, diverge)),
                                   higher=True)))


def order(rng, sims, n, sds, noise="normal", diverge=0.0):
    return ways(C.decide(*C.order_p(**means(*draw(rng, sims, n, sds, noise, diverge)),
                                    higher=False)))


def trend(rng, sims, n, sds, noise="normal", diverge=0.0):
    runs, bad = draw(rng, sims, n, sds, noise, diverge)
    s, k = means(runs, bad), (~bad).sum(-1).astype(float)
    p_r, p_c, *_ = C.trend_p(s["value"], s["se"] ** 2 * k, k, X, diverged=s["diverged"],
                             runs=s["runs"])
    return ways(C.decide(p_r, p_c))


def tost(rng, sims, n, sds, noise="normal", diverge=0.0, at_margin=False):
    """With a true gap at the margin: the share called equivalent (and 0); else: the shares
    called equivalent and different with equal means."""
    mu = [0.0, 0.5, 1.0] if at_margin else None
    s = means(*draw(rng, sims, n, sds, noise, diverge, mu=mu))
    p_r, p_c = C.equal_p(s["value"], s["se"], s["df"], 1.0, diverged=s["diverged"],
                         runs=s["runs"])
    if at_margin:  # and as the rule before read it: p_r halved, each pair's 90% interval
        return (float(np.mean(p_r < C.ALPHA)), 0.0, float(np.mean(p_r / 2 < C.ALPHA)), 0.0)
    return float(np.mean(p_r < C.ALPHA)), float(np.mean(p_c < C.ALPHA))


def turn(rng, sims, length, rho, sweeps):
    """Flat sweeps read at their thirds, decided across `sweeps` sweeps (one: no verdict)."""
    noise = (ar1(rng, (sims, sweeps, length), rho) if rho
             else rng.standard_normal((sims, sweeps, length)))
    lr = np.linspace(0, 1, length)
    masks = np.stack([(lr >= a) & (lr < b) for a, b in ((0, 1 / 3), (1 / 3, 2 / 3), (2 / 3, 2))])
    w = noise @ (masks / masks.sum(-1, keepdims=True)).T
    if sweeps == 1:
        return 0.0, 0.0  # claims.ranges: one sweep gives no verdict
    return ways(C.decide(*C.turn_p(w)[:2]))


def sequential(rng, sims, ladder):
    """A gap looked at after each rung of `ladder` seeds, stopping at the first decisive word."""
    runs = rng.standard_normal((sims, 2, ladder[-1]))
    decided = np.zeros(sims, int)
    for n in ladder:
        code = C.decide(*C.best_p(**means(runs[..., :n], np.zeros((sims, 2, n), bool)),
                                  higher=True))
        decided = np.where(decided == 0, code, decided)
    return ways(decided)


# --- the degrees of freedom ---------------------------------------------------------------------

def _erfc(x):
    """erfc to 1.2e-7 (Numerical Recipes' erfcc, Chebyshev), vectorised."""
    z = np.abs(x)
    t = 1 / (1 + 0.5 * z)
    poly = -z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (
        -0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (
            -0.82215223 + t * 0.17087277))))))))
    r = t * np.exp(poly)
    return np.where(x >= 0, r, 2 - r)


def gap_rate(n1, n2, ratio, dof, quantiles, t975) -> float:
    """A gap's rate in one direction, exactly up to the grid: over the two sample variances
    (chi-square quantile midpoints), the normal probability that the mean gap passes t x SE."""
    c1, c2 = quantiles[n1], quantiles[n2]
    v1, v2 = (c1 / n1)[:, None], (ratio * ratio * c2 / n2)[None, :]
    terms = np.stack(np.broadcast_arrays(v1, v2), -1)
    dfs = np.broadcast_to(np.array([n1 - 1.0, n2 - 1.0]), terms.shape)
    crit = t975(dof(terms, dfs))
    return float(np.mean(0.5 * _erfc(crit * np.sqrt(v1 + v2) / math.sqrt(
        1 / n1 + ratio * ratio / n2) / math.sqrt(2))))


def dof_report(points: int = 300) -> None:
    from paperlib.paper.plan import chi2_ppf
    mid = (np.arange(points) + 0.5) / points
    runs = (2, 3, 4, 5, 6, 8, 12, 20, 40)
    quantiles = {n: np.array([chi2_ppf(float(u), n - 1) for u in mid]) / (n - 1) for n in runs}
    grid = np.geomspace(1, 1e5, 1200)  # Student's 97.5% quantile, interpolated in log df
    q = np.array([C.t_ppf(1 - C.ALPHA, float(d)) for d in grid])

    def t975(df):
        return np.interp(np.log(np.clip(df, 1, 1e5)), np.log(grid), q)

    rules = {"this rule": C.contrast_dof, "Welch-Satterthwaite": C.satterthwaite,
             "Hsu (fewer runs - 1)": lambda v, d: np.min(d, axis=-1)}
    ratios = np.geomspace(1, 3000, 40)
    pairs = ((2, 2), (3, 3), (4, 4), (5, 5), (6, 6), (8, 8), (12, 12), (20, 20), (3, 6), (6, 3),
             (4, 8), (8, 4), (4, 20), (20, 4), (40, 3))
    print("gap, per direction, exactly over the sample variances; largest over SD ratios "
          "1-3,000 (at), and at equal SDs:")
    for n1, n2 in pairs:
        cells = []
        for name, rule in rules.items():
            got = np.array([gap_rate(n1, n2, r, rule, quantiles, t975) for r in ratios])
            cells.append(f"{name} {100 * got.max():.3f}% (at {ratios[got.argmax()]:.3g}), equal "
                         f"{100 * got[0]:.2f}%")
        print(f"  runs {n1} and {n2}: " + "; ".join(cells), flush=True)


def trend_dof(rng, sims: int) -> None:
    w = C.trend_weights(X)
    print(f"Fig 8b's trend, per direction, {sims:,} sets by sufficient statistics "
          "(this rule / Welch-Satterthwaite):")
    for n in (3, 4, 5, 6, 8):
        cells = []
        for sds in ([1, 1, 1, 1], [1, 2.15, 4.64, 10], [10, 4.64, 2.15, 1], [1, 1, 1, 10],
                    [10, 1, 1, 1], [1, 1.5, 2.2, 3.3]):
            sds = np.asarray(sds, float)
            value = (sds / math.sqrt(n) * rng.standard_normal((sims, 4))) @ w
            terms = w * w * sds ** 2 * rng.chisquare(n - 1, (sims, 4)) / (n - 1) / n
            dfs = np.full(terms.shape, n - 1.0)
            se = np.sqrt(terms.sum(-1))
            got = [max(float(np.mean(C.p_noise(value, se, rule(terms, dfs)) < C.ALPHA)),
                       float(np.mean(C.p_noise(-value, se, rule(terms, dfs)) < C.ALPHA)))
                   for rule in (C.contrast_dof, C.satterthwaite)]
            cells.append(f"{'/'.join(f'{v:g}' for v in sds)}: {100 * got[0]:.2f} / "
                         f"{100 * got[1]:.2f}")
        print(f"  n={n}: " + "; ".join(cells), flush=True)


# --- a pilot, a plan on it, the final runs --------------------------------------------------------

def pilot_report(sims: int) -> None:
    """Pilot (4 runs per curve), n from the plan at its pooled SD through plan.final_seeds, the
    final verdict read once: on fresh runs, or on all runs with the pilot's counted."""
    from paperlib.paper import plan as P
    from paperlib.paper.profiles import FIGURES, PAPER_BUDGET_HOURS, PAPER_RATE, PILOT_SEEDS
    pilot = {f: PILOT_SEEDS for f in FIGURES}
    base = P.plan("paper", budget_hours=PAPER_BUDGET_HOURS, seconds_per_image=lambda f: 1 /
                  PAPER_RATE, seeds=pilot, intervals=False)
    rng = np.random.default_rng(5)
    for key, sd, sds in (("fig5a", 0.008, [1, 1]), ("fig5a", 0.008, [1, 4.6]),
                         ("fig5a", 0.0028, [1, 1]), ("fig8b_trend", 0.0025, [1] * 4),
                         ("fig8b_trend", 0.0025, [1, 2.15, 4.64, 10])):
        grid = sd * np.geomspace(0.2, 3.0, 30)
        fresh, counted = [], []
        for s in grid:
            rows = P.plan("paper", budget_hours=PAPER_BUDGET_HOURS, seconds_per_image=lambda f:
                          1 / PAPER_RATE, seeds=pilot, intervals=False,
                          figures=[P.design(key).figure], noise={key: (float(s), "pilot", 6)})
            table = base.copy()
            for _, r in rows.iterrows():
                table.loc[table["claim"] == r["claim"], :] = r.values
            fresh.append(P.final_seeds(table, PAPER_BUDGET_HOURS, pilot)[P.design(key).figure][1])
            n80 = table.set_index("claim").loc[key, "n_80"]
            counted.append(PILOT_SEEDS if not np.isfinite(n80) else max(PILOT_SEEDS, int(n80)))
        sigma = sd * np.asarray(sds, float) / math.sqrt(np.mean(np.square(sds)))
        k = len(sds)

        def sets(n, count):
            return (sigma / math.sqrt(n) * rng.standard_normal((count, k)),
                    sigma ** 2 * rng.chisquare(max(n - 1, 1), (count, k)) * (n > 1))

        p_mean, p_ss = sets(PILOT_SEEDS, sims)
        at = np.clip(np.searchsorted(grid, np.sqrt(p_ss.sum(-1) / (k * (PILOT_SEEDS - 1)))), 0,
                     len(grid) - 1)
        for name, ns in (("fresh runs", np.array(fresh)[at]),
                         ("pilot counted", np.array(counted)[at])):
            codes = np.empty(sims, int)
            for n in np.unique(ns):
                pick = ns == n
                if name == "fresh runs":
                    mean, ss = sets(n, int(pick.sum()))
                else:  # the pilot's runs and n - 4 more, pooled
                    more = n - PILOT_SEEDS
                    m2, ss2 = sets(max(more, 1), int(pick.sum()))
                    mean = (PILOT_SEEDS * p_mean[pick] + more * m2) / n
                    ss = p_ss[pick] + (ss2 + PILOT_SEEDS * more / n * (p_mean[pick] - m2) ** 2
                                       if more else 0.0)
                var = ss / (n - 1)
                if key == "fig5a":
                    p = C.best_p(mean, np.sqrt(var / n), np.full(mean.shape, n - 1.0),
                                 higher=True)
                else:
                    p = C.trend_p(mean, var, np.full(mean.shape, float(n)), X)[:2]
                codes[pick] = C.decide(*p)
            r, c = ways(codes)
            print(f"  {key} SD {sd:g} (SDs {'/'.join(f'{v:g}' for v in sds)}), {name}: n "
                  f"{int(ns.min())}-{int(ns.max())}, reproduced {100 * r:.2f}%, contradicted "
                  f"{100 * c:.2f}%", flush=True)


# --- the test images ------------------------------------------------------------------------------

def images_report(rng, sims: int) -> None:
    """Curves equal over all images but disagreeing image by image (logit offsets of SD 1), each
    set on its own 2,000 test images, 12 runs per curve: with and without the term."""
    for curves in (2, 4):
        got = {True: [], False: []}
        w = np.array([1.0, -1.0]) if curves == 2 else C.trend_weights(X)
        for _ in range(sims):
            mu = rng.normal(1.5, 1.5, 2000)[None, :] + rng.normal(0, 1.0, (curves, 2000))
            p = 1 / (1 + np.exp(-(mu[:, None, :] + rng.normal(0, 0.02, (curves, 12, 1)))))
            y = (rng.random(p.shape) < p).astype(float)
            acc = y.mean(-1)
            term = C.image_variance(list(y), w)
            for use in (True, False):
                extra = term if use else None
                if curves == 2:
                    g = C.pair_p(acc.mean(-1), acc.std(-1, ddof=1) / math.sqrt(12),
                                 np.full(2, 11.0), [(0, 1)], higher=True,
                                 extra=None if extra is None else np.array([extra]))
                    got[use].append(int(C.decide(g.better, g.worse)[0]))
                else:
                    p_r, p_c, *_ = C.trend_p(acc.mean(-1), acc.var(-1, ddof=1), np.full(4, 12.0),
                                             X, extra=extra)
                    got[use].append(int(C.decide(p_r, p_c)))
        for use in (True, False):
            r, c = ways(got[use])
            print(f"  {'gap' if curves == 2 else 'trend'}, {'with' if use else 'without'} the "
                  f"term: reproduced {100 * r:.2f}%, contradicted {100 * c:.2f}%", flush=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sims", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--dof", action="store_true", help="the df rules alone")
    ap.add_argument("--pilot", type=int, default=0, help="only pilot then plan, this many sets")
    ap.add_argument("--images", type=int, default=0, help="only the image term, this many sets")
    args = ap.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    if args.dof:
        dof_report()
        trend_dof(rng, 200_000)
        return 0
    if args.pilot:
        pilot_report(args.pilot)
        return 0
    if args.images:
        images_report(np.random.default_rng(123), args.images)
        return 0
    sims = args.sims

    def show(rule, case, got):
        print(f"{rule:<30} {case:<42} reproduced {100 * got[0]:5.2f}%  contradicted "
              f"{100 * got[1]:5.2f}%", flush=True)

    for n in (3, 4, 8):
        show("gap", f"n={n} own noise", best(rng, sims, n, [1, 1]))
        show("gap", f"n={n} SD 10x", best(rng, sims, n, [1, 10]))
        show("gap", f"n={n} t3 tails", best(rng, sims, n, [1, 1], "t3"))
        for q in (0.01, 0.3, 0.9):
            show("gap", f"n={n} {100 * q:g}% diverge", best(rng, sims, n, [1, 1], diverge=q))
    for n in (4, 36):
        show("ordering of 3 (Fig 8a)", f"n={n} own noise", order(rng, sims, n, [1] * 3))
        show("ordering of 3 (Fig 8a)", f"n={n} SD 10x", order(rng, sims, n, [1, 10, 1]))
        show("ordering of 3 (Fig 8a)", f"n={n} 1% diverge", order(rng, sims, n, [1] * 3,
                                                                  diverge=0.01))
    show("best of 4", "n=4 own noise", best(rng, sims, 4, [1] * 4))
    show("best of 4", "n=4 SD 10x", best(rng, sims, 4, [1, 10, 1, 1]))
    show("best of 4", "n=4 50% diverge", best(rng, sims, 4, [1] * 4, diverge=0.5))
    for n in (4, 12, 24, 60):
        got = tost(rng, sims, n, [0.5] * 3, at_margin=True)
        show("TOST (Fig 15b)", f"n={n}, gap at the margin: equivalent", got[:2])
        show("TOST, 90% intervals (before)", f"n={n}, gap at the margin: equivalent", got[2:])
    show("TOST (Fig 15b)", "n=24 SD 10x, equal means (equivalent: right)",
         tost(rng, sims, 24, [0.1, 1, 0.1]))
    for n in (3, 4, 5, 8):
        show("trend (Fig 8b)", f"n={n} own noise", trend(rng, sims, n, [1] * 4))
        show("trend (Fig 8b)", f"n={n} SD 1 to 10 by TBS", trend(rng, sims, n, [1, 2.15, 4.64,
                                                                                  10]))
        show("trend (Fig 8b)", f"n={n} t3 tails", trend(rng, sims, n, [1] * 4, "t3"))
        show("trend (Fig 8b)", f"n={n} 30% diverge", trend(rng, sims, n, [1] * 4, diverge=0.3))
    for rho in (0.6, 0.8, 0.9):
        for sweeps in (1, 4):
            show(f"range-test turn, {sweeps} sweep(s)", f"40 evaluations, AR(1) rho {rho}",
                 turn(rng, sims, 40, rho, sweeps))
    show("gap, seeds added after a look", "4 -> 8 -> 16 -> 36",
         sequential(rng, sims, [4, 8, 16, 36]))
    print(f"{'largest of 3 gaps, n=24, 95%':<30} {'interval covering it (1 pair / 3 pairs)':<42} "
          + " / ".join(f"{100 * c:.1f}%" for c in coverage(rng, sims)))
    return 0


def coverage(rng, sims) -> list[float]:
    """How often the interval of the largest of 3 gaps (3 equal curves, 24 runs each) covers its
    true value, 0: an ordinary 95% interval, and one simultaneous over the 3 pairs."""
    s = means(rng.standard_normal((sims, 3, 24)), np.zeros((sims, 3, 24), bool))
    g = C.pair_p(s["value"], s["se"], s["df"], C.all_pairs(3), higher=True)
    w = np.argmax(np.abs(g.diff), -1)
    pick = np.arange(sims)
    p = C.p_noise(np.abs(g.diff[pick, w]), g.se[pick, w], g.df[pick, w])
    return [float(np.mean(p >= C.ALPHA / among)) for among in (1, 3)]


if __name__ == "__main__":
    raise SystemExit(main())
