"""Sets of runs drawn under a given effect, and the claims' own rules deciding each set.

Separate because this is the statistics of the plan, with no claim or profile in it: given the
true means, one run's SD and n, draw the sets (`draw_means`, through the sufficient statistics: for
n normal runs the mean and the variance are independent, N(mu, sigma^2 / n) and sigma^2 chi^2(n -
1) / (n - 1): exact, and as fast at n = 100,000 as at n = 2) and return the code that
paperlib.paper.claims would give each. The designs (designs.py) say which means and which rule
belong to a claim; tests/test_claims_calibration.py checks these draws against the tables' own
path.
"""
from __future__ import annotations

import math

import numpy as np

from .. import claims as C


def draw_means(rng: np.random.Generator, mu, sigma, n: int, sims: int) -> tuple:
    """(value, se, df), each (sims, curves): the means of n normal runs per curve around `mu`
    with run-to-run SD `sigma` (one for all curves, or one per curve). One run per curve has no
    spread to read: se NaN, df 0 (no verdict)."""
    mu = np.asarray(mu, float)
    sigma = np.broadcast_to(np.asarray(sigma, float), mu.shape)
    shape = (sims, len(mu))
    value = mu + sigma / math.sqrt(n) * rng.standard_normal(shape)
    if n >= 2:
        s = sigma * np.sqrt(rng.chisquare(n - 1, shape) / (n - 1))
        return value, s / math.sqrt(n), np.full(shape, n - 1.0)
    return value, np.full(shape, np.nan), np.zeros(shape)


def simulate_gap(rng, mu, sigma, n, sims, *, higher=True):
    """claims_fig5's CLR-vs-constant rule: curve 0 better than curve 1."""
    g = C.pair_p(*draw_means(rng, mu, sigma, n, sims), [(0, 1)], higher=higher)
    return C.decide(g.better[..., 0], g.worse[..., 0])


def simulate_below(rng, mu, sigma, n, sims, *, threshold, test_images):
    """claims_fig5's collapse rule: one curve's mean accuracy below `threshold`."""
    value, se, df = draw_means(rng, mu, sigma, n, sims)
    floor = C.accuracy_floor(value, test_images)
    p_r, p_c, *_ = C.below_p(value, se, df, floor, n, threshold)
    return C.decide(p_r, p_c)[..., 0]


def simulate_best(rng, mu, sigma, n, sims, *, higher):
    """claims.best_of with the target as curve 0."""
    return C.decide(*C.best_p(*draw_means(rng, mu, sigma, n, sims), higher=higher))


def simulate_order(rng, mu, sigma, n, sims, *, higher):
    """claims.ordering with the curves of `mu` in the claimed order, best first."""
    return C.decide(*C.order_p(*draw_means(rng, mu, sigma, n, sims), higher=higher))


def simulate_tost(rng, mu, sigma, n, sims, *, margin):
    """claims.equivalence over every pair of curves."""
    return C.decide(*C.equal_p(*draw_means(rng, mu, sigma, n, sims), margin))


def simulate_trend(rng, mu, sigma, n, sims, *, x):
    """claims.trend's rule (the linear contrast in x with each curve's own spread) on n normal
    runs per curve, drawn as each curve's mean and variance."""
    mu = np.asarray(mu, float)
    sigma = np.broadcast_to(np.asarray(sigma, float), mu.shape)
    shape = (sims, len(mu))
    means = mu + sigma / math.sqrt(n) * rng.standard_normal(shape)
    var = (sigma ** 2 * rng.chisquare(n - 1, shape) / (n - 1) if n >= 2
           else np.full(shape, np.nan))
    p_r, p_c, *_ = C.trend_p(means, var, np.full(shape, float(n)), x)
    return C.decide(p_r, p_c)


def simulate_turn(rng, truth, lr, sigma, n, sims, windows):
    """The turn rule (claims.sweeps) on n sweeps evaluated at `lr` with true loss `truth` there
    plus independent normal noise of SD sigma per evaluation. Two or more sweeps: each sweep's
    window means, decided across sweeps; drawn through the sufficient statistics of the two
    differences (their mean, normal, and their sample covariance, Wishart by Bartlett's
    construction), so that n costs nothing. One sweep: drawn evaluation by evaluation and read off
    its own scatter."""
    truth, lr = np.asarray(truth, float), np.asarray(lr, float)
    masks = [(lr >= a) & (lr < b) for _, a, b in windows]
    counts = np.array([m.sum() for m in masks])
    if (counts == 0).any():
        return np.zeros(sims, int)  # the rule reads no window it has no evaluation in
    if n == 1:
        codes = []
        for e in rng.standard_normal((sims, len(truth))):
            p_r, p_c, *_ = C.turn_p_one(*C.one_sweep(lr, truth + sigma * e, windows))
            codes.append(int(C.decide(p_r, p_c)))
        return np.array(codes)
    w = np.array([truth[m].mean() for m in masks])
    v = sigma ** 2 / counts
    mu = np.array([w[0] - w[1], w[2] - w[1]])
    cov = np.array([[v[0] + v[1], v[1]], [v[1], v[2] + v[1]]])
    chol = np.linalg.cholesky(cov)
    mean = mu + rng.standard_normal((sims, 2)) @ chol.T / math.sqrt(n)
    t11, t22 = np.sqrt(rng.chisquare(n - 1, sims)), np.sqrt(rng.chisquare(n - 2, sims)
                                                             if n > 2 else np.zeros(sims))
    t21 = rng.standard_normal(sims)
    a = np.einsum("ij,sjk->sik", chol, np.stack([np.stack([t11, np.zeros(sims)], -1),
                                                 np.stack([t21, t22], -1)], -2))
    scatter = np.einsum("sij,sij->si", a, a) / (n - 1)  # the diagonal of A A^T / (n - 1)
    se = np.sqrt(scatter / n)
    p_r, p_c, *_ = C.turn_from(mean, se, np.full(se.shape, n - 1.0))
    return C.decide(p_r, p_c)
