"""Verdicts follow the rules in claims.py's docstrings, from the runs' rows alone: each claim is
checked for each of its four outcomes on constructed rows, and the noise model against hand
computations (Student t to its printed tables, Welch, OLS)."""
import itertools
import math

import numpy as np
import pandas as pd
import pytest

from paperlib.paper.claims import (ALPHA, CONTRADICTED, EFFECT_AT, FIG15B_MARGIN, INCONCLUSIVE,
                                   LAST_K, NOT_TESTABLE, REPRODUCED, SEED_SD, VERDICTS,
                                   claims_fig1a, claims_fig5, claims_fig8, claims_fig15,
                                   claims_table, format_claims, gap, last_k_readings, mean_of,
                                   t_ppf, t_sf, tbs_slope, turns_up, welch_df)
from paperlib.paper.profiles import runs_for

PAPER_SCALE = {"steps": 10_000, "batch_size": 1000}  # Fig 5's runs in full: 10 M images
SD10 = SEED_SD["cifar10"][0]


def runs(rows, **common):
    base = {"status": "completed", "diverged_at": None, "replicate": 0, "steps": 100,
            "steps_done": 100, "batch_size": 128, "test_images": 10_000, "truncated": False}
    return pd.DataFrame([{**base, **common, **r} for r in rows])


def replicated(values: dict, key: str, column: str, spread=0.002, n=2, **common):
    """n runs per curve, spread evenly over value ± spread."""
    offsets = np.linspace(-spread, spread, n) if n > 1 else [0.0]
    return runs([{key: k, "curve": str(k), "replicate": r, column: v + offsets[r]}
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


# --- Student t and the noise model ---------------------------------------------------------------

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


def test_one_run_of_an_accuracy_takes_the_test_set_floor_together_with_a_stated_seed_sd():
    acc = mean_of(pd.Series([0.94]), accuracy=True, test_images=10_000, seed_sd=SEED_SD["cifar10"])
    # 0.24 points of test-set sampling (REPLICATIONS §5) and Table 1's 0.28 points, in quadrature
    assert acc.se == pytest.approx(math.hypot(floor(0.94, 10_000), SD10))
    assert SD10 == pytest.approx(0.00277, abs=1e-5) and acc.df == math.inf
    assert "Table 1" in acc.basis and "10,000 images" in acc.basis


def test_one_run_without_a_stated_spread_has_no_noise_estimate():
    assert mean_of(pd.Series([0.3]), accuracy=False, test_images=10_000).se is None
    assert mean_of(pd.Series([0.9]), accuracy=True, test_images=10_000).se is None


def test_a_replicated_mean_takes_its_replicates_spread_alone():
    two = mean_of(pd.Series([0.90, 0.92]), accuracy=True, test_images=10_000)
    assert two.se == pytest.approx(np.std([0.90, 0.92], ddof=1) / math.sqrt(2)) and two.df == 1
    assert two.floor == pytest.approx(floor(0.91, 10_000))  # kept for fixed thresholds only


def test_a_gap_counts_beyond_t_times_welchs_standard_error():
    a = mean_of(pd.Series([0.95, 0.93]), accuracy=False, test_images=None)  # mean 0.94, se 0.01
    b = mean_of(pd.Series([0.91, 0.89]), accuracy=False, test_images=None)  # mean 0.90, se 0.01
    g = gap(a, b, higher=True)
    assert g.df == pytest.approx(2) and g.noise() == pytest.approx(4.303 * math.hypot(0.01, 0.01),
                                                                  rel=1e-3)
    assert g.diff == pytest.approx(0.04) and g.verdict == INCONCLUSIVE  # 0.04 < 0.061
    far = mean_of(pd.Series([0.99, 0.97]), accuracy=False, test_images=None)
    assert gap(far, b, higher=True).verdict == REPRODUCED            # 0.08 > 0.061
    assert gap(b, far, higher=True).verdict == CONTRADICTED
    assert gap(b, far, higher=False).verdict == REPRODUCED           # lower is the claim


def test_welch_degrees_of_freedom_follow_the_noisier_curve_and_a_stated_error_adds_none():
    assert float(welch_df(0.01, 1, 0.01, 1)) == pytest.approx(2)
    assert float(welch_df(0.03, 1, 0.001, 1)) == pytest.approx(1, abs=0.01)
    assert float(welch_df(0.01, 3, 0.01, math.inf)) == pytest.approx(12)
    assert float(welch_df(0.01, math.inf, 0.02, math.inf)) == math.inf


# --- Fig 5 ---------------------------------------------------------------------------------------

def fig5_runs(clr=0.924, const=0.912, n_test=10_000, scale=PAPER_SCALE):
    return runs([{"curve": "CLR=0.1-3", "final_test_accuracy": clr},
                 {"curve": "LR=0.35", "final_test_accuracy": const}], test_images=n_test, **scale)


def fig5b_runs(accs=(0.10, 0.92, 0.89, 0.90), scale=PAPER_SCALE, big_status="completed"):
    b = runs([{"curve": f"Weight decay={wd:g}", "wd": wd, "final_test_accuracy": acc}
              for wd, acc in zip((1e-3, 1e-4, 1e-5, 1e-6), accs)], **scale)
    if big_status != "completed":
        b.loc[0, ["status", "diverged_at"]] = [big_status, 123]
    return b


def test_fig5a_one_run_noise_is_the_floor_and_seed_sd_of_both_curves():
    row = claims_fig5(fig5_runs(0.924, 0.920), fig5b_runs())[0]
    se = math.hypot(math.hypot(floor(0.924, 10_000), SD10), math.hypot(floor(0.920, 10_000), SD10))
    assert f"+0.004, noise ±{1.95996 * se:.3f}" in row["ours"]


@pytest.mark.parametrize("clr, const, scale, verdict", [
    (0.924, 0.900, PAPER_SCALE, REPRODUCED),      # +0.024 against a noise of ~0.011
    (0.900, 0.924, PAPER_SCALE, CONTRADICTED),
    (0.924, 0.920, PAPER_SCALE, INCONCLUSIVE),
    (0.924, 0.800, {"steps": 400, "batch_size": 100}, NOT_TESTABLE),  # 0.04 M images
])
def test_fig5a_each_outcome(clr, const, scale, verdict):
    row = claims_fig5(fig5_runs(clr, const, scale=scale), fig5b_runs())[0]
    assert row["verdict"] == verdict
    if verdict == INCONCLUSIVE:
        assert "test-set sampling on 10,000 images" in row["ours"]
    if verdict == NOT_TESTABLE:
        assert "REPLICATIONS.md §1" in row["ours"] and "0.04 M images" in row["ours"]


@pytest.mark.parametrize("acc, status, scale, verdict", [
    (0.10, "completed", PAPER_SCALE, REPRODUCED),
    (0.60, "diverged", PAPER_SCALE, REPRODUCED),   # a diverged run did not train
    (0.60, "completed", PAPER_SCALE, CONTRADICTED),
    (0.199, "completed", PAPER_SCALE, INCONCLUSIVE),
    (0.10, "completed", {"steps": 4000, "batch_size": 1000}, NOT_TESTABLE),  # before ~4.2 M
])
def test_fig5b_collapse_each_outcome(acc, status, scale, verdict):
    row = claims_fig5(fig5_runs(), fig5b_runs((acc, 0.92, 0.89, 0.90), scale, status))[1]
    assert row["verdict"] == verdict
    if status == "diverged":
        assert "diverged at step 123" in row["ours"]


@pytest.mark.parametrize("below, verdict", [(0.190, REPRODUCED), (0.195, INCONCLUSIVE)])
def test_fig5b_collapse_from_identical_replicates_still_carries_the_test_set_floor(below, verdict):
    b = fig5b_runs()
    b = pd.concat([b, b.iloc[[0]].assign(replicate=1)])
    b.loc[np.isclose(b["wd"], 1e-3), "final_test_accuracy"] = below
    # floor at 0.19 on 10,000 images: 0.0039, so the noise is 1.96 x 0.0039 = 0.0077
    assert claims_fig5(fig5_runs(), b)[1]["verdict"] == verdict


@pytest.mark.parametrize("accs, scale, verdict", [
    ((0.10, 0.92, 0.89, 0.90), PAPER_SCALE, REPRODUCED),
    ((0.10, 0.88, 0.89, 0.92), PAPER_SCALE, CONTRADICTED),
    ((0.10, 0.92, 0.918, 0.90), PAPER_SCALE, INCONCLUSIVE),
    ((0.10, 0.92, 0.89, 0.90), {"steps": 400, "batch_size": 100}, NOT_TESTABLE),
])
def test_fig5b_best_weight_decay_each_outcome(accs, scale, verdict):
    assert claims_fig5(fig5_runs(), fig5b_runs(accs, scale))[2]["verdict"] == verdict


def test_a_curve_beating_the_best_contradicts_only_beyond_the_bonferroni_noise():
    # 1e-6 ahead of 1e-4 by 0.012: beyond one comparison's noise (~0.011), within three's (~0.013)
    rows = claims_fig5(fig5_runs(), fig5b_runs((0.10, 0.908, 0.89, 0.920)))
    assert rows[2]["verdict"] == INCONCLUSIVE and "Bonferroni over 3" in rows[2]["ours"]


def test_a_diverged_run_never_wins_and_shows_its_step():
    rows = claims_fig5(fig5_runs(), fig5b_runs((0.95, 0.92, 0.89, 0.90), big_status="diverged"))
    assert rows[2]["verdict"] == REPRODUCED  # its stale accuracy does not make 1e-3 the best


# --- Fig 8a: one ordering claim ------------------------------------------------------------------

LOSSES = {"CM range=0.95-0.85": 0.345, "Momentum=0.9": 0.36, "CM range=0.85-0.95": 0.385}
TBS_ACC = {128: 0.9165, 256: 0.919, 512: 0.920, 1024: 0.9205}
FIG8A_SCALE = {"steps": 20_000, "batch_size": 1024}   # Fig 8a's runs in full: 20.5 M images
FIG8B_SCALE = {"steps": 9_277, "batch_size": 512}     # Fig 8b's TBS-512 run in full: 4.75 M


def fig8(losses=LOSSES, acc=TBS_ACC, spread=0.002, n=2, scale_a=FIG8A_SCALE,
         scale_b=FIG8B_SCALE, **common):
    a = replicated(losses, "curve", "final_test_loss", spread, n=n, **scale_a, **common)
    b = replicated(acc, "tbs", "final_test_accuracy", spread, **scale_b, **common)
    return claims_fig8(a, evaluations(b, "final_test_accuracy"), b)


@pytest.mark.parametrize("losses, n, verdict", [
    (LOSSES, 2, REPRODUCED),   # adjacent gaps 0.015 and 0.025 against ~0.012 each (df 2)
    ({**LOSSES, "Momentum=0.9": 0.30}, 2, CONTRADICTED),     # 0.9 below 0.95-0.85 by 0.045
    ({**LOSSES, "Momentum=0.9": 0.347}, 2, INCONCLUSIVE),   # 0.002 above: within noise
    (LOSSES, 1, INCONCLUSIVE),                               # one run: a loss has no stated SD
])
def test_fig8a_momentum_order_each_outcome(losses, n, verdict):
    row = fig8(losses, n=n)[0]
    assert row["verdict"] == verdict
    if n == 1:
        assert "no source gives a test loss's run-to-run spread" in row["ours"]
    if verdict == CONTRADICTED:
        assert "Bonferroni over 3 pairs" in row["ours"]


def test_fig8a_is_one_claim_not_two():
    rows = fig8()
    assert len(rows) == 2 and "(Fig 8a)" in rows[0]["claim"] and "(Figs 6, 8b)" in rows[1]["claim"]


def test_fig8a_needs_both_adjacent_gaps_beyond_the_noise():
    # 0.95-0.85 far below, but 0.9 and 0.85-0.95 within noise of each other
    row = fig8({**LOSSES, "CM range=0.85-0.95": 0.362})[0]
    assert row["verdict"] == INCONCLUSIVE


def test_fig8a_a_reversal_within_the_bonferroni_noise_does_not_contradict():
    # 0.9 above 0.85-0.95 by 0.08, SE of the gap 0.0141 (df 2): t = 5.7, past t(97.5%) = 4.30,
    # short of t(1 - 2.5%/3) = 7.65
    row = fig8({**LOSSES, "Momentum=0.9": 0.465}, spread=0.01)[0]
    assert row["verdict"] == INCONCLUSIVE


@pytest.mark.parametrize("curve, verdict", [("CM range=0.95-0.85", CONTRADICTED),
                                            ("CM range=0.85-0.95", REPRODUCED)])
def test_fig8a_a_diverged_curve_has_the_highest_loss_whatever_the_noise(curve, verdict):
    a = replicated(LOSSES, "curve", "final_test_loss", **FIG8A_SCALE)
    a.loc[a["curve"] == curve, ["status", "diverged_at"]] = ["diverged", 9]
    b = replicated(TBS_ACC, "tbs", "final_test_accuracy", **FIG8B_SCALE)
    row = claims_fig8(a, evaluations(b, "final_test_accuracy"), b)[0]
    assert row["verdict"] == verdict and "diverged at step 9" in row["ours"]


@pytest.mark.parametrize("scale, truncated, reason", [
    ({"steps": 500, "batch_size": 128}, False, "figs/fig8a.png"),   # small: 64k images
    (FIG8A_SCALE, True, "truncated at 2 step(s)"),
])
def test_fig8a_not_testable_before_smiths_curves_reach_their_order_or_when_truncated(
        scale, truncated, reason):
    row = fig8(scale_a=scale, truncated=truncated, steps_done=2)[0]
    assert row["verdict"] == NOT_TESTABLE and reason in row["ours"]


def test_fig8_effect_points_split_the_profiles_as_smiths_figures_say():
    for figure, key in (("fig8a", "fig8a"), ("fig8b", "fig8b")):
        need = EFFECT_AT[key][0]
        images = {p: max(s.steps * s.batch_size for s in runs_for(figure, p)
                         if figure == "fig8a" or s.extra["tbs"] == 512)
                  for p in ("small", "paper")}
        assert images["small"] < need <= images["paper"]


# --- Fig 8b: OLS slope of final accuracies -------------------------------------------------------

@pytest.mark.parametrize("acc, spread, verdict", [
    ({128: 0.90, 256: 0.91, 512: 0.92, 1024: 0.93}, 0.002, REPRODUCED),
    ({128: 0.93, 256: 0.92, 512: 0.91, 1024: 0.90}, 0.002, CONTRADICTED),
    (TBS_ACC, 0.01, INCONCLUSIVE),          # +0.0013 per doubling, noise larger
])
def test_fig8b_larger_batch_higher_accuracy_each_outcome(acc, spread, verdict):
    row = fig8(acc=acc, spread=spread)[1]
    assert row["verdict"] == verdict and "OLS slope per doubling of TBS" in row["ours"]


@pytest.mark.parametrize("scale, truncated, reason", [
    ({"steps": 155, "batch_size": 512}, False, "paper/logs/"),      # small: 79k images
    (FIG8B_SCALE, True, "truncated at 2 step(s)"),
])
def test_fig8b_not_testable_before_the_final_plateau_or_when_truncated(scale, truncated, reason):
    row = fig8(scale_b=scale, truncated=truncated, steps_done=2)[1]
    assert row["verdict"] == NOT_TESTABLE and reason in row["ours"]


def test_fig8b_slope_is_ordinary_least_squares_over_all_runs_with_runs_minus_two_df():
    rng = np.random.default_rng(3)
    b = replicated(TBS_ACC, "tbs", "final_test_accuracy", n=3, **FIG8B_SCALE)
    b["reading"] = b["final_test_accuracy"] + rng.normal(0, 0.003, len(b))
    slope = tbs_slope(b)
    x, y = np.log2(b["tbs"].astype(float)), b["reading"]
    fit = np.polyfit(x, y, 1)
    resid = y - np.polyval(fit, x)
    se = math.sqrt((resid ** 2).sum() / (len(b) - 2) / ((x - x.mean()) ** 2).sum())
    assert slope.diff == pytest.approx(fit[0]) and slope.se == pytest.approx(se)
    assert slope.df == len(b) - 2 == 10


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
        replicated(LOSSES, "curve", "final_test_loss", **FIG8A_SCALE), short, b)[1]["ours"]


def test_fig8b_with_one_run_per_batch_reads_its_noise_off_the_regression():
    b = runs([{"tbs": t, "curve": str(t), "final_test_accuracy": v} for t, v in TBS_ACC.items()],
             **FIG8B_SCALE)
    a = replicated(LOSSES, "curve", "final_test_loss", **FIG8A_SCALE)
    row = claims_fig8(a, evaluations(b, "final_test_accuracy"), b)[1]
    assert "OLS over 4 runs" in row["ours"] and row["verdict"] in VERDICTS


def test_fig8b_a_diverged_batch_size_scores_zero():
    b = replicated({128: 0.90, 256: 0.91, 512: 0.92, 1024: 0.93}, "tbs", "final_test_accuracy",
                   **FIG8B_SCALE)
    b.loc[b["tbs"] == 1024, ["status", "diverged_at"]] = ["diverged", 7]
    a = replicated(LOSSES, "curve", "final_test_loss", **FIG8A_SCALE)
    row = claims_fig8(a, evaluations(b, "final_test_accuracy"), b)[1]
    # both TBS-1024 runs read 0: the largest batch is now clearly the worst
    assert "diverged at step 7" in row["ours"] and row["verdict"] == CONTRADICTED


# --- Fig 15 --------------------------------------------------------------------------------------

def sweeps(offsets: dict, replicates=(0, 1), wiggle=0.01):
    """Range tests whose smoothed minimum is 2.0 + offset (per replicate ± wiggle)."""
    steps = np.arange(7)
    return pd.concat([pd.DataFrame({"split": "test", "wd": wd, "replicate": r, "step": steps,
                                    "lr": 0.1 + 0.15 * steps,
                                    "loss": 2.0 + off + (wiggle if r else -wiggle)
                                    + (steps - 3) ** 2 * 0.1})
                      for wd, off in offsets.items() for r in replicates])


SWEEP_RUNS = runs([{"curve": f"WD={wd:g}", "wd": wd} for wd in (3e-4, 1e-4, 1e-5)])
GOOD_SWEEPS = {3e-4: 0.3, 1e-4: 0.0, 1e-5: 0.2}
TBS15 = {256: 0.6895, 512: 0.691, 1024: 0.687}


def fig15(tbs_runs, dataset="cifar100", offsets=GOOD_SWEEPS, replicates=(0, 1), sweep_runs=None):
    return claims_fig15(sweeps(offsets, replicates), SWEEP_RUNS if sweep_runs is None else
                        sweep_runs, evaluations(tbs_runs, "final_test_accuracy"), tbs_runs,
                        dataset=dataset)


@pytest.mark.parametrize("offsets, replicates, dataset, verdict", [
    (GOOD_SWEEPS, (0, 1), "cifar100", REPRODUCED),
    ({3e-4: 0.3, 1e-4: 0.2, 1e-5: 0.0}, (0, 1), "cifar100", CONTRADICTED),
    ({3e-4: 0.3, 1e-4: 0.0, 1e-5: 0.005}, (0, 1), "cifar100", INCONCLUSIVE),
    (GOOD_SWEEPS, (0,), "cifar100", INCONCLUSIVE),  # one sweep: a loss has no stated SD
    (GOOD_SWEEPS, (0, 1), "cifar10", NOT_TESTABLE),  # a stand-in dataset
])
def test_fig15a_best_weight_decay_each_outcome(offsets, replicates, dataset, verdict):
    tbs = replicated(TBS15, "tbs", "final_test_accuracy")
    row = fig15(tbs, dataset, offsets, replicates)[0]
    assert row["verdict"] == verdict
    if dataset == "cifar10":
        assert "cifar10 stand-in" in row["claim"] and "about CIFAR-100" in row["ours"]


def test_fig15b_margin_is_one_of_smiths_table_2_standard_deviations():
    assert FIG15B_MARGIN == SEED_SD["cifar100"][0] == 0.004


@pytest.mark.parametrize("acc, spread, n, verdict", [
    # 20 runs per TBS within ±0.002: each pair's 90% interval is ±0.0007 around its gap
    ({256: 0.690, 512: 0.691, 1024: 0.689}, 0.002, 20, REPRODUCED),
    ({256: 0.62, 512: 0.691, 1024: 0.687}, 0.004, 2, CONTRADICTED),   # 0.07 off, beyond noise
    (TBS15, 0.004, 2, INCONCLUSIVE),        # two runs: intervals far wider than the margin
    # a gap of 0.0045, past the margin but within the noise of it
    ({256: 0.6945, 512: 0.690, 1024: 0.690}, 0.002, 20, INCONCLUSIVE),
    (TBS15, 0.0, 1, INCONCLUSIVE),          # one run: floor and SD exceed the margin
    ({256: 0.60, 512: 0.691, 1024: 0.687}, 0.0, 1, CONTRADICTED),     # ... but not 0.09
])
def test_fig15b_batch_sizes_equivalent_each_outcome(acc, spread, n, verdict):
    tbs = replicated(acc, "tbs", "final_test_accuracy", spread, n=n, test_images=6400)
    row = fig15(tbs)[1]
    assert row["verdict"] == verdict and "margin ±0.004" in row["ours"]
    if verdict == REPRODUCED:
        assert "90% interval" in row["ours"]


def test_fig15b_on_a_stand_in_dataset_is_not_testable():
    row = fig15(replicated(TBS15, "tbs", "final_test_accuracy"), dataset="cifar10")[1]
    assert row["verdict"] == NOT_TESTABLE and "cifar10 stand-in" in row["claim"]


def test_fig15b_a_diverged_run_is_never_within_a_standard_deviation():
    tbs = replicated(TBS15, "tbs", "final_test_accuracy")
    tbs.loc[tbs["tbs"] == 256, ["status", "diverged_at"]] = ["diverged", 5]
    row = fig15(tbs)[1]
    assert row["verdict"] == CONTRADICTED and "diverged at step 5" in row["ours"]


def test_fig15a_names_a_stopped_sweep():
    stopped = SWEEP_RUNS.copy()
    stopped.loc[0, ["status", "diverged_at"]] = ["stopped", 40]
    row = fig15(replicated(TBS15, "tbs", "final_test_accuracy"), sweep_runs=stopped)[0]
    assert "WD=0.0003 stopped at step 40" in row["ours"]


# --- Fig 1a --------------------------------------------------------------------------------------

def sweep_rows(curve, lrs, losses):
    return pd.DataFrame({"curve": curve, "split": "test", "step": range(len(lrs)), "lr": lrs,
                         "loss": losses, "accuracy": 0.5})


TURN = [3, 2, 1.5, 1.2, 1.0, 1.1, 1.3, 1.6, 2.0, 2.5]            # falls, then rises
FALLING = list(np.linspace(3, 1, 10))                            # still falling at the end
FLAT = [1.5, 1.0, 1.6, 1.1, 1.5, 1.0, 1.6, 1.1, 1.5, 1.05]        # jagged, no trend
DIP = [3, 2, 1.2, 1.0, 1.0, 1.3, 1.6, 1.7, 1.6, 1.5] + [1.2] * 30


def fig1a(wide, low=DIP, truncated=False, status="completed"):
    metrics = pd.concat([sweep_rows("LR range 0-3", np.linspace(0, 3, len(wide)), wide),
                         sweep_rows("LR range 0-0.4", np.linspace(0, 0.4, len(low)), low)])
    meta = runs([{"curve": "LR range 0-3"}, {"curve": "LR range 0-0.4"}], truncated=truncated)
    if status != "completed":
        meta.loc[0, ["status", "diverged_at"]] = [status, len(wide)]
    return claims_fig1a(metrics, meta, lr_max=3.0)


@pytest.mark.parametrize("wide, truncated, status, verdict", [
    (TURN, False, "completed", REPRODUCED),
    (FALLING[:6], False, "diverged", REPRODUCED),   # a blow-up after the fall is a rise
    (FALLING, False, "completed", CONTRADICTED),
    (FLAT, False, "completed", INCONCLUSIVE),
    (TURN, True, "completed", NOT_TESTABLE),
])
def test_fig1a_rise_each_outcome(wide, truncated, status, verdict):
    row = fig1a(wide, truncated=truncated, status=status)[0]
    assert row["verdict"] == verdict
    if status == "diverged":
        assert "diverged at step 6" in row["ours"]


@pytest.mark.parametrize("low, verdict", [
    (DIP, REPRODUCED),
    (list(np.linspace(3, 1, 10)) + [1.0] * 30, CONTRADICTED),
    ([1.5, 1.0, 1.6, 1.1, 1.5, 1.0, 1.6, 1.1, 1.5, 1.05] + [1.2] * 30, INCONCLUSIVE),
    ([3, 2, 1.2], NOT_TESTABLE),                      # 3 evaluations at lr <= 0.1
])
def test_fig1a_dip_each_outcome(low, verdict):
    assert fig1a(TURN, low)[1]["verdict"] == verdict


def test_turns_up_rarely_sees_a_turn_in_flat_noise():
    rng = np.random.default_rng(0)
    calls = [turns_up(pd.DataFrame({"lr": np.linspace(0, 1, n), "loss": rng.normal(size=n)}),
                      ended_early=False)[1] for n in (10, 40, 100) for _ in range(100)]
    assert calls.count(REPRODUCED) <= 3 and calls.count(CONTRADICTED) <= 3


def test_every_verdict_is_one_of_the_four_and_the_format_has_no_padding():
    rows = claims_fig5(fig5_runs(), fig5b_runs()) + fig8() + fig1a(TURN)
    assert {r["verdict"] for r in rows} <= set(VERDICTS)
    text = format_claims(claims_table(rows))
    assert text.splitlines()[0].startswith("[reproduced] CLR 0.1-3")
    assert "  " not in text.replace("    paper", "").replace("    ours:  ", "")
    assert ALPHA == 0.025
