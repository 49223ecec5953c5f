"""The verdict rules as arithmetic on arrays: one gap, all of several gaps, an equivalence, a fall
below a threshold, a slope, a range test's turn. Each returns 1 (reproduced), -1 (contradicted) or
0 (inconclusive); CODES names them.

Separate because two callers decide through the same rules: the claims tables decide one set of
runs, and paperlib.paper.plan decides thousands of simulated sets to find how many runs a claim
needs. Kept here on arrays of (diff, se, df), with no tables and no text, the plan's power and the
tables' verdicts are one rule, not two that could drift apart (tests/test_claims_calibration.py
checks that the two paths agree).
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from .student import t_ppf, t_sf

REPRODUCED, CONTRADICTED = "reproduced", "contradicted"
INCONCLUSIVE, NOT_TESTABLE = "inconclusive", "not testable at this scale"
VERDICTS = (REPRODUCED, CONTRADICTED, INCONCLUSIVE, NOT_TESTABLE)
CODES = {1: REPRODUCED, -1: CONTRADICTED, 0: INCONCLUSIVE}  # what the vectorised rules return
ALPHA = 0.025  # one-sided level of each direction: both verdicts together at most 5% with no effect
NOISE_Z = 2.0  # turns_up's multiplier (its docstring gives its own calibration)
# A turn is read off at least this many evaluations: its scatter comes from their m - 2 second
# differences, and with 3 evaluations (one difference, a zero SD) flat noise was called a turn
# in 17% of simulated sweeps, against under 1% from 5 on (tests/test_claims_calibration.py).
MIN_TURN_EVALUATIONS = 5


def t975(df: float) -> float:
    """The two-sided 95% multiplier of Student's t with `df` degrees of freedom."""
    return t_ppf(1.0 - ALPHA, df)


def welch_df(se_a, df_a, se_b, df_b):
    """Welch-Satterthwaite degrees of freedom of hypot(se_a, se_b); a term with infinite df (a
    stated error) adds none of its own uncertainty."""
    va, vb = np.square(np.asarray(se_a, float)), np.square(np.asarray(se_b, float))
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = (np.where(np.isinf(df_a), 0.0, va * va / df_a)
                 + np.where(np.isinf(df_b), 0.0, vb * vb / df_b))
        df = np.where(terms > 0, (va + vb) ** 2 / terms, np.inf)
    return df[()] if df.ndim == 0 else df


def p_noise(diff, se, df):
    """The one-sided p-value of a positive `diff` being noise, P(T > diff / se): 0 for an infinite
    diff (a diverged curve), NaN where there is no noise estimate or nothing to decide."""
    diff, se, df = (np.asarray(v, float) for v in np.broadcast_arrays(diff, se, df))
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(np.isinf(diff), np.sign(diff) * np.inf, diff / se)
    return t_sf(z, df)


def decide_gap(diff, se, df):
    """1 (reproduced) where diff > 0 beyond its noise at one-sided ALPHA, -1 (contradicted) where
    diff < 0 beyond it, else 0."""
    up, down = p_noise(diff, se, df) < ALPHA, p_noise(-np.asarray(diff, float), se, df) < ALPHA
    return np.where(down, -1, np.where(up, 1, 0))


def decide_all(claimed: tuple, against: tuple):
    """A claim made of several comparisons. `claimed` = (diff, se, df) arrays whose last axis holds
    the r gaps that must all be positive; `against` = the m gaps of which any reversed one refutes
    the claim. Reproduced: every claimed gap beyond its noise at one-sided ALPHA (an
    intersection-union test: wrongly "reproduced" at most ALPHA, no correction needed).
    Contradicted: some gap reversed beyond its noise at ALPHA / m (Bonferroni: wrongly
    "contradicted" at most ALPHA). Contradiction wins if both hold."""
    diff, se, df = (np.asarray(v, float) for v in claimed)
    every = np.all(p_noise(diff, se, df) < ALPHA, axis=-1)
    diff, se, df = (np.asarray(v, float) for v in against)
    m = diff.shape[-1]
    some = np.any(p_noise(-diff, se, df) < ALPHA / m, axis=-1)
    return np.where(some, -1, np.where(every, 1, 0))


def decide_tost(diff, se, df, margin: float):
    """Equivalence of m pairwise gaps (last axis) within ±margin. Reproduced: every gap's 90%
    interval lies inside the margin (two one-sided tests at 2 ALPHA = 5% each, per pair; all pairs:
    intersection-union, so a true gap at the margin is called equivalent at most 5% of the time).
    Contradicted: some gap lies beyond the margin by more than its noise at one-sided ALPHA / m
    (Bonferroni over the pairs: with every true gap inside the margin, at most ALPHA)."""
    diff, se, df = (np.asarray(v, float) for v in (diff, se, df))
    with np.errstate(invalid="ignore"):
        inside = np.all((p_noise(margin - diff, se, df) < 2 * ALPHA)
                        & (p_noise(margin + diff, se, df) < 2 * ALPHA), axis=-1)
        m = diff.shape[-1]
        outside = np.any(p_noise(np.abs(diff) - margin, se, df) < ALPHA / m, axis=-1)
    return np.where(outside, -1, np.where(inside, 1, 0))


def pair_gaps(value, se, df, pairs, *, higher: bool) -> tuple:
    """Welch gaps of curve pairs (i, j), signed so that > 0 means i is better (higher if
    `higher`), over the last axis of `value`/`se`/`df` (one entry per curve): (diff, se, df), with
    one entry per pair on the last axis. Two infinite values (both curves diverged) give NaN."""
    value, se, df = (np.asarray(v, float) for v in (value, se, df))
    i, j = (np.array(p) for p in zip(*pairs))
    with np.errstate(invalid="ignore"):
        diff = value[..., i] - value[..., j] if higher else value[..., j] - value[..., i]
    return (diff, np.hypot(se[..., i], se[..., j]),
            welch_df(se[..., i], df[..., i], se[..., j], df[..., j]))


def _all_pairs(k: int) -> list[tuple[int, int]]:
    return [(i, j) for i in range(k) for j in range(i + 1, k)]


def decide_best(value, se, df, *, higher: bool):
    """claims.best_of's rule on curves along the last axis, the claimed best first: reproduced if
    it beats each other curve beyond the noise, contradicted if one beats it (decide_all)."""
    g = pair_gaps(value, se, df, [(0, i) for i in range(1, np.shape(value)[-1])], higher=higher)
    return decide_all(g, g)


def decide_order(value, se, df, *, higher: bool):
    """claims.ordering's rule on curves along the last axis in the claimed order, best first:
    every adjacent pair in order, against any of all pairs reversed (decide_all)."""
    k = np.shape(value)[-1]
    return decide_all(pair_gaps(value, se, df, [(i, i + 1) for i in range(k - 1)], higher=higher),
                      pair_gaps(value, se, df, _all_pairs(k), higher=higher))


def decide_equal(value, se, df, margin: float):
    """claims.equivalence's rule: decide_tost over every pair of the curves on the last axis."""
    return decide_tost(*pair_gaps(value, se, df, _all_pairs(np.shape(value)[-1]), higher=True),
                       margin)


def ols_slope(x, y):
    """Ordinary least squares of y on x over the last axis: (slope, its standard error, df =
    points - 2). The error comes from the residuals of all points together."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    xc = x - x.mean(axis=-1, keepdims=True)
    sxx = np.sum(xc * xc, axis=-1)
    slope = np.sum(xc * y, axis=-1) / sxx
    resid = y - y.mean(axis=-1, keepdims=True) - slope[..., None] * xc
    df = x.shape[-1] - 2
    with np.errstate(divide="ignore", invalid="ignore"):
        se = np.sqrt(np.sum(resid * resid, axis=-1) / df / sxx)
    return slope, se, np.full(np.shape(slope), float(df))


def accuracy_floor(value, test_images: int | None):
    """The test-set sampling floor sqrt(p (1 - p) / n_test) of accuracies `value` (0: none)."""
    if not test_images:
        return np.zeros_like(np.asarray(value, float))
    p = np.clip(value, 0.0, 1.0)
    return np.sqrt(p * (1 - p) / test_images)


def sweep_scatter(loss) -> float:
    """The SD of a range test's single evaluations, read off the curve itself: std(second
    differences) / sqrt(6), blind to a linear trend (see claims.turns_up)."""
    return float(np.std(np.diff(np.asarray(loss, float), 2)) / math.sqrt(6))


def below(value, se, df, floor, n: int, threshold: float) -> tuple:
    """`threshold` minus a curve's mean accuracy, > 0 when below it: (diff, se, df), elementwise.
    Against a fixed number the test-set sampling floor does not cancel: a replicated mean's error
    is hypot(s / sqrt(n), floor), with Welch-Satterthwaite df (the floor is known: no df of its
    own); one run's stated error already holds it."""
    value, se, df, floor = (np.asarray(v, float) for v in (value, se, df, floor))
    if n < 2:
        return threshold - value, se, df
    return threshold - value, np.hypot(se, floor), welch_df(se, df, floor, np.inf)


def _smooth3(values) -> np.ndarray:
    """The centred 3-point moving average that every range-test reading uses (ends: 2 points)."""
    return pd.Series(np.asarray(values, float)).rolling(3, center=True, min_periods=1).mean().to_numpy()


def turns_up_code(loss: np.ndarray, *, ended_early: bool = False) -> tuple[int, dict]:
    """`turns_up`'s rule on one curve of test losses: (1/-1/0, the numbers it read)."""
    loss = np.asarray(loss, float)
    smooth = _smooth3(loss)
    sigma = sweep_scatter(loss)
    noise = (NOISE_Z * math.sqrt(2 / 3) + math.sqrt(2 * math.log(len(loss)) / 3)) * sigma
    i = int(np.argmin(smooth))
    fall, rise = smooth[0] - smooth[i], smooth[-1] - smooth[i]
    tail = smooth[int(len(smooth) * 0.8):]
    still_falling = tail[0] - tail[-1]
    seen = {"i": i, "min": smooth[i], "fall": fall, "rise": rise, "noise": noise,
            "still_falling": still_falling}
    if fall > noise and (rise > noise or ended_early):
        return 1, seen
    if still_falling > noise and i == len(smooth) - 1:
        return -1, seen
    return 0, seen
