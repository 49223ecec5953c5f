"""A curve's mean with its noise, and the generic tests the claims tables read them with: a gap,
best of several, an ordering, an equivalence, a fall below a threshold, a linear trend, a range
test's turn. Each returns a Finding: the text for the table's `ours` column, the two one-sided
p-values the verdict comes from, and the claim's effect as a 95% interval beside Smith's value.

Separate from rules.py because this is the noise model of one set of real runs (completed runs
make a curve's mean, diverged ones are counted apart: `mean_of`, `curve_means`) and the words the
table shows, while the rules are the bare arithmetic that the plan's simulations share. Separate
from figures.py because no test here knows which figure it reads: each figure picks its curves
and hands them to one of these.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .images import pair_terms, per_curve
from .rules import (ALPHA, accuracy_floor, all_of, all_pairs, best_p, below_p, equal_p, pair_p,
                    t975, trend_p, trend_weights)
from .student import t_ppf

NO_SPREAD = "one run per curve: no spread of its own to read, so no verdict"


@dataclass(frozen=True)
class Mean:
    """A curve's mean over its completed runs, the standard error of that mean (None: no
    estimate) with its df, the test-set sampling floor of one reading (0: none), and how many of
    its runs diverged (or were stopped) of how many."""
    value: float
    sd: float | None
    se: float | None
    n: int
    basis: str
    df: float = math.inf
    floor: float = 0.0
    diverged: int = 0
    runs: int = 0

    def text(self) -> str:
        lost = f"; {self.diverged} of {self.runs} diverged" if self.diverged else ""
        if not self.n:
            return f"all {self.runs} diverged"
        if self.n >= 2 and self.sd is not None:
            return f"{self.value:.3f} ± {self.sd:.3f} (n={self.n}{lost})"
        return f"{self.value:.3f}" + (f" (n=1{lost})" if lost else "")


@dataclass(frozen=True)
class Finding:
    """What a test found: `ours` text, p_r and p_c (NaN: no estimate), the effect as text (an
    estimate with its 95% interval beside Smith's value), Smith's value inside that interval
    (None: no interval or no value), the fewest completed runs a curve had, and the test images'
    disagreement as the variance it adds to one curve's mean (None: not estimated; the plan
    reads a pilot's from here, images.per_curve)."""
    ours: str
    p_r: float
    p_c: float
    effect: str
    inside: bool | None
    n: int
    images: float | None = None


def _fmt(x: float, scale: float) -> str:
    return f"{x:+.4f}" if scale < 0.01 else f"{x:+.3f}"


def interval(estimate, se, df, smith=None, what: str = "", among: int = 1
             ) -> tuple[str, bool | None]:
    """'<what> est, 95% interval [lo, hi]; Smith's s: inside' and whether s lies inside. `among`
    > 1: the estimate is one of that many pairs, picked by the data (the largest gap), and the
    interval is simultaneous over all of them (Bonferroni, t at 1 - ALPHA / among each way): an
    ordinary 95% interval of the largest of 3 gaps covered its true value in 88% of sets."""
    if se is None or not np.isfinite(se) or not df or np.isnan(df):
        text = f"{what}{estimate:+.3f}; no interval (no spread to read)"
        return text + (f"; Smith's {smith:+.3f}" if smith is not None else ""), None
    half = (t975(float(df)) if among == 1 else t_ppf(1 - ALPHA / among, float(df))) * float(se)
    lo, hi = estimate - half, estimate + half
    scale = max(abs(estimate), half, abs(smith or 0.0))
    kind = "95% interval" if among == 1 else f"95% interval simultaneous over the {among} pairs"
    text = f"{what}{_fmt(estimate, scale)}, {kind} [{_fmt(lo, scale)}, {_fmt(hi, scale)}]"
    if smith is None:
        return text + "; Smith gives no value", None
    inside = bool(lo <= smith <= hi)
    return text + f"; Smith's {_fmt(smith, scale)}: {'inside' if inside else 'outside'}", inside


def _bad(runs: pd.DataFrame) -> pd.Series:
    """Runs that diverged or were stopped."""
    return runs["status"].isin(["diverged", "stopped"])


def mean_of(values: pd.Series, *, accuracy: bool, test_images: int | None, diverged: int = 0
            ) -> Mean:
    """The mean of one curve's completed values with its standard error s / sqrt(n), n - 1 df,
    from n >= 2 runs; one run has no spread to read (se None: no verdict)."""
    v = values.astype(float).to_numpy()
    n = len(v)
    runs = n + diverged
    if not n:
        return Mean(math.nan, None, None, 0, f"all {runs} run(s) diverged", diverged=diverged,
                    runs=runs)
    m = float(v.mean())
    floor = float(accuracy_floor(m, test_images)) if accuracy else 0.0
    if n >= 2:
        sd = float(v.std(ddof=1))
        return Mean(m, sd, sd / math.sqrt(n), n, f"t x SE from {n} replicates", df=n - 1,
                    floor=floor, diverged=diverged, runs=runs)
    return Mean(m, None, None, 1, NO_SPREAD, floor=floor, diverged=diverged, runs=runs)


def curve_means(runs: pd.DataFrame, key: str, column: str, *, accuracy: bool | None = None
                ) -> dict:
    """Mean (with its error) per curve key of `column` over the completed runs (an accuracy if
    `accuracy`, by default if its name says so), each with its count of diverged runs."""
    values = runs[column].astype(float)
    bad = _bad(runs) | values.isna()
    images = runs["test_images"] if "test_images" in runs else pd.Series(None, index=runs.index)
    accuracy = "accuracy" in column if accuracy is None else accuracy
    out = {}
    for k, idx in runs.groupby(key).groups.items():
        ok = [i for i in idx if not bad.loc[i]]
        n_test = images.loc[idx].dropna()
        out[k] = mean_of(values.loc[ok], accuracy=accuracy, diverged=len(idx) - len(ok),
                         test_images=int(n_test.iloc[0]) if len(n_test) else None)
    return out


def _arrays(means: dict, keys: list) -> dict:
    """The vectorised rules' arguments for some curves' means."""
    pick = [means[k] for k in keys]
    return {"value": np.array([m.value for m in pick]),
            "se": np.array([math.nan if m.se is None else m.se for m in pick]),
            "df": np.array([m.df if m.n >= 2 else 0.0 for m in pick]),
            "diverged": np.array([m.diverged for m in pick]),
            "runs": np.array([m.runs for m in pick])}


def _gap_text(diff, se, df, basis, alpha=ALPHA) -> str:
    if not np.isfinite(se):
        return f"{diff:+.3f}; no noise estimate ({basis})"
    return f"{diff:+.3f}, noise ±{t_ppf(1 - alpha, float(df)) * float(se):.3f} ({basis})"


def _lost(means: dict, keys) -> str:
    lost = [f"{_name(k)} {means[k].diverged} of {means[k].runs}" for k in keys
            if means[k].diverged]
    return ("; diverged runs, compared apart by Fisher's exact test: " + ", ".join(lost)
            if lost else "")


def _disagreement(extra) -> str:
    return ("; the test images' disagreement between curves included" if extra is not None else
            "; the test images' disagreement between curves not available (no per-image records)")


def _basis(means: dict, keys) -> str:
    return min((means[k] for k in keys), key=lambda m: m.n).basis


def _fewest(means: dict, keys) -> int:
    return min(means[k].n for k in keys)


def best_of(means: dict, target, *, higher: bool, smith: dict | None = None,
            scores: dict | None = None) -> Finding:
    """Is `target` the best (highest if `higher`, else lowest) of the curves? rules.best_p:
    reproduced if it beats every other beyond the noise at one-sided ALPHA, contradicted if some
    curve beats it at ALPHA / m. The effect: its gap to the closest curve."""
    if target not in means or len(means) < 2:
        return Finding(f"no run of {_name(target)}" if target not in means else
                       f"only {_name(target)} ran", math.nan, math.nan, "", None, 0)
    keys = [target] + [k for k in means if k != target]
    pairs = [(0, i) for i in range(1, len(keys))]
    extra = pair_terms(scores, keys, pairs)
    a = _arrays(means, keys)
    p_r, p_c = best_p(a["value"], a["se"], a["df"], higher=higher, diverged=a["diverged"],
                      runs=a["runs"], extra=extra)
    g = pair_p(a["value"], a["se"], a["df"], pairs, higher=higher, extra=extra)
    c = int(np.nanargmin(np.where(np.isnan(g.diff), np.inf, g.diff))) if len(pairs) else 0
    closest = keys[c + 1]
    order = sorted(means, key=lambda k: -np.inf if np.isnan(means[k].value)
                   else means[k].value, reverse=higher)
    text = "; ".join(f"{_name(k)}: {means[k].text()}" for k in order)
    text += (f"; {_name(target)} vs {_name(closest)}: "
             + _gap_text(g.diff[c], g.se[c], g.df[c], _basis(means, keys)))
    if len(pairs) > 1 and np.isfinite(g.se[c]):
        text += (f"; a curve beating it must do so by more than "
                 f"±{t_ppf(1 - ALPHA / len(pairs), float(g.df[c])) * g.se[c]:.3f} "
                 f"(Bonferroni over {len(pairs)})")
    text += _lost(means, keys) + _disagreement(extra)
    ref = None if smith is None else (smith[target] - smith[closest]) * (1 if higher else -1)
    effect, inside = interval(float(g.diff[c]), float(g.se[c]), float(g.df[c]), ref,
                              f"{_name(target)} vs {_name(closest)} ")
    return Finding(text, float(p_r), float(p_c), effect, inside, _fewest(means, keys),
                   per_curve(extra, 2.0))


def gap(means: dict, a, b, *, higher: bool, smith: dict | None = None,
        scores: dict | None = None) -> Finding:
    """Curve a better than curve b: best_of with two curves."""
    return best_of({a: means[a], b: means[b]}, a, higher=higher, smith=smith, scores=scores)


def ordering(means: dict, order: list, *, higher: bool, smith: dict | None = None,
             scores: dict | None = None) -> Finding:
    """Do the curves rank as `order` (best first)? rules.order_p: reproduced if each adjacent pair
    is in order beyond its noise at one-sided ALPHA (intersection-union); contradicted if any of
    the pairs is reversed beyond its noise at ALPHA / pairs (Bonferroni)."""
    missing = [k for k in order if k not in means]
    if missing:
        return Finding("no run of " + ", ".join(map(_name, missing)), math.nan, math.nan, "",
                       None, 0)
    a = _arrays(means, order)
    adjacent = [(i, i + 1) for i in range(len(order) - 1)]
    every = all_pairs(len(order))
    extra_adj, extra_all = pair_terms(scores, order, adjacent), pair_terms(scores, order, every)
    # rules.order_p pair by pair, so that each pair takes its own disagreement term
    g_adj = pair_p(a["value"], a["se"], a["df"], adjacent, higher=higher, diverged=a["diverged"],
                   runs=a["runs"], extra=extra_adj)
    g_all = pair_p(a["value"], a["se"], a["df"], every, higher=higher, diverged=a["diverged"],
                   runs=a["runs"], extra=extra_all)
    p_r, p_c = all_of(g_adj.better, g_all.worse)
    text = "; ".join(f"{_name(k)}: {means[k].text()}" for k in order)
    basis = _basis(means, order)
    text += "".join(f"; {_name(order[j])} vs {_name(order[i])}: "
                    + _gap_text(g_adj.diff[n], g_adj.se[n], g_adj.df[n], basis)
                    for n, (i, j) in enumerate(adjacent))
    text += _lost(means, order) + _disagreement(extra_adj)
    effects, inside = [], []
    for n, (i, j) in enumerate(adjacent):
        ref = None if smith is None else (smith[order[i]] - smith[order[j]]) * (
            1 if higher else -1)
        e, ok = interval(float(g_adj.diff[n]), float(g_adj.se[n]), float(g_adj.df[n]), ref,
                         f"{_name(order[i])} vs {_name(order[j])} ")
        effects.append(e)
        inside.append(ok)
    both = None if None in inside else all(inside)
    return Finding(text, float(p_r), float(p_c), " | ".join(effects), both, _fewest(means, order),
                   per_curve(extra_all, 2.0))


def equivalence(means: dict, margin: float, *, smith: dict | None = None,
                scores: dict | None = None) -> Finding:
    """Are all curves within ±margin of each other? rules.equal_p (TOST over every pair: each
    pair's 95% interval inside the margin; the divergence counts may contradict). The effect: the
    widest pair's gap, with an interval simultaneous over all pairs (it was picked as the
    widest)."""
    keys = sorted(means)
    pairs = all_pairs(len(keys))
    extra = pair_terms(scores, keys, pairs)
    a = _arrays(means, keys)
    p_r, p_c = equal_p(a["value"], a["se"], a["df"], margin, diverged=a["diverged"],
                       runs=a["runs"], extra=extra)
    g = pair_p(a["value"], a["se"], a["df"], pairs, higher=True, extra=extra)
    w = int(np.nanargmax(np.abs(np.where(np.isnan(g.diff), -np.inf, g.diff))))
    (i, j), diff, se, df = pairs[w], float(g.diff[w]), float(g.se[w]), float(g.df[w])
    text = f"largest gap {_name(keys[i])} - {_name(keys[j])}: {diff:+.3f}"
    if np.isfinite(se):
        half = t975(df) * se
        text += (f", its 95% interval [{diff - half:+.3f}, {diff + half:+.3f}] (every pair's "
                 f"must lie inside the margin; {_basis(means, keys)})")
    else:
        text += f"; no noise estimate ({_basis(means, keys)})"
    text += (f"; margin ±{margin:.3f} (Table 2's SD, SETTINGS.md §6)" + _lost(means, keys)
             + _disagreement(extra))
    ref = None if smith is None else smith[keys[i]] - smith[keys[j]]
    effect, inside = interval(diff, se, df, ref, f"{_name(keys[i])} - {_name(keys[j])} ",
                              among=len(pairs))
    return Finding(text, float(p_r), float(p_c), effect, inside, _fewest(means, keys),
                   per_curve(extra, 2.0))


def collapse(m: Mean, threshold: float, smith: float | None = None) -> Finding:
    """A curve's mean accuracy below `threshold` (rules.below_p, the test-set floor included).
    Every run diverged: none trained, reproduced. Some did: the completed runs decide, the count
    is shown."""
    lost = f"; {m.diverged} of {m.runs} diverged" if m.diverged else ""
    if not m.n:
        return Finding(f"all {m.runs} run(s) diverged: none trained", 0.0, 1.0,
                       "no completed run to measure", None, 0)
    se = math.nan if m.se is None else m.se
    p_r, p_c, diff, total, dof = below_p(m.value, se, m.df if m.n >= 2 else 0.0, m.floor, m.n,
                                         threshold)
    basis = m.basis + (" and the test-set sampling floor" if m.n >= 2 else "")
    text = f"{m.text()}; below {threshold:g} by " + _gap_text(float(diff), float(total),
                                                             float(dof), basis) + lost
    effect, inside = interval(m.value, float(total), float(dof), smith, "mean accuracy ")
    return Finding(text, float(p_r), float(p_c), effect, inside, m.n)


def trend(means: dict, x: dict, *, smith: float | None = None, extra: float | None = None,
          unit: str = "") -> Finding:
    """A positive linear trend of the curves' means in x (rules.trend_p: the contrast with each
    curve's own spread, read at rules.contrast_dof's df)."""
    keys = sorted(means, key=lambda k: x[k])
    a = _arrays(means, keys)
    var = np.array([(means[k].sd or math.nan) ** 2 for k in keys])
    n = np.array([means[k].n for k in keys], float)
    p_r, p_c, contrast, se, df = trend_p(a["value"], var, n, [x[k] for k in keys],
                                         diverged=a["diverged"], runs=a["runs"],
                                         extra=extra)
    text = "; ".join(f"{_name(k)}: {means[k].text()}" for k in keys)
    text += (f"; linear trend per {unit} " + _gap_text(float(contrast), float(se), float(df),
                                                      "Welch contrast of the means")
             + _lost(means, keys) + _disagreement(extra))
    text += "; reproduced means a positive trend, not Smith's monotone order"
    effect, inside = interval(float(contrast), float(se), float(df), smith, f"per {unit} ")
    weight = float(np.sum(trend_weights([x[k] for k in keys]) ** 2))
    return Finding(text, float(p_r), float(p_c), effect, inside, int(n.min()),
                   per_curve(None if extra is None else np.array([extra]), weight))


def _name(key) -> str:
    return f"{key:g}" if isinstance(key, float) else str(key)
