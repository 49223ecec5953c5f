"""A pilot, a plan on its spread, then the final runs, with no effect anywhere: the final verdict,
read once on the fresh runs after the pilot's, keeps each direction within 2.5%, at the pilot
SDs where counting the pilot's runs did not (Fig 5a's gap at an SD of 0.008, Fig 8b's trend at
0.0025), with SDs equal and far apart. The fresh runs per curve come from the real path: the
plan (plan.plan) at the pilot's pooled SD, spread over the budget by plan.final_seeds, which
plan_from_pilot calls; the same sets read with the pilot's runs counted show what that did.
40,000 sets per case resolve 2.5% from 3%."""
import math

import numpy as np
import pytest

from paperlib.paper import claims as C
from paperlib.paper import plan as P
from paperlib.paper.profiles import FIGURES, PAPER_BUDGET_HOURS, PAPER_RATE, PILOT_SEEDS

SETS = 40_000
ONE_WAY = C.ALPHA + 3 * math.sqrt(C.ALPHA * (1 - C.ALPHA) / SETS)
PILOT = {f: PILOT_SEEDS for f in FIGURES}
X = np.log2([128, 256, 512, 1024])


def hours(figure):
    return 1 / PAPER_RATE


@pytest.fixture(scope="module")
def base():
    """The pilot's plan for every figure, at the designs' noise: the other figures' share of
    the budget."""
    return P.plan("paper", budget_hours=PAPER_BUDGET_HOURS, seconds_per_image=hours,
                  seeds=PILOT, intervals=False)


_SEEN: dict = {}


def runs_per_curve(base, key: str, grid) -> tuple[np.ndarray, np.ndarray]:
    """At each pilot SD of `grid` (cached per key and grid): the fresh runs per curve the final
    lock would fix (the plan at that SD, then final_seeds within the budget), and the n a plan
    that counted the pilot's runs would read (its 80%-power n, never below the pilot's)."""
    if (key, grid[0]) in _SEEN:
        return _SEEN[key, grid[0]]
    figure = P.design(key).figure
    fresh, counted = [], []
    for sd in grid:
        rows = P.plan("paper", budget_hours=PAPER_BUDGET_HOURS, seconds_per_image=hours,
                      seeds=PILOT, intervals=False, figures=[figure],
                      noise={key: (float(sd), "the pilot's pooled SD", 6)})
        table = base.copy()
        for _, r in rows.iterrows():
            table.loc[table["claim"] == r["claim"], :] = r.values
        fresh.append(P.final_seeds(table, PAPER_BUDGET_HOURS, PILOT)[figure][1])
        n80 = table.set_index("claim").loc[key, "n_80"]
        counted.append(PILOT_SEEDS if not np.isfinite(n80) else max(PILOT_SEEDS, int(n80)))
    _SEEN[key, grid[0]] = np.array(fresh), np.array(counted)
    return _SEEN[key, grid[0]]


def normal_sets(r, sds, n, sims):
    """Each curve's mean and sum of squares over n normal runs (centred at 0), per set."""
    sds = np.asarray(sds, float)
    mean = sds / math.sqrt(n) * r.standard_normal((sims, len(sds)))
    ss = sds ** 2 * r.chisquare(n - 1, (sims, len(sds))) if n > 1 else np.zeros((sims,
                                                                                  len(sds)))
    return mean, ss


def decide(key, mean, ss, n):
    var = ss / (n - 1)
    if key == "fig5a":
        return C.decide(*C.best_p(mean, np.sqrt(var / n), np.full(mean.shape, n - 1.0),
                                  higher=True))
    p_r, p_c, *_ = C.trend_p(mean, var, np.full(mean.shape, float(n)), X)
    return C.decide(p_r, p_c)


def flow(base, key, sd, sds, seed=0):
    """Per direction, with no effect: the final verdict on the fresh runs, and on all runs with
    the pilot's counted (the rule before)."""
    r = np.random.default_rng(seed)
    sds = sd * np.asarray(sds, float) / math.sqrt(np.mean(np.square(sds)))
    grid = sd * np.geomspace(0.2, 3.0, 30)
    fresh_n, counted_n = runs_per_curve(base, key, grid)
    pilot_mean, pilot_ss = normal_sets(r, sds, PILOT_SEEDS, SETS)
    spread = np.sqrt(pilot_ss.sum(-1) / (len(sds) * (PILOT_SEEDS - 1)))  # pooled, never the gap
    at = np.clip(np.searchsorted(grid, spread), 0, len(grid) - 1)  # the pilot SD, rounded up
    out = {}
    for name, ns in (("fresh", fresh_n[at]), ("counted", counted_n[at])):
        codes = np.empty(SETS, int)
        for n in np.unique(ns):
            pick = ns == n
            if name == "fresh":
                mean, ss = normal_sets(r, sds, n, int(pick.sum()))
            else:  # the pilot's runs and n - 4 more, pooled
                more = n - PILOT_SEEDS
                m2, ss2 = normal_sets(r, sds, max(more, 1), int(pick.sum()))
                mean = (PILOT_SEEDS * pilot_mean[pick] + more * m2) / n
                ss = pilot_ss[pick] + (ss2 + PILOT_SEEDS * more / n * (pilot_mean[pick] - m2) ** 2
                                       if more else 0.0)
            codes[pick] = decide(key, mean, ss, n)
        out[name] = (float(np.mean(codes == 1)), float(np.mean(codes == -1)))
    return out, np.unique(fresh_n[at])


@pytest.mark.parametrize("key, sd, sds", [("fig5a", 0.008, [1, 1]), ("fig5a", 0.008, [1, 4.6]),
                                          ("fig5a", 0.0028, [1, 1]),
                                          ("fig8b_trend", 0.0025, [1, 1, 1, 1]),
                                          ("fig8b_trend", 0.0025, [1, 2.15, 4.64, 10])])
def test_a_pilot_a_plan_on_its_spread_and_fresh_runs_keep_each_direction_within_2_5pct(
        base, key, sd, sds):
    got, fresh = flow(base, key, sd, sds)
    assert max(got["fresh"]) <= ONE_WAY, got
    assert len(fresh) > 1  # the plan did move with the pilot
    if key == "fig5a" and sds == [1, 4.6]:
        # the pilot's runs counted in the final n: 3.5% and 3.6% per direction
        # (scripts/claims_stress.py --pilot 40000)
        assert min(got["counted"]) > ONE_WAY, got
