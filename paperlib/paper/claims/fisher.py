"""Fisher's exact test of two divergence counts, one-sided: does one curve's runs diverge more
often than another's, beyond what the same chance per run would give?

Separate because a diverged run is its own outcome, not a number on the accuracy scale: before, a
curve with one diverged run lost every comparison, and with every curve at the same 1% chance per
run, Fig 8a's ordering at 36 runs per curve was called in 44.1% of sets with no effect
(scripts/claims_stress.py at 8208dd2). The rules (rules.py) now compare the completed runs'
numbers and, beside them, the counts, through this test. Exact and conditional on the total
count, so it needs no large-sample assumption: one diverged run among Fig 8a's 108 gives a pair
of its curves (36 runs each) p = 1/2 and never decides a claim.
"""
from __future__ import annotations

import math

import numpy as np

_lgamma = np.vectorize(math.lgamma, otypes=[float])


def _log_comb(n, k):
    return _lgamma(n + 1.0) - _lgamma(k + 1.0) - _lgamma(n - k + 1.0)


def fisher_more(d_x, n_x, d_y, n_y):
    """P(X >= d_x) for X, the diverged runs of curve x, given that the two curves' runs (n_x and
    n_y of them) hold d_x + d_y diverged runs in all and each run is as likely to be one:
    the one-sided p-value of "x diverges more often than y", elementwise. 1 where no run
    diverged. The hypergeometric tail is summed from whichever end of its support is nearer
    d_x, so that a count of thousands costs as little as a count of four."""
    d_x, n_x, d_y, n_y = (np.asarray(v, float) for v in np.broadcast_arrays(d_x, n_x, d_y, n_y))
    total, runs = d_x + d_y, n_x + n_y
    lo, hi = np.maximum(0.0, total - n_y), np.minimum(total, n_x)
    upper = d_x <= hi
    count = np.where(upper, hi - d_x + 1, d_x - lo)  # terms of the tail summed
    use_upper = upper & (count <= d_x - lo)
    start = np.where(use_upper, d_x, lo)
    steps = np.where(use_upper, hi - d_x + 1, d_x - lo)
    top = int(np.max(steps, initial=0))
    summed = np.zeros(d_x.shape)
    with np.errstate(invalid="ignore", over="ignore"):
        base = _log_comb(runs, total)
        for j in range(top):
            k = start + j
            ok = j < steps
            if not ok.any():
                continue
            term = np.exp(np.where(ok, _log_comb(n_x, np.clip(k, 0, n_x))
                                   + _log_comb(n_y, np.clip(total - k, 0, n_y)) - base, -np.inf))
            summed += term
    p = np.where(use_upper, summed, 1.0 - summed)
    p = np.where(total > 0, np.clip(p, 0.0, 1.0), 1.0)
    return p[()] if p.ndim == 0 else p
