"""Every verdict rule, run on sets of runs drawn with the noise the rule assumes: with no effect it
says "reproduced" or "contradicted" in at most 5% of 2,000 sets, give or take Monte-Carlo error
(BOUND: 5% plus 3 binomial standard errors, 6.5%). The draws go through the same decision
functions as the claims tables, and the last tests check that both paths agree, run for run."""
import math

import numpy as np
import pandas as pd
import pytest

from paperlib.paper import claims as C
from paperlib.paper import plan as P

SIMS = 2000
BOUND = 0.05 + 3 * math.sqrt(0.05 * 0.95 / SIMS)
MARGIN = C.FIG15B_MARGIN
SD10 = C.SEED_SD["cifar10"][0]


def rng(seed=0):
    return np.random.default_rng(seed)


def errs(codes) -> float:
    """Share of sets with a verdict either way."""
    return float(np.mean(np.asarray(codes) != 0))


def stated_sd(p, test_images, dataset="cifar10"):
    """The one-run error the rule states at accuracy p: what its runs must scatter by."""
    return math.hypot(math.sqrt(p * (1 - p) / test_images), C.SEED_SD[dataset][0])


# --- with no effect, at most 5% -------------------------------------------------------------------

@pytest.mark.parametrize("n", [2, 3, 4, 8])
def test_a_gap_between_two_replicated_curves_errs_in_at_most_5pct_of_null_sets(n):
    assert errs(P.simulate_gap(rng(n), [0.5, 0.5], 0.01, n, SIMS)) <= BOUND


@pytest.mark.parametrize("n, ratio", [(2, 3.0), (4, 3.0), (4, 10.0)])
def test_welchs_gap_stays_calibrated_when_the_curves_spreads_differ(n, ratio):
    r = rng(7)
    a = r.normal(0, 0.01, (SIMS, n))
    b = r.normal(0, 0.01 * ratio, (SIMS, n))
    value = np.stack([a.mean(1), b.mean(1)], axis=1)
    se = np.stack([a.std(1, ddof=1), b.std(1, ddof=1)], axis=1) / math.sqrt(n)
    codes = C.decide_gap(*C.pair_gaps(value, se, np.full_like(se, n - 1), [(0, 1)], higher=True))
    assert errs(codes) <= BOUND


@pytest.mark.parametrize("test_images", [2000, 10_000])
def test_a_one_run_accuracy_gap_errs_in_at_most_5pct_when_runs_scatter_as_stated(test_images):
    codes = P.simulate_gap(rng(1), [0.92, 0.92], stated_sd(0.92, test_images), 1, SIMS,
                           stated=P.stated_error("cifar10", test_images))
    assert errs(codes) <= BOUND


@pytest.mark.parametrize("n, sigma", [(1, None), (2, 0.003), (4, 0.02)])
def test_the_collapse_rule_errs_in_at_most_5pct_with_the_mean_at_its_threshold(n, sigma):
    codes = P.simulate_below(rng(2), [0.2], sigma or stated_sd(0.2, 10_000), n, SIMS,
                             threshold=0.2, test_images=10_000,
                             stated=P.stated_error("cifar10", 10_000))
    assert errs(codes) <= BOUND


@pytest.mark.parametrize("k, n, higher", [(4, 1, True), (4, 2, True), (4, 4, True), (3, 2, False),
                                          (3, 4, False)])
def test_best_of_errs_in_at_most_5pct_with_every_curve_equal(k, n, higher):
    sigma = stated_sd(0.92, 10_000) if n == 1 else 0.01
    codes = P.simulate_best(rng(3), [0.92] * k, sigma, n, SIMS, higher=higher,
                            stated=P.stated_error("cifar10", 10_000))
    assert errs(codes) <= BOUND


@pytest.mark.parametrize("mu", [[1.0, 1.0, 1.0],      # no effect at all
                                [0.0, 1.0, 1.0],      # the first gap huge, the second nil
                                [1.0, 1.0, 2.0]])     # and the other way round
@pytest.mark.parametrize("n", [2, 4, 16])
def test_the_ordering_of_three_errs_in_at_most_5pct_where_the_order_does_not_hold(mu, n):
    assert errs(P.simulate_order(rng(4), mu, 0.05, n, SIMS, higher=False)) <= BOUND


@pytest.mark.parametrize("n", [1, 2, 4])
def test_the_tbs_slope_errs_in_at_most_5pct_with_no_slope(n):
    codes = P.simulate_slope(rng(5), [0.92] * 4, 0.002, n, SIMS, x=np.log2([128, 256, 512, 1024]))
    assert errs(codes) <= BOUND


@pytest.mark.parametrize("n", [2, 24, 200])
def test_tost_calls_equivalent_in_at_most_5pct_when_a_true_gap_sits_at_the_margin(n):
    codes = P.simulate_tost(rng(6), [0.690, 0.690 + MARGIN / 2, 0.690 + MARGIN], 0.004, n, SIMS,
                            margin=MARGIN)
    assert np.mean(codes == 1) <= BOUND


def test_tost_from_one_run_per_curve_never_calls_equivalence_at_the_margin():
    sigma = stated_sd(0.69, 6400, "cifar100")
    codes = P.simulate_tost(rng(6), [0.690, 0.690, 0.690 + MARGIN], sigma, 1, SIMS,
                            margin=MARGIN, stated=P.stated_error("cifar100", 6400))
    assert np.mean(codes == 1) <= BOUND


@pytest.mark.parametrize("n", [1, 2, 24, 200])
def test_tost_calls_a_difference_in_at_most_5pct_with_equal_means(n):
    sigma = stated_sd(0.69, 6400, "cifar100") if n == 1 else 0.004
    codes = P.simulate_tost(rng(8), [0.690] * 3, sigma, n, SIMS, margin=MARGIN,
                            stated=P.stated_error("cifar100", 6400))
    assert np.mean(codes == -1) <= BOUND


@pytest.mark.parametrize("length", [C.MIN_TURN_EVALUATIONS, 10, 40, 100])
def test_turns_up_calls_a_turn_in_under_1pct_of_flat_or_straight_sweeps(length):
    r = rng(length)
    flat = [C.turns_up_code(r.standard_normal(length))[0] for _ in range(SIMS)]
    # the docstring's claim: under 1% on flat noise, plus Monte-Carlo error
    assert errs(flat) <= 0.01 + 3 * math.sqrt(0.01 * 0.99 / SIMS)
    falling = [C.turns_up_code(np.linspace(3, 0, length) + r.standard_normal(length))[0]
               for _ in range(SIMS)]
    assert np.mean(np.array(falling) == 1) <= BOUND


def test_three_evaluations_would_call_a_turn_in_flat_noise_far_too_often_so_none_is_read():
    r = rng(3)
    flat = [C.turns_up_code(r.standard_normal(3))[0] for _ in range(SIMS)]
    assert errs(flat) > 0.1  # why MIN_TURN_EVALUATIONS is above 3: one second difference
    assert C.MIN_TURN_EVALUATIONS > 3


# --- the simulated sets and the claims tables are one rule ----------------------------------------

def raw_runs(r, mu, sd, n, key, column, **extra):
    return pd.DataFrame([{key: k, "curve": str(k), "replicate": i, column: r.normal(m, sd),
                          "status": "completed", "diverged_at": None, "truncated": False,
                          "steps": 10**6, "batch_size": 1000, "test_images": 10_000, **extra}
                         for k, m in mu.items() for i in range(n)])


def stats(frame, keys, key, column):
    """(value, se, df) per curve in `keys` order: the sufficient statistics the draws produce."""
    g = frame.groupby(key)[column]
    n = int(g.size().iloc[0])
    value = g.mean().loc[keys].to_numpy()
    se = (g.std(ddof=1).loc[keys].to_numpy() / math.sqrt(n) if n > 1
          else np.full(len(keys), np.nan))
    return value, se, np.full(len(keys), n - 1.0 if n > 1 else np.inf)


def evaluations(frame, column):
    return pd.DataFrame([{"curve": r["curve"], "replicate": r["replicate"], "split": "test",
                          "step": s, "lr": 0.1, "loss": 1.0, "accuracy": r[column]}
                         for _, r in frame.iterrows() for s in (1, 2, 3)])


def test_the_ordering_draws_and_claims_fig8_agree_set_for_set():
    r = rng(11)
    order = ["CM range=0.95-0.85", "Momentum=0.9", "CM range=0.85-0.95"]
    tbs = raw_runs(r, {512: 0.9, 1024: 0.91}, 0.01, 2, "tbs", "final_test_accuracy")
    seen = set()
    for _ in range(60):
        n = int(r.integers(2, 5))
        mu = dict(zip(order, np.sort(r.normal(0.36, 0.02, 3))[r.permutation(3)]))
        a = raw_runs(r, mu, 0.01, n, "curve", "final_test_loss")
        table = C.claims_fig8(a, evaluations(tbs, "final_test_accuracy"), tbs)[0]["verdict"]
        arrays = stats(a, order, "curve", "final_test_loss")
        code = int(C.decide_all(C.pair_gaps(*arrays, [(0, 1), (1, 2)], higher=False),
                                C.pair_gaps(*arrays, [(0, 1), (0, 2), (1, 2)], higher=False)))
        assert table == C.CODES[code]
        seen.add(table)
    assert len(seen) >= 2  # the sets reach more than one verdict


def test_the_slope_draws_and_claims_fig8_agree_set_for_set():
    r = rng(12)
    x = [128, 256, 512, 1024]
    loss = raw_runs(r, {"CM range=0.95-0.85": 0.3, "Momentum=0.9": 0.4,
                        "CM range=0.85-0.95": 0.5}, 0.01, 2, "curve", "final_test_loss")
    seen = set()
    for _ in range(60):
        n = int(r.integers(1, 4))
        b = raw_runs(r, dict(zip(x, 0.9 + r.normal(0.002, 0.002) * np.arange(4))), 0.003, n,
                     "tbs", "final_test_accuracy")
        table = C.claims_fig8(loss, evaluations(b, "final_test_accuracy"), b)[1]["verdict"]
        g = b.groupby("tbs")["final_test_accuracy"]
        within = float(((b["final_test_accuracy"] - g.transform("mean")) ** 2).sum())
        code = int(C.decide_gap(*P.slope_from_groups(g.mean().loc[x].to_numpy(), within, n,
                                                     np.log2(x))))
        assert table == C.CODES[code]
        seen.add(table)
    assert len(seen) >= 2


def test_the_tost_draws_and_claims_fig15_agree_set_for_set():
    r = rng(13)
    keys = [256, 512, 1024]
    sweeps = pd.DataFrame({"split": "test", "wd": 1e-4, "replicate": 0, "step": [0, 1, 2],
                           "lr": [0.1, 0.2, 0.3], "loss": [2.0, 1.8, 2.0]})
    sweep_runs = pd.DataFrame([{"curve": "WD=0.0001", "status": "completed",
                                "diverged_at": None, "steps": 1, "batch_size": 1}])
    seen = set()
    for _ in range(60):
        n = int(r.choice([1, 2, 12, 40]))
        mu = dict(zip(keys, 0.69 + r.normal(0, 0.004, 3) * r.choice([0.3, 3.0])))
        b = raw_runs(r, mu, 0.003, n, "tbs", "final_test_accuracy", test_images=6400)
        table = C.claims_fig15(sweeps, sweep_runs, evaluations(b, "final_test_accuracy"), b,
                               dataset="cifar100")[1]["verdict"]
        value, se, df = stats(b, keys, "tbs", "final_test_accuracy")
        if n == 1:
            se = P.stated_error("cifar100", 6400)(value)
        code = int(C.decide_tost(*C.pair_gaps(value, se, df, [(0, 1), (0, 2), (1, 2)],
                                              higher=True), MARGIN))
        assert table == C.CODES[code]
        seen.add(table)
    assert len(seen) >= 2


def test_the_fig5_draws_and_claims_fig5_agree_set_for_set():
    r = rng(14)
    wds = [1e-4, 1e-3, 1e-5, 1e-6]
    seen = set()
    for _ in range(40):
        n = int(r.choice([1, 2, 3]))
        a = raw_runs(r, {"CLR=0.1-3": 0.92 + r.normal(0, 0.01), "LR=0.35": 0.92}, 0.004, n,
                     "curve", "final_test_accuracy")
        b = raw_runs(r, dict(zip(wds, [0.92, 0.2 + r.normal(0, 0.01), 0.915, 0.91])), 0.004, n,
                     "wd", "final_test_accuracy")
        rows = C.claims_fig5(a, b)
        stated = P.stated_error("cifar10", 10_000)

        def arrays(frame, keys, key):
            value, se, df = stats(frame, keys, key, "final_test_accuracy")
            return value, (stated(value) if n == 1 else se), df
        gap = int(C.decide_gap(*C.pair_gaps(*arrays(a, ["CLR=0.1-3", "LR=0.35"], "curve"),
                                            [(0, 1)], higher=True))[0])
        value, se, df = arrays(b, wds, "wd")
        below = int(C.decide_gap(*C.below(value[1], se[1], df[1],
                                          C.accuracy_floor(value[1], 10_000), n, 0.2)))
        g = C.pair_gaps(value, se, df, [(0, 1), (0, 2), (0, 3)], higher=True)
        best = int(C.decide_all(g, g))
        assert [row["verdict"] for row in rows] == [C.CODES[c] for c in (gap, below, best)]
        seen.update(row["verdict"] for row in rows)
    assert len(seen) >= 2


def test_drawing_sufficient_statistics_gives_the_power_of_drawing_every_run():
    mu, sigma, n = [0.345, 0.36, 0.385], 0.012, 5
    suff = float(np.mean(P.simulate_order(rng(15), mu, sigma, n, SIMS, higher=False) == 1))
    runs = rng(16).normal(mu, sigma, (SIMS, n, 3))
    value, se = runs.mean(1), runs.std(1, ddof=1) / math.sqrt(n)
    df = np.full_like(se, n - 1)
    raw = float(np.mean(C.decide_all(C.pair_gaps(value, se, df, [(0, 1), (1, 2)], higher=False),
                                     C.pair_gaps(value, se, df, [(0, 1), (0, 2), (1, 2)],
                                                 higher=False)) == 1))
    assert 0.1 < suff < 0.9 and abs(suff - raw) <= 4 * math.sqrt(2 * suff * (1 - suff) / SIMS)


# --- power, with Smith's effect -----------------------------------------------------------------

def test_the_power_of_a_one_run_gap_matches_its_closed_form():
    # one run per curve: the rule's error is known, so power = P(Z > 1.96 - d / se)
    d, images = 0.012, 10_000
    se = math.hypot(stated_sd(0.924, images), stated_sd(0.912, images))
    exact = 0.5 * math.erfc((C.t975(math.inf) - d / se) / math.sqrt(2))
    sim = P.power("fig5a", 1, "paper", sigma=stated_sd(0.918, images), sims=SIMS)
    assert abs(sim - exact) <= 3 * math.sqrt(exact * (1 - exact) / SIMS) + 0.01


def test_at_smalls_two_seeds_no_rule_sees_smiths_fig8_effects():
    # Fig 8a's gaps (0.015, 0.025) against a loss SD of ~0.02; Fig 8b's slope (0.0013) against
    # an accuracy SD of ~0.02 (the size of our small replicates' spread)
    assert P.power("fig8a_order", 2, "small", sigma=0.02) < 0.05
    assert P.power("fig8b_slope", 2, "small", sigma=0.02) < 0.1


def test_power_grows_with_runs_per_curve_for_every_claim_with_an_effect():
    for d in P.DESIGNS:
        if d.draw is None:
            continue
        sigma = {"fig1a_dip": 0.03, "fig8a_order": 0.02, "fig15a_best": 0.02}.get(d.key)
        few = P.power(d.key, 2, "paper", sigma=sigma, sims=500)
        many = P.power(d.key, 200, "paper", sigma=sigma, sims=500)
        assert many >= few and many > 0.5, d.key
