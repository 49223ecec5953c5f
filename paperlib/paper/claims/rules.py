"""The verdict rules as arithmetic on arrays: a gap, the best of several, an ordering, an
equivalence, a fall below a threshold, a linear trend. Each returns the two one-sided p-values
(p_r, p_c) of "reproduced" and "contradicted"; `decide` turns them into 1 / -1 / 0 (CODES names
them), and `two_sided` into the one p-value per claim that the table adjusts for multiplicity.

Separate because two callers decide through the same rules: the claims tables decide one set of
runs, and paperlib.paper.plan decides thousands of simulated sets to find how many runs a claim
needs. Kept here on arrays, with no tables and no text, the plan's power and the tables' verdicts
are one rule, not two that could drift apart (tests/test_claims_calibration.py checks that the
two paths agree).

Degrees of freedom (`contrast_dof`): a contrast of curve means, each with its own spread, is read
with Student's t at a df between Hsu's bound (the fewest runs - 1, which never errs above ALPHA
whatever the spreads, but at 4 runs per curve and equal spreads errs in only 0.95% of null sets
per direction) and Welch-Satterthwaite's estimate (which erred in 2.77% per direction for a gap
at 4 runs per curve with SDs 5.2x apart, 2.93% for Fig 8b's trend at 4 runs with SDs 1 to 10
along the batch sizes, and 3.08% for a gap between 4 runs and 20 at equal SDs): TOWARDS_WELCH of
the way from the first to the second, and Hsu's bound itself where a curve has 2 runs. Calibrated
by exact integration over a gap's two sample variances (runs per curve 2-40, SD ratios 1-3,000:
at most 2.500% per direction, the limit as one SD dwarfs the other; 1.22% at 4 runs and equal
SDs) and by simulation of Fig 8b's trend (200,000 sets per pattern of SDs, 3-8 runs: at most
2.48%), scripts/claims_stress.py --dof.

Divergence: a run that diverged is its own outcome. Each pair of curves is compared twice, on the
completed runs' numbers and on the divergence counts (fisher.fisher_more, exact), and where any
run of the pair diverged each direction's ALPHA is split evenly between the two (Bonferroni: the
pair's p is 2 min(p_metric, p_count)). Where none did, the numbers alone decide at the full
ALPHA: conditional on no divergence the count test cannot reject, so nothing is spent on it.
Where the numbers give no test (a curve with fewer than 2 completed runs: no spread of its own),
the counts alone decide at the full ALPHA: there is no second test to share it with. So a curve
whose every run diverged loses to one whose runs completed where the counts say so (4 of 4
against 0 of 4: p = 1/70).
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .fisher import fisher_more
from .student import t_ppf, t_sf

REPRODUCED, CONTRADICTED = "reproduced", "contradicted"
INCONCLUSIVE, NOT_TESTABLE = "inconclusive", "not testable at this scale"
VERDICTS = (REPRODUCED, CONTRADICTED, INCONCLUSIVE, NOT_TESTABLE)
CODES = {1: REPRODUCED, -1: CONTRADICTED, 0: INCONCLUSIVE}  # what the vectorised rules return
ALPHA = 0.025  # one-sided level of each direction: both verdicts together at most 5% with no effect
TOWARDS_WELCH = 0.2  # contrast_dof: the share of the way from Hsu's df to Welch-Satterthwaite's


def t975(df: float) -> float:
    """The two-sided 95% multiplier of Student's t with `df` degrees of freedom."""
    return t_ppf(1.0 - ALPHA, df)


def satterthwaite(variances, dfs):
    """Welch-Satterthwaite degrees of freedom of a sum of independent variance estimates (last
    axis); a term with infinite df (a known variance) adds none of its own uncertainty."""
    v, df = (np.asarray(x, float) for x in np.broadcast_arrays(variances, dfs))
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.sum(np.where(np.isinf(df), 0.0, v * v / df), axis=-1)
        out = np.where(terms > 0, np.sum(v, axis=-1) ** 2 / terms, np.inf)
    return out[()] if out.ndim == 0 else out


def contrast_dof(variances, dfs):
    """The df a contrast of curve means is read with (last axis: one variance term w_c^2 s_c^2 /
    n_c and its df n_c - 1 per curve): Hsu's min(df) where a curve has 2 runs (df 1), else
    min(df) + TOWARDS_WELCH (Satterthwaite's df - min(df)). A term known apart from the runs (the
    test images' disagreement, the test-set floor) is not passed here and adds no df: added to
    Satterthwaite's sum it lifts df towards infinity exactly where the runs' spread came out
    small by chance, which made a collapse read off 2 runs err in 7.6% of null sets."""
    v, df = (np.asarray(x, float) for x in np.broadcast_arrays(variances, dfs))
    few = np.min(df, axis=-1)
    with np.errstate(invalid="ignore"):
        towards = few + TOWARDS_WELCH * (satterthwaite(v, df) - few)
        out = np.where(few <= 1, few, np.where(np.isinf(few), np.inf, towards))
    return out[()] if out.ndim == 0 else out


def welch_df(se_a, df_a, se_b, df_b):
    """The df of a gap between two curve means (`contrast_dof` of their two error terms)."""
    va, vb = np.square(np.asarray(se_a, float)), np.square(np.asarray(se_b, float))
    return contrast_dof(np.stack(np.broadcast_arrays(va, vb), -1),
                        np.stack(np.broadcast_arrays(np.asarray(df_a, float),
                                                     np.asarray(df_b, float)), -1))


def p_noise(diff, se, df):
    """The one-sided p-value of a positive `diff` being noise, P(T > diff / se): NaN where there
    is no noise estimate (se NaN, df NaN or 0)."""
    diff, se, df = (np.asarray(v, float) for v in np.broadcast_arrays(diff, se, df))
    with np.errstate(divide="ignore", invalid="ignore"):
        z = diff / se
    return t_sf(np.where(df > 0, z, np.nan), np.where(df > 0, df, np.nan))


def _p(p):
    """p-values with 'no estimate' (NaN) read as 1: nothing shown."""
    p = np.asarray(p, float)
    return np.where(np.isnan(p), 1.0, p)


def decide(p_r, p_c):
    """1 (reproduced) where p_r < ALPHA, -1 (contradicted) where p_c < ALPHA (it wins), else 0."""
    p_r, p_c = _p(p_r), _p(p_c)
    return np.where(p_c < ALPHA, -1, np.where(p_r < ALPHA, 1, 0))


def two_sided(p_r, p_c):
    """The claim's one p-value, min(1, 2 min(p_r, p_c)): below 2 ALPHA exactly where `decide`
    gives a verdict; what Holm's adjustment over a table reads."""
    return np.minimum(1.0, 2.0 * np.minimum(_p(p_r), _p(p_c)))


def with_counts(p_metric, p_count, any_diverged):
    """A direction's p from the numbers and the divergence counts together: the numbers alone
    where no run diverged; the counts alone where the numbers give no test (NaN: a curve with
    fewer than 2 completed runs); else 2 min(p_metric, p_count) (each at half the level)."""
    p_metric = np.asarray(p_metric, float)
    both = np.minimum(1.0, 2.0 * np.minimum(_p(p_metric), _p(p_count)))
    counted = np.where(np.isnan(p_metric), p_count, both)
    return np.where(any_diverged, counted, p_metric)


class PairP(NamedTuple):
    """Per pair (last axis): p of "i better than j", p of "j better than i", and the gap i - j
    in the better direction with its standard error and degrees of freedom."""
    better: np.ndarray
    worse: np.ndarray
    diff: np.ndarray
    se: np.ndarray
    df: np.ndarray


def pair_p(value, se, df, pairs, *, higher: bool, diverged=None, runs=None, extra=None) -> PairP:
    """Welch gaps of curve pairs (i, j) over the last axis of `value`/`se`/`df` (one entry per
    curve, from completed runs; df = runs - 1), signed so that > 0 means i is better (higher if
    `higher`), read with `welch_df`, each with the divergence counts' exact test where `diverged`
    (and `runs`, all runs per curve) are given. `extra`: a variance per pair (last axis) added to
    the gap's: the test images' disagreement between the two curves (images.py)."""
    value, se, df = (np.asarray(v, float) for v in (value, se, df))
    i, j = (np.array(p) for p in zip(*pairs))
    with np.errstate(invalid="ignore"):
        diff = value[..., i] - value[..., j] if higher else value[..., j] - value[..., i]
    extra = np.zeros_like(diff) if extra is None else np.asarray(extra, float)
    gap_se = np.sqrt(se[..., i] ** 2 + se[..., j] ** 2 + extra)
    gap_df = welch_df(se[..., i], df[..., i], se[..., j], df[..., j])
    better, worse = p_noise(diff, gap_se, gap_df), p_noise(-diff, gap_se, gap_df)
    if diverged is not None:
        d, n = np.asarray(diverged, float), np.asarray(runs, float)
        hit = (d[..., i] + d[..., j]) > 0
        better = with_counts(better, fisher_more(d[..., j], n[..., j], d[..., i], n[..., i]), hit)
        worse = with_counts(worse, fisher_more(d[..., i], n[..., i], d[..., j], n[..., j]), hit)
    return PairP(better, worse, diff, gap_se, gap_df)


def all_of(p_claimed, p_against) -> tuple:
    """A claim made of several comparisons (last axis). Reproduced: every claimed comparison
    beyond its noise at one-sided ALPHA (an intersection-union test: wrongly "reproduced" at most
    ALPHA, no correction needed), p_r = their largest p. Contradicted: some comparison of the m
    against it beyond its noise at ALPHA / m (Bonferroni), p_c = m x their smallest p."""
    p_claimed, p_against = _p(p_claimed), _p(p_against)
    m = p_against.shape[-1]
    return np.max(p_claimed, axis=-1), np.minimum(1.0, m * np.min(p_against, axis=-1))


def all_pairs(k: int) -> list[tuple[int, int]]:
    return [(i, j) for i in range(k) for j in range(i + 1, k)]


def best_p(value, se, df, *, higher: bool, **counts) -> tuple:
    """claims.best_of's rule on curves along the last axis, the claimed best first: reproduced if
    it beats each other curve beyond the noise, contradicted if one beats it (all_of)."""
    g = pair_p(value, se, df, [(0, i) for i in range(1, np.shape(value)[-1])], higher=higher,
               **counts)
    return all_of(g.better, g.worse)


def order_p(value, se, df, *, higher: bool, **counts) -> tuple:
    """claims.ordering's rule on curves along the last axis in the claimed order, best first:
    every adjacent pair in order, against any of all pairs reversed (all_of)."""
    k = np.shape(value)[-1]
    adjacent = pair_p(value, se, df, [(i, i + 1) for i in range(k - 1)], higher=higher, **counts)
    every = pair_p(value, se, df, all_pairs(k), higher=higher, **counts)
    return all_of(adjacent.better, every.worse)


def equal_p(value, se, df, margin: float, *, diverged=None, runs=None, extra=None) -> tuple:
    """Equivalence of every pair of curves within ±margin. Reproduced: every pair's 95% interval
    inside the margin (two one-sided tests at ALPHA each, per pair; all pairs together:
    intersection-union), p_r = the largest TOST p, so that p_r < ALPHA exactly then: a true gap
    at the margin is called equivalent in at most ALPHA of sets. Contradicted: some pair beyond
    the margin by more than its noise, or diverging more often than another (two-sided count
    test), at ALPHA / m (Bonferroni over the m pairs)."""
    k = np.shape(value)[-1]
    pairs = all_pairs(k)
    g = pair_p(value, se, df, pairs, higher=True, extra=extra)
    inside = np.maximum(_p(p_noise(margin - g.diff, g.se, g.df)),
                        _p(p_noise(margin + g.diff, g.se, g.df)))
    outside = p_noise(np.abs(g.diff) - margin, g.se, g.df)
    if diverged is not None:
        d, n = np.asarray(diverged, float), np.asarray(runs, float)
        i, j = (np.array(p) for p in zip(*pairs))
        count = np.minimum(1.0, 2 * np.minimum(fisher_more(d[..., i], n[..., i], d[..., j],
                                                           n[..., j]),
                                               fisher_more(d[..., j], n[..., j], d[..., i],
                                                           n[..., i])))
        outside = with_counts(outside, count, (d[..., i] + d[..., j]) > 0)
    m = len(pairs)
    return np.max(inside, axis=-1), np.minimum(1.0, m * np.min(_p(outside), axis=-1))


def below_p(value, se, df, floor, n, threshold: float) -> tuple:
    """A curve's mean accuracy below `threshold` (reproduced) or above it (contradicted), beyond
    the noise. Against a fixed number the test-set sampling floor does not cancel: a mean's error
    is hypot(s / sqrt(n), floor), read with the runs' n - 1 df (the floor, known, adds none: see
    contrast_dof). Returns (p_r, p_c, diff = threshold - value, se, df)."""
    value, se, df, floor = (np.asarray(v, float) for v in (value, se, df, floor))
    total = np.hypot(se, floor)
    diff = threshold - value
    return p_noise(diff, total, df), p_noise(-diff, total, df), diff, total, df


def trend_weights(x) -> np.ndarray:
    """The linear contrast of curve means in x: w = (x - mean x) / sum (x - mean x)^2, so that
    sum w mean_c is the least-squares slope through the means, per unit of x."""
    x = np.asarray(x, float)
    xc = x - x.mean()
    return xc / np.sum(xc * xc)


def trend_p(means, variances, n, x, *, diverged=None, runs=None, extra=None) -> tuple:
    """A linear trend of curve means in x (last axis) beyond its noise: the contrast L = sum w_c
    mean_c (trend_weights), with SE^2 = sum w_c^2 s_c^2 / n_c (each curve its own spread: the
    Welch gap, generalised) plus `extra` (the test images' disagreement), read with
    `contrast_dof`. With diverged runs, the divergence counts of the lower half of x against the
    upper half (one-sided exact tests) share each direction's ALPHA (`with_counts`). Returns
    (p_r, p_c, L, se, df); reproduced means a positive trend, not a monotone order."""
    means, variances, n = (np.asarray(v, float) for v in (means, variances, n))
    w = trend_weights(x)
    with np.errstate(divide="ignore", invalid="ignore"):  # a curve without runs: no estimate
        terms = w * w * variances / n
        dof = contrast_dof(terms, n - 1)
    var = terms.sum(-1) + (0.0 if extra is None else np.asarray(extra, float))
    contrast, se = np.sum(w * means, axis=-1), np.sqrt(var)
    p_r, p_c = p_noise(contrast, se, dof), p_noise(-contrast, se, dof)
    if diverged is not None:
        d, total = np.asarray(diverged, float), np.asarray(runs, float)
        low = np.asarray(x, float) < np.median(x)
        d_lo, n_lo = d[..., low].sum(-1), total[..., low].sum(-1)
        d_hi, n_hi = d[..., ~low].sum(-1), total[..., ~low].sum(-1)
        hit = (d_lo + d_hi) > 0
        p_r = with_counts(p_r, fisher_more(d_lo, n_lo, d_hi, n_hi), hit)
        p_c = with_counts(p_c, fisher_more(d_hi, n_hi, d_lo, n_lo), hit)
    return p_r, p_c, contrast, se, dof


def accuracy_floor(value, test_images: int | None):
    """The test-set sampling floor sqrt(p (1 - p) / n_test) of accuracies `value` (0: none)."""
    if not test_images:
        return np.zeros_like(np.asarray(value, float))
    p = np.clip(value, 0.0, 1.0)
    return np.sqrt(p * (1 - p) / test_images)
