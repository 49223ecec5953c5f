"""Sets of runs drawn under Smith's effect, and the claims' own rules deciding each set.

Separate because this is the statistics of the plan, with no claim or profile in it: given the
true means, one run's SD and n, draw the sets (`draw_means`, through the sufficient statistics) and
return the code that paperlib.paper.claims would give each. The designs (designs.py) say which
means and which rule belong to a claim; tests/test_claims_calibration.py checks these draws
against the tables' own path.
"""
from __future__ import annotations

import math
from typing import Callable

import numpy as np

from .. import claims as C


def draw_means(rng: np.random.Generator, mu, sigma: float, n: int, sims: int, *,
               stated: Callable | None = None) -> tuple:
    """(value, se, df), each (sims, curves): the means of n normal runs per curve around `mu`
    with run-to-run SD `sigma`, drawn through their sufficient statistics. With n = 1 the rule
    has no spread to read: se is `stated(value)` (the rule's stated error) or NaN (none)."""
    mu = np.asarray(mu, float)
    shape = (sims, len(mu))
    value = mu + sigma / math.sqrt(n) * rng.standard_normal(shape)
    if n >= 2:
        s = sigma * np.sqrt(rng.chisquare(n - 1, shape) / (n - 1))
        return value, s / math.sqrt(n), np.full(shape, n - 1.0)
    se = stated(value) if stated is not None else np.full(shape, np.nan)
    return value, se, np.full(shape, np.inf)


def stated_error(dataset: str, test_images: int | None) -> Callable:
    """The error claims.mean_of states for one accuracy run: hypot(floor, SEED_SD)."""
    sd = C.SEED_SD[dataset][0]
    return lambda value: np.hypot(C.accuracy_floor(value, test_images), sd)


def simulate_gap(rng, mu, sigma, n, sims, *, higher=True, stated=None):
    """claims_fig5's CLR-vs-constant rule: curve 0 better than curve 1."""
    return C.decide_gap(*C.pair_gaps(*draw_means(rng, mu, sigma, n, sims, stated=stated),
                                     [(0, 1)], higher=higher))[..., 0]


def simulate_below(rng, mu, sigma, n, sims, *, threshold, test_images, stated=None):
    """claims_fig5's collapse rule: one curve's mean accuracy below `threshold`."""
    value, se, df = draw_means(rng, mu, sigma, n, sims, stated=stated)
    floor = C.accuracy_floor(value, test_images)
    return C.decide_gap(*C.below(value, se, df, floor, n, threshold))[..., 0]


def simulate_best(rng, mu, sigma, n, sims, *, higher, stated=None):
    """claims.best_of with the target as curve 0."""
    return C.decide_best(*draw_means(rng, mu, sigma, n, sims, stated=stated), higher=higher)


def simulate_order(rng, mu, sigma, n, sims, *, higher, stated=None):
    """claims.ordering with the curves of `mu` in the claimed order, best first."""
    return C.decide_order(*draw_means(rng, mu, sigma, n, sims, stated=stated), higher=higher)


def simulate_tost(rng, mu, sigma, n, sims, *, margin, stated=None):
    """claims.equivalence over every pair of curves."""
    return C.decide_equal(*draw_means(rng, mu, sigma, n, sims, stated=stated), margin)


def slope_from_groups(groups, within, n: int, x) -> tuple:
    """claims.tbs_slope's OLS over all runs, from each x's mean of n runs (..., points) and the
    within-group sum of squares (...): (slope, se, df = n points - 2). Equal to OLS on the runs."""
    groups, x = np.asarray(groups, float), np.asarray(x, float)
    xc = x - x.mean()
    sxx = n * np.sum(xc * xc)
    slope = n * (groups @ xc) / sxx
    fitted = groups.mean(axis=-1, keepdims=True) + slope[..., None] * xc
    sse = within + n * np.sum((groups - fitted) ** 2, axis=-1)
    df = n * len(x) - 2
    return slope, np.sqrt(sse / df / sxx), np.full(np.shape(slope), float(df))


def simulate_slope(rng, mu, sigma, n, sims, *, x):
    """claims.tbs_slope's rule on n normal runs at each x, drawn as each x's mean and the
    within-group sum of squares, sigma^2 chi^2(points (n - 1))."""
    mu = np.asarray(mu, float)
    groups = mu + sigma / math.sqrt(n) * rng.standard_normal((sims, len(mu)))
    within = (sigma ** 2 * rng.chisquare(len(mu) * (n - 1), sims) if n >= 2 else np.zeros(sims))
    return C.decide_gap(*slope_from_groups(groups, within, n, x))


def simulate_turn(rng, truth, sigma, n, sims):
    """turns_up's rule on the mean of n sweeps: `truth` at each evaluation plus normal noise of
    SD sigma / sqrt(n)."""
    noise = sigma / math.sqrt(n) * rng.standard_normal((sims, len(truth)))
    return np.array([C.turns_up_code(np.asarray(truth) + e)[0] for e in noise])
