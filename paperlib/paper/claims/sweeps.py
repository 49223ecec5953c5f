"""Range tests read at lr windows fixed before any run (smith.WINDOWS): each sweep's mean test loss
in each window, and the rule that decides a turn from them.

Separate because a range test's evaluations are not independent draws: neighbouring evaluations
share most of their training, so their errors are correlated. Read off one sweep's own scatter as
if they were independent, flat noise with AR(1) correlation 0.6 between evaluations was called a
turn in 15.4-19.4% of sweeps of 24-40 evaluations (scripts/claims_stress.py at 8208dd2). So:

- Several sweeps per curve: each sweep's window means are one observation, and the sweeps are
  independent; a turn is decided by one-sample t-tests across sweeps of each sweep's differences
  (outer window minus the inner one), whatever the correlation inside a sweep.
- One sweep: its own scatter is the only noise there is. It is read off the second differences
  of its evaluations, which a linear trend does not move, allowing for AR(1) correlation up to
  RHO_MAX between neighbouring evaluations: the scatter is scaled up to what it would be at that
  correlation, and so is the error of a window's mean. At lower correlation this overstates the
  noise (a one-sweep verdict is conservative); above RHO_MAX it understates it. A one-sweep row
  says so.
"""
from __future__ import annotations

import math

import numpy as np

from .rules import _p, p_noise, satterthwaite

RHO_MAX = 0.6  # the correlation between neighbouring evaluations one sweep's rule allows for


def window_means(lr, loss, windows) -> np.ndarray:
    """A sweep's mean loss in each window [lo, hi) (NaN for a window it has no evaluation in)."""
    lr, loss = np.asarray(lr, float), np.asarray(loss, float)
    out = []
    for _, lo, hi in windows:
        inside = (lr >= lo) & (lr < hi)
        out.append(float(loss[inside].mean()) if inside.any() else math.nan)
    return np.array(out)


def _ar1_mean_factor(m: int, rho: float) -> float:
    """Var(mean of m AR(1) values) / (sigma^2 / m): 1 + 2 sum_k (1 - k/m) rho^k."""
    k = np.arange(1, m)
    return float(1 + 2 * np.sum((1 - k / m) * rho ** k))


def one_sweep(lr, loss, windows, rho: float = RHO_MAX) -> tuple:
    """One sweep's window means with their errors from its own scatter: (means, se, df) per
    window. The scatter of single evaluations is sqrt(mean(d2^2) / (6 - 8 rho + 2 rho^2)), d2 the
    second differences of the evaluations inside the windows' span (the variance of a second
    difference of AR(1) noise), and a window's mean of m evaluations has the AR(1) variance
    sigma^2 / m x (1 + 2 sum_k (1 - k/m) rho^k). df: a third of the second differences, since
    neighbouring ones share evaluations."""
    lr, loss = np.asarray(lr, float), np.asarray(loss, float)
    order = np.argsort(lr)
    lr, loss = lr[order], loss[order]
    lo, hi = min(w[1] for w in windows), max(w[2] for w in windows)
    span = loss[(lr >= lo) & (lr < hi)]
    d2 = np.diff(span, 2)
    means = window_means(lr, loss, windows)
    if len(d2) < 3:
        return means, np.full(len(windows), math.nan), np.zeros(len(windows))
    sigma2 = float(np.mean(d2 * d2)) / (6 - 8 * rho + 2 * rho * rho)
    counts = [int(((lr >= a) & (lr < b)).sum()) for _, a, b in windows]
    se = np.array([math.sqrt(sigma2 * _ar1_mean_factor(m, rho) / m) if m else math.nan
                   for m in counts])
    return means, se, np.full(len(windows), max(1.0, len(d2) / 3))


def turn_p(per_sweep) -> tuple:
    """A turn across sweeps: `per_sweep` (..., sweeps, 3) window means, outer-inner-outer. Each
    sweep gives two differences, first minus middle (the fall) and last minus middle (the rise);
    each is tested by a one-sample t-test across sweeps (n - 1 df). Reproduced: both positive
    beyond the noise at one-sided ALPHA (intersection-union); contradicted: either negative
    beyond it at ALPHA / 2 (Bonferroni). Returns (p_r, p_c, mean differences, their se, df)."""
    w = np.asarray(per_sweep, float)
    diffs = np.stack([w[..., 0] - w[..., 1], w[..., 2] - w[..., 1]], -1)  # (..., sweeps, 2)
    n = diffs.shape[-2]
    mean = diffs.mean(-2)
    se = diffs.std(-2, ddof=1) / math.sqrt(n) if n > 1 else np.full(mean.shape, math.nan)
    df = np.full(mean.shape, n - 1.0)
    return turn_from(mean, se, df)


def turn_p_one(means, se, df) -> tuple:
    """The same rule on one sweep's window means with their errors (one_sweep)."""
    means, se, df = (np.asarray(v, float) for v in (means, se, df))
    mean = np.stack([means[..., 0] - means[..., 1], means[..., 2] - means[..., 1]], -1)
    var = np.stack([np.stack([se[..., 0] ** 2, se[..., 1] ** 2], -1),
                    np.stack([se[..., 2] ** 2, se[..., 1] ** 2], -1)], -2)
    dfs = np.stack([np.stack([df[..., 0], df[..., 1]], -1),
                    np.stack([df[..., 2], df[..., 1]], -1)], -2)
    return turn_from(mean, np.sqrt(var.sum(-1)), satterthwaite(var, dfs))


def turn_from(mean, se, df) -> tuple:
    """The turn rule on the two differences (fall, rise: last axis) with their errors: reproduced
    when both are positive beyond the noise at ALPHA, contradicted when either is negative
    beyond it at ALPHA / 2. Returns (p_r, p_c, mean, se, df)."""
    up, down = p_noise(mean, se, df), p_noise(-mean, se, df)
    p_r = np.max(_p(up), axis=-1)
    p_c = np.minimum(1.0, 2 * np.min(_p(down), axis=-1))
    return p_r, p_c, mean, se, df
