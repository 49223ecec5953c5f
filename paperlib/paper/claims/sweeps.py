"""Range tests read at lr windows fixed before any run (smith.WINDOWS): each sweep's mean test loss
in each window, and the rule that decides a turn from them.

Separate because a range test's evaluations are not independent draws: neighbouring evaluations
share most of their training, so their errors are correlated. Read off one sweep's own scatter as
if they were independent, flat noise with AR(1) correlation 0.6 between evaluations was called a
turn in 15.4-19.4% of sweeps of 24-40 evaluations (scripts/claims_stress.py at 8208dd2); and a
sweep's scatter scaled up for a correlation assumed up to a bound errs wherever the correlation
exceeds it (with the bound at 0.6, the rule of 5c4138d: at correlation 0.8, 7.5% and 12.3% of
4,000 flat sweeps of 24 and 40 evaluations called contradicted). So:

- Several sweeps per curve: each sweep's window means are one observation, and the sweeps are
  independent; a turn is decided by one-sample t-tests across sweeps of each sweep's differences
  (outer window minus the inner one), whatever the correlation inside a sweep.
- One sweep: no verdict, as one run of a training curve gives none: nothing but an assumed
  correlation would turn its scatter into a noise, and at paper scale there are 4 sweeps.
"""
from __future__ import annotations

import math

import numpy as np

from .rules import _p, p_noise


def window_means(lr, loss, windows) -> np.ndarray:
    """A sweep's mean loss in each window [lo, hi) (NaN for a window it has no evaluation in)."""
    lr, loss = np.asarray(lr, float), np.asarray(loss, float)
    out = []
    for _, lo, hi in windows:
        inside = (lr >= lo) & (lr < hi)
        out.append(float(loss[inside].mean()) if inside.any() else math.nan)
    return np.array(out)


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


def turn_from(mean, se, df) -> tuple:
    """The turn rule on the two differences (fall, rise: last axis) with their errors: reproduced
    when both are positive beyond the noise at ALPHA, contradicted when either is negative
    beyond it at ALPHA / 2. Returns (p_r, p_c, mean, se, df)."""
    up, down = p_noise(mean, se, df), p_noise(-mean, se, df)
    p_r = np.max(_p(up), axis=-1)
    p_c = np.minimum(1.0, 2 * np.min(_p(down), axis=-1))
    return p_r, p_c, mean, se, df
