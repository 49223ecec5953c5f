"""Fisher's exact test of two divergence counts, one-sided: does one curve's runs diverge more
often than another's, beyond what the same chance per run would give?

Separate because a diverged run is its own outcome, not a number on the accuracy scale: before, a
curve with one diverged run lost every comparison, and with every curve at the same 1% chance per
run, Fig 8a's ordering at 36 runs per curve was called in 44.1% of sets with no effect
(scripts/claims_stress.py at 8208dd2). The rules (rules.py) now compare the completed runs'
numbers and, beside them, the counts, through this test. Exact and conditional on the total
count, so it needs no large-sample assumption: one diverged run of 108 gives p = 1/3 at best and
never decides a claim.
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
    diverged."""
    d_x, n_x, d_y, n_y = (np.asarray(v, float) for v in np.broadcast_arrays(d_x, n_x, d_y, n_y))
    total, runs = d_x + d_y, n_x + n_y
    top = int(np.max(total, initial=0))
    p = np.zeros(d_x.shape)
    with np.errstate(invalid="ignore"):
        base = _log_comb(runs, total)
        for k in range(top + 1):
            ok = (k >= d_x) & (k <= total) & (k <= n_x) & (total - k <= n_y)
            if not ok.any():
                continue
            term = np.exp(_log_comb(n_x, np.minimum(k, n_x))
                          + _log_comb(n_y, np.clip(total - k, 0, n_y)) - base)
            p += np.where(ok, term, 0.0)
    p = np.where(total > 0, np.minimum(p, 1.0), 1.0)
    return p[()] if p.ndim == 0 else p
