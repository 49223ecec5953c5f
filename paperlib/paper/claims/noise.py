"""A curve's mean with its noise, the gap between two curves, and the generic tests the claims
tables read them with: below a threshold, best of several, an ordering, an equivalence, a slope,
a range test's turn. Each test returns the text for the table's `ours` column and a verdict.

Separate from rules.py because this is the noise model of one set of real runs (which error a
replicated, a one-run or a diverged curve takes: `mean_of`, `curve_means`) and the words the table
shows, while the rules are the bare arithmetic that the plan's simulations share. Separate from
figures.py because no test here knows which figure it reads: each figure picks its curves and
hands them to one of these.
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .rules import (ALPHA, CODES, INCONCLUSIVE, MIN_TURN_EVALUATIONS, accuracy_floor, below,
                    decide_best,
                    decide_equal, decide_gap, decide_order, ols_slope, turns_up_code, welch_df)
from .student import t_ppf


@dataclass(frozen=True)
class Mean:
    """A curve's mean metric over its runs, with the standard error of that mean (None: no
    estimate), its degrees of freedom, and the test-set sampling floor of one reading (0: none)."""
    value: float
    sd: float | None  # run-to-run standard deviation (n >= 2)
    se: float | None
    n: int
    basis: str
    df: float = math.inf  # n - 1 from replicates; inf for a stated error
    floor: float = 0.0

    def text(self) -> str:
        if math.isinf(self.value):
            return "diverged"
        if self.n >= 2 and self.sd is not None and math.isfinite(self.value):
            return f"{self.value:.3f} ± {self.sd:.3f} (n={self.n})"
        return f"{self.value:.3f}"


@dataclass(frozen=True)
class Gap:
    """A difference signed so that > 0 is the claimed direction, its standard error (None: no
    estimate) and degrees of freedom."""
    diff: float
    se: float | None
    df: float
    basis: str

    @property
    def verdict(self) -> str:
        return CODES[int(decide_gap(self.diff, _nan(self.se), self.df))]

    def noise(self, alpha: float = ALPHA) -> float | None:
        """What the diff must exceed: t(1 - alpha, df) x se."""
        if self.se is None:
            return None
        return t_ppf(1.0 - alpha, self.df) * self.se

    def text(self, alpha: float = ALPHA) -> str:
        if math.isnan(self.diff):
            return "both sides diverged"
        if math.isinf(self.diff):
            return "decided by the diverged run(s) of " + ("the other" if self.diff > 0 else
                                                          "this") + " curve"
        if self.se is None:
            return f"{self.diff:+.3f}; no noise estimate ({self.basis})"
        return f"{self.diff:+.3f}, noise ±{self.noise(alpha):.3f} ({self.basis})"


def _nan(x):
    return math.nan if x is None else x


def _bad(runs: pd.DataFrame, values: pd.Series | None = None) -> pd.Series:
    """Runs that diverged or were stopped (or have no value): they lose every comparison."""
    bad = runs["status"].isin(["diverged", "stopped"])
    return bad | values.isna() if values is not None else bad


def mean_of(values: pd.Series, *, accuracy: bool, test_images: int | None,
            seed_sd: tuple[float, str] | None = None) -> Mean:
    """The mean of one curve's values with its standard error: s / sqrt(n), n - 1 df, from n >= 2
    replicates; for one accuracy, the test-set sampling floor sqrt(p (1 - p) / test_images)
    together with the stated run-to-run SD `seed_sd` = (sd, source), hypot of the two, as a known
    error (inf df); else None (one test loss, or one accuracy with no stated SD)."""
    v = values.astype(float).to_numpy()
    n = len(v)
    m = float(v.mean()) if n else math.nan
    if not math.isfinite(m):
        return Mean(m, None, 0.0 if n else None, n, "diverged" if n else "no run")
    floor = float(accuracy_floor(m, test_images)) if accuracy else 0.0
    if n >= 2:
        sd = float(v.std(ddof=1))
        return Mean(m, sd, sd / math.sqrt(n), n, f"t x SE from {n} replicates", df=n - 1,
                    floor=floor)
    if accuracy and seed_sd is not None:
        sd, source = seed_sd
        where = f"test-set sampling on {test_images:,} images and " if test_images else ""
        return Mean(m, None, math.hypot(floor, sd), 1,
                    f"one run: {where}a run-to-run SD of {sd:.4f}, {source}", floor=floor)
    if accuracy:
        return Mean(m, None, None, 1, "one run per curve and no stated run-to-run SD")
    return Mean(m, None, None, n, "one run per curve; no source gives a test loss's run-to-run "
                "spread (REPLICATIONS.md §5)")


def gap(a: Mean, b: Mean, *, higher: bool) -> Gap:
    """a better than b (higher, or lower if not `higher`): Welch's standard error of the difference,
    hypot(se_a, se_b), with Welch-Satterthwaite degrees of freedom."""
    diff = a.value - b.value if higher else b.value - a.value
    if a.se is None or b.se is None:
        return Gap(diff, None, math.nan, a.basis if a.se is None else b.basis)
    basis = a.basis if a.n >= b.n else b.basis
    return Gap(diff, math.hypot(a.se, b.se), float(welch_df(a.se, a.df, b.se, b.df)), basis)


def collapse_gap(m: Mean, threshold: float) -> Gap:
    """`below` for one curve's Mean, as a Gap."""
    diff, se, df = below(m.value, _nan(m.se), m.df, m.floor, m.n, threshold)
    basis = m.basis + (" and the test-set sampling floor" if m.n >= 2 else "")
    return Gap(float(diff), None if m.se is None else float(se), float(df), basis)


def curve_means(runs: pd.DataFrame, key: str, column: str, *, accuracy: bool | None = None,
                seed_sd: tuple[float, str] | None = None) -> dict:
    """Mean (with its error) per curve key of `column` (an accuracy if `accuracy`, by default if
    its name says so); a curve with a run that diverged (or has no value) is the worst there is:
    infinite loss, or no accuracy (-inf)."""
    values = runs[column].astype(float)
    bad = _bad(runs, values)
    images = runs["test_images"] if "test_images" in runs else pd.Series(None, index=runs.index)
    accuracy = "accuracy" in column if accuracy is None else accuracy
    out = {}
    for k, idx in runs.groupby(key).groups.items():
        if bad.loc[idx].any():
            out[k] = Mean(-math.inf if accuracy else math.inf, None, 0.0, len(idx), "diverged")
            continue
        n_test = images.loc[idx].dropna()
        out[k] = mean_of(values.loc[idx], accuracy=accuracy, seed_sd=seed_sd,
                         test_images=int(n_test.iloc[0]) if len(n_test) else None)
    return out


def _arrays(means: dict, keys: list) -> tuple:
    """(value, se, df) of some curves' means as arrays, for the vectorised rules."""
    return (np.array([means[k].value for k in keys]), np.array([_nan(means[k].se) for k in keys]),
            np.array([means[k].df for k in keys]))


def best_of(means: dict, target, *, higher: bool) -> tuple[str, str]:
    """Is `target` the best (highest if `higher`, else lowest) of the curves? With m other curves:
    reproduced if it beats every one beyond the noise at one-sided ALPHA (intersection-union);
    contradicted if some curve beats it beyond the noise at ALPHA / m (Bonferroni); else
    inconclusive. Returns (ours text, verdict)."""
    if target not in means:
        return f"no run of {_name(target)}", INCONCLUSIVE
    if len(means) < 2:
        return f"only {_name(target)} ran: nothing to compare it with", INCONCLUSIVE
    gaps = {k: gap(means[target], m, higher=higher) for k, m in means.items() if k != target}
    code = int(decide_best(*_arrays(means, [target, *gaps]), higher=higher))
    order = sorted(means, key=lambda k: means[k].value, reverse=higher)
    closest = min(gaps, key=lambda k: gaps[k].diff)
    text = "; ".join(f"{_name(k)}: {means[k].text()}" for k in order)
    text += f"; {_name(target)} vs {_name(closest)}: {gaps[closest].text()}"
    if len(gaps) > 1 and gaps[closest].se is not None and math.isfinite(gaps[closest].diff):
        text += (f"; a curve beating it must do so by more than "
                 f"±{gaps[closest].noise(ALPHA / len(gaps)):.3f} (Bonferroni over {len(gaps)})")
    return text, CODES[code]


def ordering(means: dict, order: list, *, higher: bool) -> tuple[str, str]:
    """Do the curves rank as `order` (best first; higher is better if `higher`)? Reproduced if each
    adjacent pair is in the claimed order beyond its noise at one-sided ALPHA (both together: an
    intersection-union test, wrongly "reproduced" at most ALPHA); contradicted if any of the
    len(order) choose 2 pairs is reversed beyond its noise at ALPHA / pairs (Bonferroni); else
    inconclusive. Returns (ours text, verdict)."""
    missing = [k for k in order if k not in means]
    if missing:
        return "no run of " + ", ".join(map(_name, missing)), INCONCLUSIVE
    adjacent = [gap(means[a], means[b], higher=higher) for a, b in zip(order, order[1:])]
    pairs = list(itertools.combinations(order, 2))
    every = [gap(means[a], means[b], higher=higher) for a, b in pairs]
    code = int(decide_order(*_arrays(means, order), higher=higher))
    text = "; ".join(f"{_name(k)}: {means[k].text()}" for k in order)
    text += "".join(f"; {_name(b)} vs {_name(a)}: {g.text()}"
                    for (a, b), g in zip(zip(order, order[1:]), adjacent))
    if code == -1:
        (a, b), g = min(zip(pairs, every), key=lambda pg: pg[1].diff)
        text += (f"; reversed: {_name(a)} vs {_name(b)} {g.diff:+.3f} beyond "
                 f"±{g.noise(ALPHA / len(pairs)) or 0:.3f} (Bonferroni over {len(pairs)} pairs)")
    return text, CODES[code]


def equivalence(means: dict, margin: float) -> tuple[str, str]:
    """Are all curves within ±margin of each other? `decide_tost` over every pair's Welch gap:
    reproduced when every pair's 90% interval lies inside the margin; contradicted when some pair
    lies beyond it by more than its noise at one-sided ALPHA / pairs; else inconclusive. A curve
    without a noise estimate leaves it inconclusive. Returns (ours text, verdict)."""
    keys = sorted(means)
    pairs = list(itertools.combinations(keys, 2))
    gaps = [gap(means[a], means[b], higher=True) for a, b in pairs]
    code = int(decide_equal(*_arrays(means, keys), margin))
    (a, b), widest = max(zip(pairs, gaps), key=lambda pg: abs(pg[1].diff))
    text = f"largest gap {_name(a)} - {_name(b)}: {widest.diff:+.3f}"
    if widest.se is not None:
        half = t_ppf(1 - 2 * ALPHA, widest.df) * widest.se
        text += (f", 90% interval [{widest.diff - half:+.3f}, {widest.diff + half:+.3f}] "
                 f"({widest.basis})")
    else:
        text += f"; no noise estimate ({widest.basis})"
    return text + f"; margin ±{margin:.3f} (Table 2's SD, SETTINGS.md §6)", CODES[code]


def tbs_slope(readings: pd.DataFrame) -> Gap:
    """Ordinary least squares of every run's reading on log2(TBS): the slope per doubling of the
    batch, its standard error from the residuals of all runs, df = runs - 2."""
    slope, se, df = ols_slope(np.log2(readings["tbs"].astype(float).to_numpy()),
                              readings["reading"].astype(float).to_numpy())
    return Gap(float(slope), float(se), float(df), f"t x SE of OLS over {len(readings)} runs")


def turns_up(curve: pd.DataFrame, *, ended_early: bool) -> tuple[str, str]:
    """Does a range test's test loss fall to a minimum and then rise? On the 3-point-smoothed mean
    curve: reproduced if the start and the end of the sweep both lie above its minimum by more
    than the noise, or the sweep ended early (diverged, or its loss above 4x its best) after such
    a fall; contradicted if it is still falling over the last fifth of the sweep by more than the
    noise, down to its last point; else inconclusive. A sweep has no replicate at the same lr, so
    the scatter of single evaluations comes from the curve itself: sigma = std(second
    differences) / sqrt(6), blind to a linear trend. The noise is NOISE_Z standard errors of a
    difference of two 3-point means, 2 sigma sqrt(2/3), plus what picking the lowest of m
    smoothed points subtracts from pure noise, sqrt(2 ln m) sigma / sqrt(3): on flat Gaussian
    noise this calls a turn in under 1% of sweeps of 5 to 100 evaluations
    (tests/test_claims_calibration.py); fewer than MIN_TURN_EVALUATIONS are not read."""
    loss = curve["loss"].to_numpy(float)
    if len(loss) < MIN_TURN_EVALUATIONS:
        return f"{len(loss)} evaluation(s)", INCONCLUSIVE
    code, s = turns_up_code(loss, ended_early=ended_early)
    ours = (f"minimum {s['min']:.3f} at lr {float(curve['lr'].iloc[s['i']]):.3g}: fell "
            f"{s['fall']:.3f}, then rose {s['rise']:.3f} by the end, noise ±{s['noise']:.3f}")
    if code == -1:
        ours += f"; still falling by {s['still_falling']:.3f} over the last fifth"
    return ours, CODES[code]


def _name(key) -> str:
    return f"{key:g}" if isinstance(key, float) else str(key)
