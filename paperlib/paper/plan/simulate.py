"""Sets of runs drawn under a given effect, and the claims' own rules deciding each set.

Separate because this is the statistics of the plan, with no claim or profile in it: given the
true means, one run's SD and n, draw the sets (`draw_means`, through the sufficient statistics: for
n normal runs the mean and the variance are independent, N(mu, sigma^2 / n) and sigma^2 chi^2(n -
1) / (n - 1): exact, and as fast at n = 100,000 as at n = 2) and return the code that
paperlib.paper.claims would give each. The designs (designs.py) say which means and which rule
belong to a claim; tests/test_claims_calibration.py checks these draws against the tables' own
path.

The sets are drawn under the conditions the rules meet, not only the noise they assume, since
power computed without them overstates what the runs will see:
- `images`: the test images' disagreement, the variance it adds to each curve's mean (V / N,
  claims.images): one draw of the test set per set of runs, a shift of each curve's mean that no
  number of runs averages away; the rule is handed the term, as a table with per-image records
  is (its true value here).
- `diverge`: each curve's chance that a run diverges (a curve whose every run diverges: 1); a
  curve's mean is then over its completed runs, and the rule sees the counts.
- `rho`: a range test's neighbouring evaluations correlated as AR(1) with this coefficient.
"""
from __future__ import annotations

import math

import numpy as np

from .. import claims as C


def draw_means(rng: np.random.Generator, mu, sigma, n: int, sims: int, *, diverge=None,
               images: float = 0.0) -> dict:
    """The rules' arguments for `sims` sets of n runs per curve around `mu` with run-to-run SD
    `sigma` (one for all curves, or one per curve), each (sims, curves): value, se, df over the
    completed runs (fewer than 2: se NaN, df 0, no spread to read), and, where `diverge` gives a
    chance per curve, the diverged and total runs. `images`: each curve's mean shifted by the
    test images' draw, variance `images`."""
    mu = np.asarray(mu, float)
    sigma = np.broadcast_to(np.asarray(sigma, float), mu.shape)
    shape = (sims, len(mu))
    done = (np.full(shape, n) if diverge is None else
            rng.binomial(n, 1 - np.broadcast_to(np.asarray(diverge, float), mu.shape), shape))
    k = np.maximum(done, 1)
    value = mu + sigma / np.sqrt(k) * rng.standard_normal(shape)
    if images:
        value = value + math.sqrt(images) * rng.standard_normal(shape)
    value = np.where(done >= 1, value, np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        s = sigma * np.sqrt(rng.chisquare(np.maximum(done - 1, 1), shape) / np.maximum(done - 1, 1))
    se = np.where(done >= 2, s / np.sqrt(k), np.nan)
    out = {"value": value, "se": se, "df": np.where(done >= 2, done - 1.0, 0.0)}
    if diverge is not None:
        out.update(diverged=n - done, runs=np.full(shape, n))
    return out


def _pair_extra(images: float, pairs: int):
    return None if not images else np.full(pairs, 2.0 * images)


def simulate_gap(rng, mu, sigma, n, sims, *, higher=True, diverge=None, images=0.0):
    """claims_fig5's CLR-vs-constant rule: curve 0 better than curve 1."""
    s = draw_means(rng, mu, sigma, n, sims, diverge=diverge, images=images)
    p_r, p_c = C.best_p(**s, higher=higher, extra=_pair_extra(images, 1))
    return C.decide(p_r, p_c)


def simulate_below(rng, mu, sigma, n, sims, *, threshold, test_images, diverge=None):
    """claims_fig5's collapse rule: one curve's mean accuracy below `threshold`; every run
    diverged: none trained, reproduced (claims.collapse)."""
    s = draw_means(rng, mu, sigma, n, sims, diverge=diverge)
    floor = C.accuracy_floor(np.nan_to_num(s["value"]), test_images)
    p_r, p_c, *_ = C.below_p(s["value"], s["se"], s["df"], floor, n, threshold)
    codes = C.decide(p_r, p_c)[..., 0]
    if diverge is not None:
        codes = np.where(s["diverged"][..., 0] == n, 1, codes)
    return codes


def simulate_best(rng, mu, sigma, n, sims, *, higher, diverge=None, images=0.0):
    """claims.best_of with the target as curve 0."""
    s = draw_means(rng, mu, sigma, n, sims, diverge=diverge, images=images)
    return C.decide(*C.best_p(**s, higher=higher, extra=_pair_extra(images, len(mu) - 1)))


def simulate_order(rng, mu, sigma, n, sims, *, higher, diverge=None, images=0.0):
    """claims.ordering with the curves of `mu` in the claimed order, best first."""
    s = draw_means(rng, mu, sigma, n, sims, diverge=diverge, images=images)
    k = len(mu)
    adjacent = C.pair_p(s["value"], s["se"], s["df"], [(i, i + 1) for i in range(k - 1)],
                        higher=higher, diverged=s.get("diverged"), runs=s.get("runs"),
                        extra=_pair_extra(images, k - 1))
    every = C.pair_p(s["value"], s["se"], s["df"], C.all_pairs(k), higher=higher,
                     diverged=s.get("diverged"), runs=s.get("runs"),
                     extra=_pair_extra(images, len(C.all_pairs(k))))
    return C.decide(*C.all_of(adjacent.better, every.worse))


def simulate_tost(rng, mu, sigma, n, sims, *, margin, diverge=None, images=0.0):
    """claims.equivalence over every pair of curves."""
    s = draw_means(rng, mu, sigma, n, sims, diverge=diverge, images=images)
    return C.decide(*C.equal_p(**s, margin=margin,
                               extra=_pair_extra(images, len(C.all_pairs(len(mu))))))


def simulate_trend(rng, mu, sigma, n, sims, *, x, diverge=None, images=0.0):
    """claims.trend's rule (the linear contrast in x with each curve's own spread) on n normal
    runs per curve, drawn as each curve's mean and variance."""
    s = draw_means(rng, mu, sigma, n, sims, diverge=diverge, images=images)
    n_done = np.where(s["df"] > 0, s["df"] + 1, np.where(np.isnan(s["value"]), 0, 1))
    var = (s["se"] ** 2) * n_done
    extra = None if not images else float(np.sum(C.trend_weights(x) ** 2)) * images
    p_r, p_c, *_ = C.trend_p(s["value"], var, n_done.astype(float), x,
                             diverged=s.get("diverged"), runs=s.get("runs"), extra=extra)
    return C.decide(p_r, p_c)


def window_cov(lr, windows, rho: float) -> np.ndarray:
    """The correlation matrix (up to sigma^2) of a sweep's window means when its evaluations,
    in order of lr, are AR(1) with coefficient `rho` (0: independent)."""
    lr = np.asarray(lr, float)
    order = np.argsort(lr)
    index = np.empty(len(lr), int)
    index[order] = np.arange(len(lr))
    corr = rho ** np.abs(index[:, None] - index[None, :]) if rho else np.eye(len(lr))
    a = np.stack([((lr >= lo) & (lr < hi)) / max(1, int(((lr >= lo) & (lr < hi)).sum()))
                  for _, lo, hi in windows])
    return a @ corr @ a.T


def simulate_turn(rng, truth, lr, sigma, n, sims, windows, *, rho: float = 0.0):
    """The turn rule (claims.sweeps) on n sweeps evaluated at `lr` with true loss `truth` there
    plus normal noise of SD sigma per evaluation, AR(1) with coefficient `rho` between
    neighbouring evaluations. Each sweep's window means, decided across sweeps; drawn through
    the sufficient statistics of the two differences (their mean, normal, and their sample
    covariance, Wishart by Bartlett's construction), so that n costs nothing. One sweep gives no
    verdict."""
    truth, lr = np.asarray(truth, float), np.asarray(lr, float)
    masks = [(lr >= a) & (lr < b) for _, a, b in windows]
    if n < 2 or any(not m.any() for m in masks):
        return np.zeros(sims, int)  # one sweep, or a window without an evaluation: no verdict
    w = np.array([truth[m].mean() for m in masks])
    diff = np.array([[1.0, -1.0, 0.0], [0.0, -1.0, 1.0]])
    mu = diff @ w
    cov = sigma ** 2 * diff @ window_cov(lr, windows, rho) @ diff.T
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
