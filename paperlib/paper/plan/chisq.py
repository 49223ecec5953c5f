"""The chi-square distribution's quantiles, and with them the 95% interval of an SD estimated
with df degrees of freedom (`sd_interval`), without scipy.

Separate because the plan's inputs are estimates, and an n computed from an SD read off 3 degrees
of freedom is only as good as that SD: Fig 8a's SD of 0.0224 from our ResNet-8 replicates (3 df)
lies anywhere in 0.013-0.084 at 95%, and the runs its claim needs anywhere in a range ten times
wide. The plan shows that range beside every n. The regularised lower incomplete gamma function
behind chi-square is evaluated by its series below a + 1 and its continued fraction above
(Numerical Recipes' gammp), and inverted by bisection.
"""
from __future__ import annotations

import math


def _gamma_p(a: float, x: float) -> float:
    """The regularised lower incomplete gamma function P(a, x)."""
    if x <= 0:
        return 0.0
    log_front = a * math.log(x) - x - math.lgamma(a)
    if x < a + 1:
        term = total = 1.0 / a
        k = a
        for _ in range(10_000):
            k += 1
            term *= x / k
            total += term
            if abs(term) < abs(total) * 1e-15:
                break
        return total * math.exp(log_front)
    tiny = 1e-300
    b = x + 1 - a
    c, d = 1 / tiny, 1 / b
    h = d
    for i in range(1, 10_000):
        an = -i * (i - a)
        b += 2
        d = an * d + b
        d = tiny if abs(d) < tiny else d
        c = b + an / c
        c = tiny if abs(c) < tiny else c
        d = 1 / d
        step = d * c
        h *= step
        if abs(step - 1) < 1e-15:
            break
    return 1.0 - math.exp(log_front) * h


def chi2_cdf(x: float, df: float) -> float:
    return _gamma_p(df / 2, x / 2)


def chi2_ppf(q: float, df: float) -> float:
    """The q-quantile of chi-square with df degrees of freedom, by bisection to 1e-10."""
    if not 0 < q < 1 or df <= 0:
        raise ValueError(f"chi2_ppf needs 0 < q < 1 and df > 0 (got q={q}, df={df})")
    lo, hi = 0.0, max(1.0, df)
    while chi2_cdf(hi, df) < q:
        lo, hi = hi, hi * 2
    while hi - lo > 1e-10 * max(1.0, hi):
        mid = (lo + hi) / 2
        if chi2_cdf(mid, df) < q:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def sd_interval(sd: float, df: float, level: float = 0.95) -> tuple[float, float]:
    """The `level` interval of a normal SD estimated as `sd` with `df` degrees of freedom:
    sd sqrt(df / chi2(1 - a/2, df)) to sd sqrt(df / chi2(a/2, df)); (sd, sd) for infinite df."""
    if not math.isfinite(df):
        return sd, sd
    a = 1 - level
    return (sd * math.sqrt(df / chi2_ppf(1 - a / 2, df)),
            sd * math.sqrt(df / chi2_ppf(a / 2, df)))
