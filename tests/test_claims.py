"""Verdicts follow the rules in the claims package's docstrings, from the runs' rows alone: each
training-run claim is checked for each of its four outcomes on constructed rows, and the noise
model against hand computations (Student t to its printed tables, Welch, Fisher's exact test, the
trend contrast). The range tests' claims are in test_claims_ranges.py; the disagreement term,
Holm and the table's format in test_claims_table.py."""
import itertools
import math

import numpy as np
import pandas as pd
import pytest

from paperlib.paper.claims import (ALPHA, CONTRADICTED, EFFECT_AT, FIG15B_MARGIN, INCONCLUSIVE,
                                   LAST_K, NOT_TESTABLE, REPRODUCED, TOWARDS_WELCH, claims_fig5,
                                   claims_fig8,
                                   claims_fig15b, fisher_more, gap, last_k_readings, mean_of,
                                   t_ppf, t_sf, trend_p, trend_weights, welch_df)
from paperlib.paper.profiles import runs_for

PAPER_SCALE = {"steps": 10_000, "batch_size": 1000}  # Fig 5's runs in full: 10 M images
SC, G56 = "resnet56-sc", "gresnet56"


def runs(rows, **common):
    base = {"status": "completed", "diverged_at": None, "replicate": 0, "seed": 0, "steps": 100,
            "steps_done": 100, "batch_size": 128, "test_images": 10_000, "truncated": False}
    return pd.DataFrame([{**base, **common, **r} for r in rows])


def replicated(values: dict, key: str, column: str, spread=0.002, n=2, **common):
    """n runs per curve, spread evenly over value ± spread."""
    offsets = np.linspace(-spread, spread, n) if n > 1 else [0.0]
    return runs([{key: k, "curve": str(k), "replicate": r, "seed": r, column: v + offsets[r]}
                 for k, v in values.items() for r in range(n)], **common)


def evaluations(frame: pd.DataFrame, column: str, early=(0.5, 0.95), tail=3) -> pd.DataFrame:
    """Tidy test rows for each run: `early` accuracies, then `tail` evaluations at its value."""
    rows = []
    for _, r in frame.iterrows():
        accs = list(early) + [r[column]] * tail
        rows += [{"curve": r["curve"], "replicate": r["replicate"], "split": "test", "step": s,
                  "lr": 0.1, "loss": 1.0, "accuracy": a} for s, a in enumerate(accs, 1)]
    return pd.DataFrame(rows)


def floor(p, n):
    return math.sqrt(p * (1 - p) / n)


def diverge(frame, mask, step=9):
    frame = frame.copy()
    frame.loc[mask, ["status", "diverged_at"]] = ["diverged", step]
    return frame


# --- Student t, Fisher and the noise model --------------------------------------------------------

@pytest.mark.parametrize("q, df, table", [
    (0.975, 1, 12.706), (0.975, 2, 4.303), (0.975, 4, 2.776), (0.975, 14, 2.145),
    (0.975, 60, 2.000), (0.975, math.inf, 1.960), (0.95, 14, 1.761), (0.95, 46, 1.679),
])
def test_student_t_quantiles_match_the_printed_tables(q, df, table):
    assert t_ppf(q, df) == pytest.approx(table, abs=6e-4)


def test_t_tail_and_quantile_invert_each_other_at_fractional_degrees_of_freedom():
    for q, df in itertools.product((0.9, 0.975, 0.99583), (1.3, 2.7, 7.5, 33.3, 1e5)):
        assert float(t_sf(t_ppf(q, df), df)) == pytest.approx(1 - q, rel=1e-7)
    assert float(t_sf(-2.0, 5)) == pytest.approx(1 - float(t_sf(2.0, 5)))


def test_fishers_exact_test_matches_the_hypergeometric_tail_by_hand():
    # 5 of 10 diverged against 0 of 10: C(10,5) C(10,0) / C(20,5)
    assert float(fisher_more(5, 10, 0, 10)) == pytest.approx(252 / 15504)
    assert float(fisher_more(1, 36, 0, 36)) == pytest.approx(0.5)
    assert float(fisher_more(1, 36, 0, 72)) == pytest.approx(1 / 3)  # one of 108 never decides
    assert float(fisher_more(0, 4, 0, 4)) == 1.0 and float(fisher_more(0, 4, 3, 4)) == 1.0


def test_one_run_of_a_curve_has_no_spread_and_no_verdict_whatever_its_metric():
    for accuracy in (True, False):
        one = mean_of(pd.Series([0.9]), accuracy=accuracy, test_images=10_000)
        assert one.se is None and "no spread of its own" in one.basis


def test_a_replicated_mean_takes_its_replicates_spread_alone():
    two = mean_of(pd.Series([0.90, 0.92]), accuracy=True, test_images=10_000)
    assert two.se == pytest.approx(np.std([0.90, 0.92], ddof=1) / math.sqrt(2)) and two.df == 1
    assert two.floor == pytest.approx(floor(0.91, 10_000))  # kept for fixed thresholds only


def test_a_gap_counts_beyond_t_times_welchs_standard_error():
    def curve(centre):  # 4 runs at centre ± 0.01: SE 0.00577, so a gap's is 0.00816
        return mean_of(pd.Series([centre + 0.01, centre - 0.01] * 2), accuracy=False,
                       test_images=None)
    means = {"a": curve(0.94), "b": curve(0.93), "far": curve(0.90)}
    se = math.sqrt(2) * 0.01 * math.sqrt(4 / 3) / 2
    df = 3 + TOWARDS_WELCH * (6 - 3)          # Hsu's 3, a fifth of the way to Welch's 6
    noise = t_ppf(1 - ALPHA, df) * se          # 2.91 x 0.00816 = 0.024
    found = gap(means, "a", "b", higher=True)
    assert f"+0.010, noise ±{noise:.3f}" in found.ours and noise == pytest.approx(0.0237, abs=5e-4)
    assert found.p_r > ALPHA and found.p_c > ALPHA                         # 0.01 < 0.024
    assert gap(means, "a", "far", higher=True).p_r < ALPHA                # 0.04 > 0.024
    assert gap(means, "far", "a", higher=True).p_c < ALPHA
    assert gap(means, "far", "a", higher=False).p_r < ALPHA              # lower is the claim


def test_a_gaps_df_is_a_fifth_of_the_way_from_hsus_to_welch_satterthwaites():
    a, b = [1.0, 1.2, 1.1], [0.5, 0.7, 0.6, 0.5, 0.7]
    means = {k: mean_of(pd.Series(v), accuracy=False, test_images=None)
             for k, v in (("a", a), ("b", b))}
    va, vb = np.var(a, ddof=1) / 3, np.var(b, ddof=1) / 5
    welch = (va + vb) ** 2 / (va ** 2 / 2 + vb ** 2 / 4)
    df = 2 + 0.2 * (welch - 2)
    assert f"noise ±{t_ppf(1 - ALPHA, df) * math.sqrt(va + vb):.3f}" in gap(
        means, "a", "b", higher=True).ours


def test_contrast_df_is_hsus_at_two_runs_and_a_known_error_adds_none():
    assert float(welch_df(0.01, 1, 0.01, 1)) == 1          # a curve of 2 runs: Hsu's bound
    assert float(welch_df(0.03, 1, 0.001, 30)) == 1
    assert float(welch_df(0.01, 3, 0.01, 3)) == pytest.approx(3 + 0.2 * 3)
    assert float(welch_df(0.03, 3, 0.0001, 3)) == pytest.approx(3, abs=0.01)  # one dominates
    assert float(welch_df(0.01, 3, 0.01, math.inf)) == pytest.approx(3 + 0.2 * 9)
    assert float(welch_df(0.01, math.inf, 0.02, math.inf)) == math.inf


def test_the_trend_is_the_least_squares_slope_through_the_means_with_each_curves_own_spread():
    x = np.log2([128, 256, 512, 1024])
    means, sds, n = np.array([0.90, 0.91, 0.925, 0.93]), np.array([0.001, 0.002, 0.004, 0.01]), 5
    p_r, p_c, contrast, se, df = trend_p(means, sds ** 2, np.full(4, n), x)
    assert contrast == pytest.approx(np.polyfit(x, means, 1)[0])
    w = trend_weights(x)
    assert se == pytest.approx(math.sqrt(np.sum(w ** 2 * sds ** 2 / n)))
    terms = w ** 2 * sds ** 2 / n
    welch = terms.sum() ** 2 / np.sum(terms ** 2 / (n - 1))
    assert df == pytest.approx(4 + 0.2 * (welch - 4))
    # a curve of 2 runs: df = 1, Hsu's bound, whatever the others
    assert trend_p(means, sds ** 2, np.array([2, 5, 5, 5]), x)[4] == 1


# --- Fig 5 ---------------------------------------------------------------------------------------

def fig5_runs(clr=0.924, const=0.912, n=4, spread=0.002, scale=PAPER_SCALE):
    return replicated({"CLR=0.1-3": clr, "LR=0.35": const}, "curve", "final_test_accuracy",
                      spread, n=n, **scale)


def fig5b_runs(accs=(0.10, 0.92, 0.89, 0.90), scale=PAPER_SCALE, n=4, spread=0.002):
    b = replicated(dict(zip((1e-3, 1e-4, 1e-5, 1e-6), accs)), "wd", "final_test_accuracy", spread,
                   n=n, **scale)
    b["curve"] = [f"Weight decay={wd:g}" for wd in b["wd"]]
    return b


@pytest.mark.parametrize("clr, const, scale, verdict", [
    (0.924, 0.900, PAPER_SCALE, REPRODUCED),      # +0.024 against a noise of 0.003 (4 runs)
    (0.900, 0.924, PAPER_SCALE, CONTRADICTED),
    (0.924, 0.922, PAPER_SCALE, INCONCLUSIVE),
    (0.924, 0.800, {"steps": 400, "batch_size": 100}, NOT_TESTABLE),  # 0.04 M images
])
def test_fig5a_each_outcome(clr, const, scale, verdict):
    row = claims_fig5(fig5_runs(clr, const, scale=scale), fig5b_runs(), model=SC)[0]
    assert row["verdict"] == verdict and row["key"] == "fig5a" and row["n"] == 4
    if verdict == NOT_TESTABLE:
        assert "REPLICATIONS.md §1" in row["ours"] and "0.04 M images" in row["ours"]
    else:
        assert "95% interval" in row["effect"] and "Smith's +0.012" in row["effect"]


def test_fig5a_from_one_run_per_curve_is_inconclusive_however_large_the_gap():
    row = claims_fig5(fig5_runs(0.95, 0.50, n=1), fig5b_runs(), model=SC)[0]
    assert row["verdict"] == INCONCLUSIVE and "no spread of its own" in row["ours"]


@pytest.mark.parametrize("model, reason", [("resnet8", "trained resnet8"),
                                           (None, "pass model=")])
def test_a_resnet56_claim_on_another_or_an_unnamed_network_is_not_testable(model, reason):
    row = claims_fig5(fig5_runs(0.924, 0.900), fig5b_runs(), model=model)[0]
    assert row["verdict"] == NOT_TESTABLE and reason in row["ours"]


@pytest.mark.parametrize("acc, diverged, scale, verdict", [
    (0.10, 0, PAPER_SCALE, REPRODUCED),
    (0.60, 4, PAPER_SCALE, REPRODUCED),   # every run diverged: none trained
    (0.60, 0, PAPER_SCALE, CONTRADICTED),
    (0.197, 0, PAPER_SCALE, INCONCLUSIVE),
    (0.10, 0, {"steps": 4000, "batch_size": 1000}, NOT_TESTABLE),  # before ~4.2 M
])
def test_fig5b_collapse_each_outcome(acc, diverged, scale, verdict):
    b = fig5b_runs((acc, 0.92, 0.89, 0.90), scale)
    big = np.flatnonzero(np.isclose(b["wd"], 1e-3))[:diverged]
    b = diverge(b, b.index[big], 123) if diverged else b
    row = claims_fig5(fig5_runs(), b, model=SC)[1]
    assert row["verdict"] == verdict and row["shares_runs_with"] == "fig5b_best"
    if diverged:
        assert "none trained" in row["ours"] and "diverged at step 123" in row["ours"]


def test_fig5b_collapse_reads_the_completed_runs_and_counts_a_diverged_one_apart():
    b = fig5b_runs((0.60, 0.92, 0.89, 0.90), n=3)
    b = diverge(b, b.index[np.isclose(b["wd"], 1e-3)][:1])
    row = claims_fig5(fig5_runs(), b, model=SC)[1]
    assert row["verdict"] == CONTRADICTED and "1 of 3 diverged" in row["ours"]


@pytest.mark.parametrize("below, verdict", [(0.185, REPRODUCED), (0.190, INCONCLUSIVE)])
def test_fig5b_collapse_from_identical_replicates_still_carries_the_test_set_floor(below, verdict):
    # floor at 0.19 on 10,000 images: 0.0039, read with 4 runs' 3 df: 3.182 x 0.0039 = 0.0125
    b = fig5b_runs((below, 0.92, 0.89, 0.90), spread=0.0)
    assert claims_fig5(fig5_runs(), b, model=SC)[1]["verdict"] == verdict


@pytest.mark.parametrize("accs, scale, verdict", [
    ((0.10, 0.92, 0.89, 0.90), PAPER_SCALE, REPRODUCED),
    ((0.10, 0.88, 0.89, 0.92), PAPER_SCALE, CONTRADICTED),
    ((0.10, 0.92, 0.918, 0.90), PAPER_SCALE, INCONCLUSIVE),   # 0.002 within a noise of 0.003
    ((0.10, 0.92, 0.89, 0.90), {"steps": 400, "batch_size": 100}, NOT_TESTABLE),
])
def test_fig5b_best_weight_decay_each_outcome(accs, scale, verdict):
    row = claims_fig5(fig5_runs(), fig5b_runs(accs, scale), model=SC)[2]
    assert row["verdict"] == verdict


def test_a_curve_beating_the_best_contradicts_only_beyond_the_bonferroni_noise():
    # 1e-6 ahead of 1e-4 by 0.0035, SE of the gap 0.00122 (4 runs, df 6): t = 2.9, past
    # t(97.5%) = 2.45, short of t(1 - 2.5%/3) = 3.29
    row = claims_fig5(fig5_runs(), fig5b_runs((0.10, 0.920, 0.89, 0.9235), spread=0.002),
                      model=SC)[2]
    assert row["verdict"] == INCONCLUSIVE and "Bonferroni over 3" in row["ours"]


def test_one_diverged_run_no_longer_decides_a_comparison_and_is_counted_apart():
    b = fig5b_runs((0.90, 0.90, 0.90, 0.90), n=4, spread=0.003)
    b = diverge(b, b.index[np.isclose(b["wd"], 1e-3)][:1])
    row = claims_fig5(fig5_runs(), b, model=SC)[2]
    assert row["verdict"] == INCONCLUSIVE
    assert "compared apart by Fisher's exact test: 0.001 1 of 4" in row["ours"]


def test_a_curve_whose_runs_all_diverge_loses_to_one_whose_runs_complete_given_enough_runs():
    # with no completed run the numbers give no test, so the counts decide at the full level:
    # Fisher's p of 3 of 3 against 0 of 3 is 1/20, of 4 of 4 against 0 of 4 1/70
    for n, verdict in ((3, INCONCLUSIVE), (4, REPRODUCED)):
        b = fig5b_runs((0.10, 0.92, 0.89, 0.90), n=n)
        b = diverge(b, np.isclose(b["wd"], 1e-3))
        rows = claims_fig5(fig5_runs(), b, model=SC)
        assert rows[2]["verdict"] == verdict, n


# --- Fig 8a: one ordering claim ------------------------------------------------------------------

LOSSES = {"CM range=0.95-0.85": 0.345, "Momentum=0.9": 0.36, "CM range=0.85-0.95": 0.385}
TBS_ACC = {128: 0.9165, 256: 0.919, 512: 0.920, 1024: 0.9205}
FIG8A_SCALE = {"steps": 20_000, "batch_size": 1024}   # Fig 8a's runs in full: 20.5 M images
FIG8B_SCALE = {"steps": 9_277, "batch_size": 512}     # Fig 8b's TBS-512 run in full: 4.75 M


def fig8(losses=LOSSES, acc=TBS_ACC, spread=0.002, n=4, scale_a=FIG8A_SCALE,
         scale_b=FIG8B_SCALE, model=G56, **common):
    a = replicated(losses, "curve", "final_test_loss", spread, n=n, **scale_a, **common)
    b = replicated(acc, "tbs", "final_test_accuracy", spread, n=n, **scale_b, **common)
    return claims_fig8(a, evaluations(b, "final_test_accuracy"), b, model=model)


@pytest.mark.parametrize("losses, n, verdict", [
    (LOSSES, 4, REPRODUCED),   # adjacent gaps 0.015 and 0.025 against 0.003 each (df 6)
    ({**LOSSES, "Momentum=0.9": 0.30}, 4, CONTRADICTED),     # 0.9 below 0.95-0.85 by 0.045
    ({**LOSSES, "Momentum=0.9": 0.347}, 4, INCONCLUSIVE),   # 0.002 above: within noise
    (LOSSES, 1, INCONCLUSIVE),                               # one run: no spread to read
])
def test_fig8a_momentum_order_each_outcome(losses, n, verdict):
    row = fig8(losses, n=n)[0]
    assert row["verdict"] == verdict
    if verdict == CONTRADICTED:
        assert "Smith's value" not in row["ours"] and "outside" in row["effect"]


def test_fig8a_needs_both_adjacent_gaps_beyond_the_noise():
    assert fig8({**LOSSES, "CM range=0.85-0.95": 0.362})[0]["verdict"] == INCONCLUSIVE


def test_fig8a_a_reversal_within_the_bonferroni_noise_does_not_contradict():
    # 0.9 above 0.85-0.95 by 0.017, SE of the gap 0.0061 (4 runs, df 6): t = 2.8, past
    # t(97.5%) = 2.45, short of t(1 - 2.5%/3) = 3.29
    assert fig8({**LOSSES, "Momentum=0.9": 0.402}, spread=0.01)[0]["verdict"] == INCONCLUSIVE


def test_fig8a_one_diverged_run_of_many_does_not_decide_the_order():
    a = replicated({k: 0.36 for k in LOSSES}, "curve", "final_test_loss", 0.01, n=12,
                   **FIG8A_SCALE)
    a = diverge(a, (a["curve"] == "CM range=0.85-0.95") & (a["replicate"] == 0))
    b = replicated(TBS_ACC, "tbs", "final_test_accuracy", **FIG8B_SCALE)
    row = claims_fig8(a, evaluations(b, "final_test_accuracy"), b, model=G56)[0]
    assert row["verdict"] == INCONCLUSIVE and "CM range=0.85-0.95 1 of 12" in row["ours"]


@pytest.mark.parametrize("scale, truncated, model, reason", [
    ({"steps": 500, "batch_size": 128}, False, G56, "figs/fig8a.png"),   # small: 64k images
    (FIG8A_SCALE, True, G56, "truncated at 2 step(s)"),
    (FIG8A_SCALE, False, "resnet8", "trained resnet8"),
])
def test_fig8a_not_testable_before_smiths_curves_reach_their_order_truncated_or_off_network(
        scale, truncated, model, reason):
    row = fig8(scale_a=scale, truncated=truncated, steps_done=2, model=model)[0]
    assert row["verdict"] == NOT_TESTABLE and reason in row["ours"]


def test_effect_points_split_the_profiles_as_smiths_figures_say():
    for figure, key, curve in (("fig8a", "fig8a", None), ("fig8b", "fig8b", 512),
                               ("fig15b", "fig15b", 512)):
        need, _, share = EFFECT_AT[key]
        images = {p: max(s.steps * s.batch_size for s in runs_for(figure, p)
                         if curve is None or s.extra["tbs"] == curve) * share
                  for p in ("small", "paper")}
        assert images["small"] < need <= images["paper"], figure


# --- Fig 8b: a linear trend in log2 TBS ----------------------------------------------------------

@pytest.mark.parametrize("acc, spread, verdict", [
    ({128: 0.90, 256: 0.91, 512: 0.92, 1024: 0.93}, 0.002, REPRODUCED),
    ({128: 0.93, 256: 0.92, 512: 0.91, 1024: 0.90}, 0.002, CONTRADICTED),
    (TBS_ACC, 0.01, INCONCLUSIVE),          # +0.0013 per doubling, noise larger
])
def test_fig8b_larger_batch_higher_accuracy_each_outcome(acc, spread, verdict):
    # 3 runs per TBS: df = 2 (at 3 runs or fewer, the fewest runs - 1)
    row = fig8(acc=acc, spread=spread, n=3)[1]
    assert row["verdict"] == verdict and "linear trend per doubling of TBS" in row["ours"]
    assert "a positive trend, not Smith's monotone order" in row["ours"]


def test_fig8b_a_positive_trend_is_reproduced_even_where_the_order_is_not_monotone():
    row = fig8(acc={128: 0.90, 256: 0.93, 512: 0.92, 1024: 0.95}, spread=0.001, n=4)[1]
    assert row["verdict"] == REPRODUCED


@pytest.mark.parametrize("scale, truncated, reason", [
    ({"steps": 155, "batch_size": 512}, False, "paper/logs/"),      # small: 79k images
    (FIG8B_SCALE, True, "truncated at 2 step(s)"),
])
def test_fig8b_not_testable_before_the_final_plateau_or_when_truncated(scale, truncated, reason):
    row = fig8(scale_b=scale, truncated=truncated, steps_done=2)[1]
    assert row["verdict"] == NOT_TESTABLE and reason in row["ours"]


def test_fig8b_with_one_run_per_batch_has_no_spread_to_read():
    assert fig8(n=1)[1]["verdict"] == INCONCLUSIVE


def test_fig8b_reads_the_last_k_evaluations_with_the_same_k_for_every_curve():
    b = replicated(TBS_ACC, "tbs", "final_test_accuracy", **FIG8B_SCALE)
    metrics = evaluations(b, "final_test_accuracy", early=(0.5, 0.99))  # a spike at 0.99
    readings, k, _ = last_k_readings(metrics, b)
    assert k == LAST_K == 3 and np.allclose(readings["reading"], b["final_test_accuracy"])
    # a run with only 2 evaluations sets k = 2 for all, so no curve averages more than another
    short = metrics.drop(metrics[(metrics["curve"] == "128") & (metrics["replicate"] == 0)
                                 & (metrics["step"] <= 3)].index)
    readings, k, _ = last_k_readings(short, b)
    assert k == 2 and np.allclose(readings["reading"], b["final_test_accuracy"])
    assert "mean of the last 2 evaluation(s)" in claims_fig8(
        replicated(LOSSES, "curve", "final_test_loss", **FIG8A_SCALE), short, b,
        model=G56)[1]["ours"]


def test_fig8b_a_diverged_batch_size_is_counted_apart_not_scored_zero():
    b = replicated({128: 0.90, 256: 0.91, 512: 0.92, 1024: 0.93}, "tbs", "final_test_accuracy",
                   n=4, **FIG8B_SCALE)
    b = diverge(b, (b["tbs"] == 1024) & (b["replicate"] == 0), 7)
    a = replicated(LOSSES, "curve", "final_test_loss", **FIG8A_SCALE)
    row = claims_fig8(a, evaluations(b, "final_test_accuracy"), b, model=G56)[1]
    assert "diverged at step 7" in row["ours"] and "1024 1 of 4" in row["ours"]
    assert row["verdict"] == REPRODUCED  # the three others' trend still holds


# --- Fig 15b -------------------------------------------------------------------------------------

TBS15 = {256: 0.6895, 512: 0.691, 1024: 0.687}
FIG15B_SCALE = {"steps": 9_765, "batch_size": 512}


def fig15b(tbs_runs, dataset="cifar100", model=G56):
    return claims_fig15b(evaluations(tbs_runs, "final_test_accuracy"), tbs_runs, dataset=dataset,
                         model=model)


def test_fig15b_margin_is_one_of_smiths_table_2_standard_deviations():
    assert FIG15B_MARGIN == 0.004


@pytest.mark.parametrize("acc, spread, n, verdict", [
    # 20 runs per TBS within ±0.002: each pair's 95% interval is ±0.0008 around its gap
    ({256: 0.690, 512: 0.691, 1024: 0.689}, 0.002, 20, REPRODUCED),
    ({256: 0.62, 512: 0.691, 1024: 0.687}, 0.004, 4, CONTRADICTED),   # 0.07 off, beyond noise
    (TBS15, 0.004, 2, INCONCLUSIVE),        # two runs: intervals far wider than the margin
    # a gap of 0.0045, past the margin but within the noise of it
    ({256: 0.6945, 512: 0.690, 1024: 0.690}, 0.002, 20, INCONCLUSIVE),
    ({256: 0.60, 512: 0.691, 1024: 0.687}, 0.0, 1, INCONCLUSIVE),    # one run: no spread
])
def test_fig15b_batch_sizes_equivalent_each_outcome(acc, spread, n, verdict):
    tbs = replicated(acc, "tbs", "final_test_accuracy", spread, n=n, test_images=6400,
                     **FIG15B_SCALE)
    row = fig15b(tbs)
    assert row["verdict"] == verdict and "margin ±0.004" in row["ours"]
    if verdict == REPRODUCED:
        assert "its 95% interval" in row["ours"]
        assert "simultaneous over the 3 pairs" in row["effect"]


@pytest.mark.parametrize("dataset, model, reason", [
    ("cifar10", G56, "about CIFAR-100"), ("cifar100", "resnet8", "trained resnet8")])
def test_fig15b_on_a_stand_in_dataset_or_network_is_not_testable(dataset, model, reason):
    row = fig15b(replicated(TBS15, "tbs", "final_test_accuracy", **FIG15B_SCALE), dataset, model)
    assert row["verdict"] == NOT_TESTABLE and reason in row["ours"]


def test_fig15b_a_batch_size_that_diverges_far_more_often_is_not_within_a_deviation():
    tbs = replicated({256: 0.690, 512: 0.690, 1024: 0.690}, "tbs", "final_test_accuracy", 0.002,
                     n=20, **FIG15B_SCALE)
    tbs = diverge(tbs, (tbs["tbs"] == 256) & (tbs["replicate"] < 12), 5)
    row = fig15b(tbs)
    assert row["verdict"] == CONTRADICTED and "256 12 of 20" in row["ours"]


def test_fig15b_one_diverged_run_of_sixty_leaves_the_equivalence_to_the_completed_runs():
    tbs = replicated({256: 0.690, 512: 0.691, 1024: 0.689}, "tbs", "final_test_accuracy", 0.002,
                     n=20, **FIG15B_SCALE)
    tbs = diverge(tbs, (tbs["tbs"] == 256) & (tbs["replicate"] == 0), 5)
    assert fig15b(tbs)["verdict"] == REPRODUCED
