"""The paper's runs are pinned to SETTINGS.md; profiles scale them as their docstring says."""
import pytest

from paperlib.errors import ConfigError
from paperlib.paper.profiles import (FIGURES, PROFILES, get_profile, jittered, paper_runs, runs_for,
                               scale_for, seeds_for, eval_subset_for)
from paperlib.paper.replicate import settings_table


def test_fig8b_runs_are_smiths_jsub_rows():
    rows = [(r.batch_size, r.schedule["lr_min"], r.schedule["lr_max"], r.steps,
             r.schedule["step_size"]) for r in paper_runs("fig8b")]
    assert rows == [(1024, 0.1, 1.0, 5859, 2490), (512, 0.08, 0.8, 9277, 4003),
                    (256, 0.06, 0.6, 13671, 6054), (128, 0.04, 0.4, 18750, 8203)]
    assert all(r.weight_decay == 1e-4 and r.optimizer == "caffe-nesterov" for r in
               paper_runs("fig8b"))


def test_fig15b_and_fig15a_runs():
    assert [(r.batch_size, r.schedule["lr_max"], r.steps, r.schedule["step_size"])
            for r in paper_runs("fig15b")] == [(256, 0.5, 16601, 8007), (512, 0.9, 9765, 4394),
                                               (1024, 1.2, 7080, 3417)]
    sweeps = paper_runs("fig15a")
    assert [r.weight_decay for r in sweeps] == [3e-4, 1e-4, 1e-5]
    assert all(r.range_test and r.steps == 4882 and r.batch_size == 512 for r in sweeps)
    assert sweeps[0].schedule["mom_max"] == 0.95 and sweeps[0].schedule["mom_min"] == 0.85


def test_fig5_runs_are_the_super_convergence_settings():
    clr, const = paper_runs("fig5a")
    assert (clr.schedule["kind"], clr.schedule["lr_max"], clr.schedule["step_size"],
            clr.steps) == ("triangular", 3.0, 5000, 10000)
    assert (const.schedule["lr"], const.schedule["milestones"], const.steps) == (
        0.35, [50000, 70000], 80000)
    assert (clr.bn_momentum, const.bn_momentum) == (0.05, 0.001)  # Caffe maf 0.95 and 0.999
    assert {r.batch_size for r in paper_runs("fig5b")} == {1000}
    assert [r.weight_decay for r in paper_runs("fig5b")] == [1e-3, 1e-4, 1e-5, 1e-6]


def test_fig8a_momentum_variants():
    moms = [(r.label, r.schedule["mom_max"], r.schedule["mom_min"]) for r in paper_runs("fig8a")]
    assert moms == [("Momentum=0.9", 0.9, 0.9), ("CM range=0.85-0.95", 0.85, 0.95),
                    ("CM range=0.95-0.85", 0.95, 0.85)]
    assert all(r.steps == 20000 and r.schedule["step_size"] == 9000 and r.weight_decay == 5e-5
               for r in paper_runs("fig8a"))


@pytest.mark.parametrize("figure", FIGURES)
def test_the_paper_profile_is_the_paper(figure):
    assert runs_for(figure, "paper") == paper_runs(figure)


@pytest.mark.parametrize("figure", FIGURES)
@pytest.mark.parametrize("profile", ["smoke", "small"])
def test_scaled_profiles_keep_every_shape_and_scale_iterations_alike(figure, profile):
    scale = scale_for(figure, profile)
    for paper, ours in zip(paper_runs(figure), runs_for(figure, profile)):
        assert ours.label == paper.label and ours.weight_decay == paper.weight_decay
        for key in ("lr", "lr_min", "lr_max", "mom_max", "mom_min", "momentum", "kind"):
            assert ours.schedule.get(key) == paper.schedule.get(key)
        assert ours.steps == max(2, round(paper.steps * scale.iters))
        if "step_size" in paper.schedule:  # the cycle keeps its share of the run
            share, ours_share = (paper.schedule["step_size"] / paper.steps,
                                 ours.schedule["step_size"] / ours.steps)
            assert abs(share - ours_share) < 0.06
        assert ours.batch_size <= paper.batch_size


def test_batch_size_figures_keep_the_paper_tbs_at_small_scale():
    for figure in ("fig8b", "fig15b"):
        assert [r.batch_size for r in runs_for(figure, "small")] == [
            r.batch_size for r in paper_runs(figure)]


def test_jitter_follows_x4sh_only_in_the_paper_profile():
    spec = paper_runs("fig8b")[1]
    assert [jittered(spec, k, "paper") for k in range(4)] == [
        (524, "xavier"), (520, "msra"), (516, "xavier"), (512, "msra")]
    assert jittered(spec, 3, "small") == (512, "msra")
    assert jittered(paper_runs("fig5a")[0], 0, "paper") == (1000, "msra")  # Fig 5: single runs


def test_unknown_profile_and_figure_are_clear_errors():
    with pytest.raises(ConfigError, match="profile 'huge' is unknown; choose one of smoke"):
        get_profile("huge")
    with pytest.raises(ConfigError, match="figure 'fig9' is unknown"):
        paper_runs("fig9")
    assert PROFILES == ("smoke", "small", "paper")


def test_settings_table_shows_ours_and_the_paper():
    table = settings_table("fig8b", "small")
    assert list(table["TBS"]) == ["1024 (1024)", "512 (512)", "256 (256)", "128 (128)"]
    assert table["iterations"].iloc[0] == "98 (5859)"
    assert table["BN shards"].iloc[0] == "1 (4)"
    assert list(settings_table("fig5a", "paper")["BN shards"]) == ["8 (8)", "8 (8)"]


def test_fig5_reads_the_whole_test_set_and_the_paper_seeds_are_the_locks():
    from paperlib.paper.plan import read_lock
    lock = read_lock()
    for figure in FIGURES:
        assert seeds_for(figure, "paper") == tuple(range(lock["seeds"][figure]))
    assert seeds_for("fig8a", "small") == (0, 1) and seeds_for("fig1a", "small") == (0,)
    assert eval_subset_for("fig5b", "paper") is None and eval_subset_for("fig15a", "paper") == 6400
    assert eval_subset_for("fig5a", "small") == 2000


def test_fig1a_sweeps_its_axis_and_on_to_a_large_lr():
    narrow, wide = paper_runs("fig1a")
    assert (narrow.schedule["lr_min"], narrow.schedule["lr_max"]) == (0.0, 0.4)
    assert wide.schedule["lr_max"] == 3.0 and narrow.range_test and wide.range_test


def test_the_paper_profile_runs_a_pilot_of_smiths_four_runs_per_curve_before_any_lock(tmp_path,
                                                                                      monkeypatch):
    from paperlib.paper.plan import lock as L
    from paperlib.paper.profiles import PILOT_SEEDS
    assert PILOT_SEEDS == 4  # x4.sh's four jobs per curve (SETTINGS.md §1)
    monkeypatch.setattr(L, "LOCK_PATH", tmp_path / "none.json")
    monkeypatch.setattr(L.locked_seeds, "__defaults__", (tmp_path / "none.json",))
    for figure in FIGURES:
        assert seeds_for(figure, "paper") == (0, 1, 2, 3)  # Fig 5b too: its rule reads its spread
