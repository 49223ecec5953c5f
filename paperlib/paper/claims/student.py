"""Student's t, exactly: its upper tail (t_sf) and its quantiles (t_ppf), without scipy.

Separate because this is numerical analysis, not a rule about Smith's claims: nothing here knows of
runs or verdicts. The rules (rules.py) and the tables' texts (noise.py) read t through it, so a
verdict and the noise the table prints come from the same distribution. The project does not
depend on scipy, so the regularised incomplete beta function behind t is evaluated here by its
continued fraction and inverted by bisection.
"""
from __future__ import annotations

import functools
import math

import numpy as np

_lgamma = np.vectorize(math.lgamma, otypes=[float])
_erfc = np.vectorize(math.erfc, otypes=[float])
_NORMAL_DF = 1e6  # beyond this many degrees of freedom t differs from the normal by < 1e-5


def _beta_fraction(a, b, x):
    """The continued fraction of the regularised incomplete beta function, evaluated by the
    modified Lentz method; converges fast for x < (a + 1) / (a + b + 2)."""
    tiny = 1e-300

    def guard(v):
        return np.where(np.abs(v) < tiny, tiny, v)

    c = np.ones_like(x)
    d = 1.0 / guard(1.0 - (a + b) * x / (a + 1.0))
    h = d.copy()
    for m in range(1, 2000):
        even = m * (b - m) * x / ((a + 2 * m - 1.0) * (a + 2 * m))
        d = 1.0 / guard(1.0 + even * d)
        c = guard(1.0 + even / c)
        h = h * d * c
        odd = -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1.0))
        d = 1.0 / guard(1.0 + odd * d)
        c = guard(1.0 + odd / c)
        step = d * c
        h = h * step
        if np.all(np.abs(step - 1.0) < 1e-13):
            break
    return h


def _betainc(a, b, x):
    """The regularised incomplete beta function I_x(a, b), elementwise."""
    a, b, x = (np.asarray(v, float) for v in np.broadcast_arrays(a, b, x))
    out = np.where(x <= 0, 0.0, 1.0)
    inner = (x > 0) & (x < 1)
    if not inner.any():
        return out
    a, b, x = a[inner], b[inner], x[inner]
    log_front = (_lgamma(a + b) - _lgamma(a) - _lgamma(b) + a * np.log(x) + b * np.log1p(-x))
    direct = x < (a + 1.0) / (a + b + 2.0)
    value = np.empty_like(x)
    if direct.any():
        value[direct] = (np.exp(log_front[direct])
                         * _beta_fraction(a[direct], b[direct], x[direct]) / a[direct])
    flip = ~direct
    if flip.any():
        # the symmetry I_x(a, b) = 1 - I_(1-x)(b, a) puts the fraction where it converges
        value[flip] = 1.0 - (np.exp(log_front[flip])
                             * _beta_fraction(b[flip], a[flip], 1.0 - x[flip]) / b[flip])
    out[inner] = value
    return out


def t_sf(t, df):
    """P(T > t) for Student's t with `df` degrees of freedom (inf: the normal), elementwise; NaN
    where t or df is NaN."""
    t, df = (np.asarray(v, float) for v in np.broadcast_arrays(t, df))
    out = np.full(t.shape, np.nan)
    normal = ~np.isnan(t) & (df >= _NORMAL_DF)
    out[normal] = 0.5 * _erfc(t[normal] / math.sqrt(2.0))
    student = ~np.isnan(t) & ~np.isnan(df) & (df > 0) & (df < _NORMAL_DF)
    if student.any():
        tt, nu = t[student], df[student]
        with np.errstate(over="ignore", invalid="ignore"):
            x = np.where(np.isinf(tt), 0.0, nu / (nu + tt * tt))
        tail = 0.5 * _betainc(nu / 2.0, 0.5, x)
        out[student] = np.where(tt > 0, tail, 1.0 - tail)
    return out[()] if out.ndim == 0 else out


@functools.lru_cache(maxsize=4096)
def t_ppf(q: float, df: float) -> float:
    """The q-quantile of Student's t with `df` degrees of freedom (inf: the normal), by bisection
    on t_sf to 1e-10."""
    if not 0.0 < q < 1.0:
        raise ValueError(f"q ({q}) must lie in (0, 1)")
    if math.isnan(df):
        df = math.inf
    if q < 0.5:
        return -t_ppf(1.0 - q, df)
    target = 1.0 - q
    lo, hi = 0.0, 1.0
    while float(t_sf(hi, df)) > target:
        lo, hi = hi, hi * 2.0
    while hi - lo > 1e-10 * max(1.0, hi):
        mid = 0.5 * (lo + hi)
        if float(t_sf(mid, df)) > target:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)
