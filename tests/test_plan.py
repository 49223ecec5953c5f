"""The plan says, per claim, what would decide it and what that costs: its n is the fewest runs per
curve with 80% power under the rule as implemented, with the range its noise's own uncertainty
leaves it in, its costs are the profile's own runs, its noise is read from the committed figures
when called, and a claim the profile's runs cannot reach gets "not testable at this scale" instead
of an n."""
import json
import math

import numpy as np
import pandas as pd
import pytest

from paperlib.errors import ConfigError
from paperlib.paper import claims as C
from paperlib.paper import plan as P
from paperlib.paper.claims import NOT_TESTABLE
from paperlib.paper.profiles import PILOT_SEEDS, runs_for

SIMS = 500  # enough to check the plan's bookkeeping; the calibration tests use 2,000


@pytest.fixture(scope="module")
def paper():
    return P.plan("paper", sims=SIMS)


@pytest.fixture(scope="module")
def small():
    return P.plan("small", sims=SIMS)


def test_the_plan_has_one_row_per_claim_with_effect_noise_power_and_cost(paper):
    assert list(paper["claim"]) == [d.key for d in P.DESIGNS]
    for column in ("effect", "noise", "sigma", "sigma_df", "sigma_lo", "sigma_hi", "n_profile",
                   "power_profile", "n_80", "n_80_lo", "n_80_hi", "runs_80", "images_80",
                   "hours_80", "decision"):
        assert column in paper
    # the paper profile's seeds are the lock's: the pilot's 4 runs per curve, Fig 5 included
    assert set(paper["n_profile"]) == {PILOT_SEEDS}


def test_every_effect_and_stated_noise_names_its_source(paper):
    for r in paper.itertuples():
        assert any(s in r.effect for s in ("SETTINGS.md", "figs/")), r.claim
        assert any(s in r.noise for s in ("SETTINGS.md", "figs/", ".json")), r.claim


def test_claims_whose_runs_cannot_reach_smiths_effect_are_not_testable_at_this_scale(small, paper):
    # small trains ResNet-8: every claim about Smith's ResNet-56 is out of its reach; the rise is
    # about range tests in general
    every = {d.key for d in P.DESIGNS}
    for table, untestable in ((small, every - {"fig1a_rise"}), (paper, set())):
        cut = set(table.loc[table["decision"].str.startswith(NOT_TESTABLE), "claim"])
        assert cut == untestable
        assert table.loc[table["claim"].isin(cut), "n_80"].isna().all()
    assert "this profile trains resnet8" in small.set_index("claim").loc["fig8a_order", "decision"]


def test_the_plans_n_is_the_fewest_runs_per_curve_with_80pct_power(paper):
    decided = paper[paper["n_80"].notna()]
    assert len(decided) >= 5
    for r in decided.itertuples():
        n = int(r.n_80)
        assert P.power(r.claim, n, "paper", sigma=r.sigma, sims=SIMS) >= P.POWER
        if n > 1:
            assert P.power(r.claim, n - 1, "paper", sigma=r.sigma, sims=SIMS) < P.POWER


def test_costs_are_the_profiles_runs_times_the_runs_per_curve(paper):
    for r in paper[paper["n_80"].notna()].itertuples():
        specs = runs_for(r.figure, "paper")
        assert r.runs_80 == r.n_80 * len(specs)
        assert r.images_80 == r.n_80 * sum(s.steps * s.batch_size for s in specs)


def test_hours_come_from_the_rate_and_a_budget_says_what_it_affords():
    rate = {"fig1a": 2e-5, "fig5a": 1e-5, "fig5b": 1e-5, "fig8a": 2e-5, "fig8b": 2e-5,
            "fig15a": 2e-5, "fig15b": 2e-5}
    table = P.plan("paper", budget_hours=10, seconds_per_image=rate.get, sims=SIMS)
    for r in table[table["n_80"].notna()].itertuples():
        assert r.hours_80 == pytest.approx(r.images_80 * rate[r.figure] / 3600)
        assert r.n_budget == math.floor(10 / r.hours_per_seed)
        assert r.fits == (r.n_80 <= r.n_budget)
        if r.fits:
            assert "fits 10 GPU-hours" in r.decision
        else:
            assert r.decision.startswith(f"needs n = {int(r.n_80)} per curve, ")
            assert "GPU-hours afford" in r.decision
    assert not table["fits"].dropna().all() and table["fits"].dropna().any()


def test_a_budget_without_a_rate_is_refused():
    with pytest.raises(ConfigError, match="seconds_per_image"):
        P.plan("paper", budget_hours=24)
    with pytest.raises(ConfigError):
        P.plan("huge")


def test_seeds_within_a_budget_fund_the_cheapest_claims_after_the_pilot_and_stay_within_it(
        paper):
    table = paper.copy()
    table["hours_per_seed"] = table["images_per_seed"] * 1e-5 / 3600
    hours = table.groupby("figure")["hours_per_seed"].first()
    alloc = P.seeds_within(table, 40, start={"fig8a": 4}, least=3)
    seeds = {f: n for f, n in alloc.items() if not f.startswith("_")}
    assert set(seeds) == set(table["figure"]) and min(seeds.values()) >= 3
    # the pilot's 4 runs of fig8a are spent, and are not among the fresh seeds
    assert alloc["_pilot_hours"] == pytest.approx(4 * hours["fig8a"])
    assert alloc["_hours"] == pytest.approx(alloc["_pilot_hours"]
                                            + sum(seeds[f] * hours[f] for f in seeds))
    assert alloc["_hours"] <= 40
    for claim in alloc["_decided"]:
        r = table.set_index("claim").loc[claim]
        assert seeds[r["figure"]] >= r["n_80"]
    # a larger budget decides at least as much
    assert set(alloc["_decided"]) <= set(P.seeds_within(table, 400)["_decided"])


def committed(folder, figure, profile, runs, metrics=None):
    (folder / f"{figure}.json").write_text(json.dumps({"profile": profile, "runs": runs}))
    (metrics if metrics is not None else pd.DataFrame({"split": []})).to_csv(
        folder / f"{figure}.csv", index=False)


def test_noise_without_a_published_source_is_read_from_the_committed_runs_when_called(tmp_path):
    losses = {"a": (1.0, 1.2), "b": (0.5, 0.9)}    # within-curve variances 0.02 and 0.08
    committed(tmp_path, "fig8a", "small",
              [{"curve": c, "replicate": i, "status": "completed", "final_test_loss": v}
               for c, vs in losses.items() for i, v in enumerate(vs)])
    row = P.plan("paper", figures_dir=tmp_path, sims=SIMS).set_index("claim").loc["fig8a_order"]
    assert row["sigma"] == pytest.approx(math.sqrt((0.02 + 0.08) / 2))
    assert "fig8a.json, profile small), 2 df" in row["noise"]
    assert row["sigma_df"] == 2
    empty = P.plan("paper", figures_dir=tmp_path / "none", sims=SIMS).set_index("claim")
    assert math.isnan(empty.loc["fig8a_order", "sigma"])
    assert "no noise estimate" in empty.loc["fig8a_order", "decision"]


def test_committed_replicates_of_the_planned_profile_come_before_smiths_tables(tmp_path):
    runs = [{"curve": str(t), "tbs": t, "replicate": i, "status": "completed"}
            for t in (128, 1024) for i in (0, 1)]
    accs = {(str(t), i): 0.9 + 0.01 * i for t in (128, 1024) for i in (0, 1)}
    metrics = pd.DataFrame([{"curve": c, "replicate": i, "split": "test", "step": s, "lr": 0.1,
                             "loss": 1.0, "accuracy": a} for (c, i), a in accs.items()
                            for s in (1, 2, 3)])
    committed(tmp_path, "fig8b", "paper", runs, metrics)
    ours = P.plan("paper", figures_dir=tmp_path, sims=SIMS).set_index("claim").loc["fig8b_trend"]
    assert ours["sigma"] == pytest.approx(np.std([0.9, 0.91], ddof=1))
    committed(tmp_path, "fig8b", "small", runs, metrics)
    smith = P.plan("paper", figures_dir=tmp_path, sims=SIMS).set_index("claim").loc["fig8b_trend"]
    assert smith["sigma"] == 0.002 and "Table 1" in smith["noise"]


def test_describe_plan_gives_every_claim_its_effect_noise_and_decision(small):
    text = P.describe_plan(small)
    for claim in small["claim"]:
        assert f"[{claim}]" in text
    assert text.count(NOT_TESTABLE) == len(P.DESIGNS) - 1 and "if the effect were there" in text


def test_describe_plan_spreads_a_budget_over_the_figures():
    rate = lambda figure: 1e-5  # noqa: E731
    table = P.plan("paper", budget_hours=48, seconds_per_image=rate, sims=SIMS)
    assert "Within 48 GPU-hours for all figures, fresh seeds per curve " in P.describe_plan(table)
    text = P.describe_plan(table, start={f: 4 for f in table["figure"]}, least=3)
    assert "after a pilot of " in text and "whose runs measure and are not counted" in text


def test_each_noise_comes_with_its_95pct_interval_and_the_runs_at_both_ends(paper):
    row = paper.set_index("claim").loc["fig8a_order"]
    lo, hi = P.sd_interval(row["sigma"], row["sigma_df"])
    assert (row["sigma_lo"], row["sigma_hi"]) == pytest.approx((lo, hi))
    assert P.chi2_ppf(0.975, 3) == pytest.approx(9.348, abs=1e-3)  # the printed table
    assert row["n_80_lo"] <= row["n_80"] <= row["n_80_hi"]


def test_fig15b_under_smiths_own_readings_needs_hundreds_of_runs_and_under_equal_means_few(paper):
    # Smith's last-3 means differ by 0.0033, 0.0007 inside the margin
    row = paper.set_index("claim").loc["fig15b_equal"]
    assert row["n_80"] > 100 and row["alt"] == "equal means" and 2 <= row["n_80_alt"] < 100
    text = P.describe_plan(paper)
    assert "under equal means instead: n = " in text and "inside the margin ±0.004" in text


def test_the_plan_draws_the_conditions_its_rule_will_meet_and_says_so(paper):
    rows = paper.set_index("claim")
    assert rows.loc["fig1a_dip", "rho"] == P.RHO and "AR(1) 0.6" in rows.loc["fig1a_dip",
                                                                             "conditions"]
    assert rows.loc["fig5b_best", "diverge"] == [0.0, 1.0, 0.0, 0.0]
    assert "every run diverging" in rows.loc["fig5b_best", "conditions"]
    assert rows.loc["fig8b_trend", "images"] == 0.0
    assert "0 assumed until a pilot" in rows.loc["fig8b_trend", "conditions"]
    assert "drawn with: AR(1) 0.6" in P.describe_plan(paper)


def test_fig5bs_best_needs_4_runs_when_every_wd_1e3_run_diverges():
    # the counts alone decide that pair: 3 of 3 against 0 of 3 gives p = 1/20, 4 of 4 1/70
    assert P.power("fig5b_best", 3, "paper", sigma=0.0028, sims=SIMS) == 0.0
    assert P.power("fig5b_best", 4, "paper", sigma=0.0028, sims=SIMS) > 0.95
    completed = P.Conditions(diverge=None)  # had 1e-3 completed at 0.10, 3 would do
    assert P.power("fig5b_best", 3, "paper", sigma=0.0028, sims=SIMS, conditions=completed) > 0.9


def test_the_images_disagreement_caps_the_power_that_more_runs_can_buy():
    # a per-curve disagreement V / N that no n averages away: at n = 10,000 the trend's power is
    # that of its image term alone, Phi(L / sqrt(term) - z), below 0.8 however many runs
    images = 3.3e-6
    cond = P.Conditions(images=images)
    term = float(np.sum(C.trend_weights(np.log2([128, 256, 512, 1024])) ** 2)) * images
    limit = 0.5 * math.erfc((1.96 - P.FIG8B_TREND / math.sqrt(term)) / math.sqrt(2))
    few, many = (P.power("fig8b_trend", n, "paper", sigma=0.002, sims=SIMS, conditions=cond)
                 for n in (5, 10_000))
    assert few < P.power("fig8b_trend", 5, "paper", sigma=0.002, sims=SIMS) - 0.1
    assert many < P.POWER and abs(many - limit) <= 3 * math.sqrt(limit * (1 - limit) / SIMS)
