"""What a claims table says beside each verdict and about the table as a whole: the test images'
disagreement term where per-image records are given, Holm's adjustment, the family-wise chance
at the table's size, and the text format nbval checks."""
import math

import numpy as np
import pytest

from paperlib.paper.claims import (ALPHA, NOT_TESTABLE, VERDICTS, claims_fig5, claims_fig8,
                                   claims_table, curve_means, format_claims, holm, image_variance)
from test_claims import (FIG8A_SCALE, FIG8B_SCALE, G56, LOSSES, SC, TBS_ACC, diverge, evaluations,
                         fig5_runs, fig5b_runs, fig8, replicated)


# --- the test images' disagreement ----------------------------------------------------------------

def test_the_image_term_is_zero_where_curves_agree_image_by_image_and_grows_with_disagreement():
    rng = np.random.default_rng(0)
    p = rng.uniform(0.2, 0.95, 4000)
    same = [(rng.random((8, 4000)) < p).astype(float) for _ in range(2)]
    assert image_variance(same, [1, -1]) < 2e-6
    q = np.clip(p + rng.normal(0, 0.3, 4000), 0, 1)  # equal on average, not image by image
    apart = [(rng.random((8, 4000)) < p).astype(float), (rng.random((8, 4000)) < q).astype(float)]
    truth = np.var(p - q) / 4000
    assert image_variance(apart, [1, -1]) == pytest.approx(truth, rel=0.15)
    assert image_variance([apart[0][:1], apart[1]], [1, -1]) is None  # one run: none


def per_image(frame, key_value, rng, images=2000, shift=None):
    """Per-image records for every run: each image right with its curve's accuracy, the curves
    disagreeing image by image (`shift` per curve key)."""
    base = rng.uniform(0.5, 1.0, images)
    out = {}
    for _, r in frame.iterrows():
        p = np.clip(base + (shift or {}).get(r[key_value], 0) * rng.standard_normal(images), 0, 1)
        correct = rng.random((3, images)) < p
        out[(str(r["curve"]), int(r["replicate"]))] = {"steps": np.array([1, 2, 3]),
                                                       "correct": correct,
                                                       "loss": (1 - correct).astype("float32")}
    return out


def test_fig8b_takes_the_test_images_disagreement_where_per_image_records_are_given():
    rng = np.random.default_rng(4)
    b = replicated(TBS_ACC, "tbs", "final_test_accuracy", 0.002, n=4, **FIG8B_SCALE)
    a = replicated(LOSSES, "curve", "final_test_loss", **FIG8A_SCALE)
    without = claims_fig8(a, evaluations(b, "final_test_accuracy"), b, model=G56)[1]
    records = per_image(b, "tbs", rng, shift={128: 0.3, 1024: 0.3})
    with_ = claims_fig8(a, evaluations(b, "final_test_accuracy"), b, model=G56,
                        per_image={"fig8b": records})[1]
    assert "disagreement between curves not available" in without["ours"]
    assert "disagreement between curves included" in with_["ours"]
    widths = [np.diff([float(v) for v in r["effect"].split("[")[1].split("]")[0].split(", ")])
              for r in (without, with_)]
    assert widths[1] > widths[0]


# --- the table ------------------------------------------------------------------------------------

def test_holms_adjustment_matches_a_hand_computation_and_skips_untestable_claims():
    adjusted = holm([0.01, 0.04, math.nan, 0.03])
    # sorted 0.01, 0.03, 0.04 of m = 3: 0.03, max(0.03, 2 x 0.03), max(0.06, 1 x 0.04)
    assert adjusted[0] == pytest.approx(0.03) and adjusted[3] == pytest.approx(0.06)
    assert adjusted[1] == pytest.approx(0.06) and math.isnan(adjusted[2])


def test_the_table_gives_each_claims_effect_p_holm_and_the_family_wise_chance():
    rows = claims_fig5(fig5_runs(0.924, 0.900), fig5b_runs(), model=SC) + fig8()
    table = claims_table(rows)
    for column in ("key", "n", "effect", "smith_inside", "p", "p_holm", "holm",
                   "shares_runs_with"):
        assert column in table
    testable = table[table["verdict"] != NOT_TESTABLE]
    assert (testable["p_holm"] >= testable["p"]).all()
    text = format_claims(table)
    assert f"multiplicity: {len(testable)} testable claim(s)" in text
    assert f"{1 - 0.95 ** len(testable):.0%} for independent claims" in text
    assert "fig5b_best, fig5b_collapse read the same runs" in text


def test_every_verdict_is_one_of_the_four_and_the_format_has_no_padding():
    rows = claims_fig5(fig5_runs(0.924, 0.900), fig5b_runs(), model=SC) + fig8()
    assert {r["verdict"] for r in rows} <= set(VERDICTS)
    text = format_claims(claims_table(rows))
    assert text.splitlines()[0].startswith("[reproduced] CLR 0.1-3")
    assert "  " not in text.replace("    ", "").replace("ours:  ", "")
    assert ALPHA == 0.025


def test_curve_means_count_diverged_runs_apart_from_the_completed_ones():
    frame = diverge(replicated({"a": 0.5}, "curve", "final_test_accuracy", n=3), [0])
    (m,) = curve_means(frame, "curve", "final_test_accuracy").values()
    assert (m.n, m.diverged, m.runs) == (2, 1, 3) and "1 of 3 diverged" in m.text()
