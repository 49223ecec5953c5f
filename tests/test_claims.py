"""Verdicts follow the rules in claims.py's docstrings, from the runs' rows alone: each claim is
checked for each of its four outcomes on constructed rows."""
import math

import numpy as np
import pandas as pd
import pytest

from paperlib.paper.claims import (CONTRADICTED, INCONCLUSIVE, NOT_TESTABLE, REPRODUCED, VERDICTS,
                                   claims_fig1a, claims_fig5, claims_fig8, claims_fig15,
                                   claims_table, format_claims, gap, mean_of, turns_up)

PAPER_SCALE = {"steps": 10_000, "batch_size": 1000}  # Fig 5's runs in full: 10 M images


def runs(rows, **common):
    base = {"status": "completed", "diverged_at": None, "replicate": 0, "steps": 100,
            "steps_done": 100, "batch_size": 128, "test_images": 10_000, "truncated": False}
    return pd.DataFrame([{**base, **common, **r} for r in rows])


def replicated(values: dict, key: str, column: str, spread=0.002, **common):
    """Two runs per curve at value ± spread."""
    return runs([{key: k, "curve": str(k), "replicate": r, column: v + (spread if r else -spread)}
                 for k, v in values.items() for r in (0, 1)], **common)


# --- the noise model -----------------------------------------------------------------------------

def test_one_accuracy_takes_the_test_set_sampling_floor_and_one_loss_has_none():
    acc = mean_of(pd.Series([0.94]), accuracy=True, test_images=10_000)
    assert acc.se == pytest.approx(math.sqrt(0.94 * 0.06 / 10_000))  # 0.24 points (REPLICATIONS §5)
    assert mean_of(pd.Series([0.3]), accuracy=False, test_images=10_000).se is None
    two = mean_of(pd.Series([0.90, 0.92]), accuracy=True, test_images=10_000)
    assert two.se == pytest.approx(np.std([0.90, 0.92], ddof=1) / math.sqrt(2)) and two.df == 1
    same = mean_of(pd.Series([0.90, 0.90]), accuracy=True, test_images=10_000)
    assert same.se == pytest.approx(0.003)  # identical replicates still carry the sampling floor


def test_a_gap_counts_beyond_t_times_the_standard_error_of_the_difference():
    a = mean_of(pd.Series([0.95, 0.93]), accuracy=False, test_images=None)  # mean 0.94, se 0.01
    b = mean_of(pd.Series([0.91, 0.89]), accuracy=False, test_images=None)  # mean 0.90, se 0.01
    g = gap(a, b, higher=True)
    assert g.noise == pytest.approx(4.303 * math.hypot(0.01, 0.01))  # t(97.5%, df 2) = 4.303
    assert g.diff == pytest.approx(0.04) and g.verdict == INCONCLUSIVE  # 0.04 < 0.061
    far = mean_of(pd.Series([0.99, 0.97]), accuracy=False, test_images=None)
    assert gap(far, b, higher=True).verdict == REPRODUCED            # 0.08 > 0.061
    assert gap(b, far, higher=True).verdict == CONTRADICTED
    assert gap(b, far, higher=False).verdict == REPRODUCED           # lower is the claim


def test_turns_up_rarely_sees_a_turn_in_flat_noise():
    rng = np.random.default_rng(0)
    calls = [turns_up(pd.DataFrame({"lr": np.linspace(0, 1, n), "loss": rng.normal(size=n)}),
                      ended_early=False)[1] for n in (10, 40, 100) for _ in range(100)]
    assert calls.count(REPRODUCED) <= 3 and calls.count(CONTRADICTED) <= 3


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


@pytest.mark.parametrize("clr, const, scale, verdict", [
    (0.924, 0.900, PAPER_SCALE, REPRODUCED),      # +0.024 against a noise of ~0.008
    (0.900, 0.924, PAPER_SCALE, CONTRADICTED),
    (0.924, 0.920, PAPER_SCALE, INCONCLUSIVE),
    (0.924, 0.800, {"steps": 400, "batch_size": 100}, NOT_TESTABLE),  # 0.04 M images
])
def test_fig5a_each_outcome(clr, const, scale, verdict):
    row = claims_fig5(fig5_runs(clr, const, scale=scale), fig5b_runs())[0]
    assert row["verdict"] == verdict
    if verdict == INCONCLUSIVE:
        assert "+0.004, noise ±" in row["ours"] and "test-set sampling on 10,000" in row["ours"]
    if verdict == NOT_TESTABLE:
        assert "REPLICATIONS.md §1" in row["ours"] and "0.04 M images" in row["ours"]


@pytest.mark.parametrize("acc, status, scale, verdict", [
    (0.10, "completed", PAPER_SCALE, REPRODUCED),
    (0.60, "diverged", PAPER_SCALE, REPRODUCED),   # a diverged run did not train: chance
    (0.60, "completed", PAPER_SCALE, CONTRADICTED),
    (0.199, "completed", PAPER_SCALE, INCONCLUSIVE),
    (0.10, "completed", {"steps": 4000, "batch_size": 1000}, NOT_TESTABLE),  # before ~4.2 M
])
def test_fig5b_collapse_each_outcome(acc, status, scale, verdict):
    row = claims_fig5(fig5_runs(), fig5b_runs((acc, 0.92, 0.89, 0.90), scale, status))[1]
    assert row["verdict"] == verdict
    if status == "diverged":
        assert "diverged at step 123" in row["ours"]


@pytest.mark.parametrize("accs, scale, verdict", [
    ((0.10, 0.92, 0.89, 0.90), PAPER_SCALE, REPRODUCED),
    ((0.10, 0.88, 0.89, 0.92), PAPER_SCALE, CONTRADICTED),
    ((0.10, 0.92, 0.918, 0.90), PAPER_SCALE, INCONCLUSIVE),
    ((0.10, 0.92, 0.89, 0.90), {"steps": 400, "batch_size": 100}, NOT_TESTABLE),
])
def test_fig5b_best_weight_decay_each_outcome(accs, scale, verdict):
    assert claims_fig5(fig5_runs(), fig5b_runs(accs, scale))[2]["verdict"] == verdict


def test_a_diverged_run_never_wins_and_shows_its_step():
    rows = claims_fig5(fig5_runs(), fig5b_runs((0.95, 0.92, 0.89, 0.90), big_status="diverged"))
    assert rows[2]["verdict"] == REPRODUCED  # its stale accuracy does not make 1e-3 the best


# --- Fig 8 ---------------------------------------------------------------------------------------

LOSSES = {"CM range=0.95-0.85": 0.345, "Momentum=0.9": 0.36, "CM range=0.85-0.95": 0.385}
TBS_ACC = {128: 0.9165, 256: 0.919, 512: 0.920, 1024: 0.9205}


def fig8(losses=LOSSES, acc=TBS_ACC, spread=0.002, n=2, **common):
    a = (replicated(losses, "curve", "final_test_loss", spread, **common) if n == 2 else
         runs([{"curve": k, "final_test_loss": v} for k, v in losses.items()], **common))
    b = replicated(acc, "tbs", "best_test_accuracy", spread, **common)
    return claims_fig8(a, b)


@pytest.mark.parametrize("losses, n, truncated, verdict", [
    (LOSSES, 2, False, REPRODUCED),
    ({**LOSSES, "Momentum=0.9": 0.30}, 2, False, CONTRADICTED),
    ({**LOSSES, "Momentum=0.9": 0.347}, 2, False, INCONCLUSIVE),
    (LOSSES, 1, False, INCONCLUSIVE),               # one run: a test loss has no noise floor
    (LOSSES, 2, True, NOT_TESTABLE),
])
def test_fig8a_decreasing_momentum_lowest_each_outcome(losses, n, truncated, verdict):
    row = fig8(losses, n=n, truncated=truncated, steps_done=2)[0]
    assert row["verdict"] == verdict
    if n == 1:
        assert "no noise estimate" in row["ours"]
    if truncated:
        assert "truncated at 2 step(s) of 100 (max_steps)" in row["ours"]


@pytest.mark.parametrize("losses, truncated, verdict", [
    (LOSSES, False, REPRODUCED),
    ({**LOSSES, "Momentum=0.9": 0.45}, False, CONTRADICTED),
    ({**LOSSES, "Momentum=0.9": 0.383}, False, INCONCLUSIVE),
    (LOSSES, True, NOT_TESTABLE),
])
def test_fig8a_increasing_momentum_highest_each_outcome(losses, truncated, verdict):
    assert fig8(losses, truncated=truncated)[1]["verdict"] == verdict


@pytest.mark.parametrize("acc, spread, truncated, verdict", [
    ({128: 0.90, 256: 0.91, 512: 0.92, 1024: 0.93}, 0.002, False, REPRODUCED),
    ({128: 0.93, 256: 0.92, 512: 0.91, 1024: 0.90}, 0.002, False, CONTRADICTED),
    (TBS_ACC, 0.01, False, INCONCLUSIVE),          # +0.0013 per doubling, noise larger
    (TBS_ACC, 0.002, True, NOT_TESTABLE),
])
def test_fig8b_larger_batch_higher_accuracy_each_outcome(acc, spread, truncated, verdict):
    row = fig8(acc=acc, spread=spread, truncated=truncated)[2]
    assert row["verdict"] == verdict and "slope per doubling of TBS" in row["ours"]


def test_fig8b_with_one_run_per_batch_uses_the_test_sampling_floor():
    b = runs([{"tbs": t, "curve": str(t), "best_test_accuracy": v} for t, v in TBS_ACC.items()],
             test_images=6400)
    a = runs([{"curve": k, "final_test_loss": v} for k, v in LOSSES.items()])
    row = claims_fig8(a, b)[2]
    assert "test-set sampling on 6,400 images" in row["ours"] and row["verdict"] == INCONCLUSIVE


def test_fig8b_a_diverged_batch_size_scores_chance():
    b = replicated({128: 0.90, 256: 0.91, 512: 0.92, 1024: 0.93}, "tbs", "best_test_accuracy")
    b.loc[b["tbs"] == 1024, ["status", "diverged_at"]] = ["diverged", 7]
    a = replicated(LOSSES, "curve", "final_test_loss")
    row = claims_fig8(a, b)[2]
    # both TBS-1024 runs count as 0 accuracy: the largest batch is now clearly the worst
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
TBS15 = {256: 0.6895, 512: 0.691, 1024: 0.687}


@pytest.mark.parametrize("offsets, replicates, dataset, verdict", [
    ({3e-4: 0.3, 1e-4: 0.0, 1e-5: 0.2}, (0, 1), "cifar100", REPRODUCED),
    ({3e-4: 0.3, 1e-4: 0.2, 1e-5: 0.0}, (0, 1), "cifar100", CONTRADICTED),
    ({3e-4: 0.3, 1e-4: 0.0, 1e-5: 0.005}, (0, 1), "cifar100", INCONCLUSIVE),
    ({3e-4: 0.3, 1e-4: 0.0, 1e-5: 0.2}, (0,), "cifar100", INCONCLUSIVE),  # one sweep: no noise
    ({3e-4: 0.3, 1e-4: 0.0, 1e-5: 0.2}, (0, 1), "cifar10", NOT_TESTABLE),  # a stand-in dataset
])
def test_fig15a_best_weight_decay_each_outcome(offsets, replicates, dataset, verdict):
    tbs = replicated(TBS15, "tbs", "best_test_accuracy")
    row = claims_fig15(sweeps(offsets, replicates), SWEEP_RUNS, tbs, dataset=dataset)[0]
    assert row["verdict"] == verdict
    if dataset == "cifar10":
        assert "cifar10 stand-in" in row["claim"] and "about CIFAR-100" in row["ours"]


@pytest.mark.parametrize("acc, spread, n, dataset, verdict", [
    (TBS15, 0.004, 2, "cifar100", REPRODUCED),      # gap 0.004 within one SD of ~0.006
    ({256: 0.64, 512: 0.691, 1024: 0.687}, 0.004, 2, "cifar100", CONTRADICTED),
    ({256: 0.68, 512: 0.691, 1024: 0.687}, 0.004, 2, "cifar100", INCONCLUSIVE),
    (TBS15, 0.004, 1, "cifar100", INCONCLUSIVE),    # one run per TBS: no spread
    (TBS15, 0.004, 2, "cifar10", NOT_TESTABLE),
])
def test_fig15b_batch_sizes_equivalent_each_outcome(acc, spread, n, dataset, verdict):
    tbs = (replicated(acc, "tbs", "best_test_accuracy", spread) if n == 2 else
           runs([{"tbs": t, "curve": str(t), "best_test_accuracy": v} for t, v in acc.items()]))
    row = claims_fig15(sweeps({3e-4: 0.3, 1e-4: 0.0, 1e-5: 0.2}), SWEEP_RUNS, tbs,
                       dataset=dataset)[1]
    assert row["verdict"] == verdict


def test_fig15b_a_diverged_run_is_never_within_a_standard_deviation():
    tbs = replicated(TBS15, "tbs", "best_test_accuracy")
    tbs.loc[tbs["tbs"] == 256, ["status", "diverged_at"]] = ["diverged", 5]
    row = claims_fig15(sweeps({3e-4: 0.3, 1e-4: 0.0, 1e-5: 0.2}), SWEEP_RUNS, tbs,
                       dataset="cifar100")[1]
    assert row["verdict"] == CONTRADICTED and "diverged at step 5" in row["ours"]


def test_fig15a_names_a_stopped_sweep():
    stopped = SWEEP_RUNS.copy()
    stopped.loc[0, ["status", "diverged_at"]] = ["stopped", 40]
    row = claims_fig15(sweeps({3e-4: 0.3, 1e-4: 0.0, 1e-5: 0.2}), stopped,
                       replicated(TBS15, "tbs", "best_test_accuracy"), dataset="cifar100")[0]
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


def test_every_verdict_is_one_of_the_four_and_the_format_has_no_padding():
    rows = claims_fig5(fig5_runs(), fig5b_runs()) + fig8() + fig1a(TURN)
    assert {r["verdict"] for r in rows} <= set(VERDICTS)
    text = format_claims(claims_table(rows))
    assert text.splitlines()[0].startswith("[reproduced] CLR 0.1-3")
    assert "  " not in text.replace("    paper", "").replace("    ours:  ", "")
