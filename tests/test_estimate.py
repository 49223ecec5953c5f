"""The work ahead (paperlib.paper.estimate) and the per-figure progress bar (paperlib.progress)."""
import pytest

from paperlib.cli import main
from paperlib.paper import estimate as E
from paperlib.paper.profiles import FIGURES
from paperlib.progress import FigureProgress, format_duration, show_progress


def test_the_paper_profile_is_66_runs_and_625_million_training_images():
    plan = E.work(list(FIGURES), "paper")
    assert len(plan) == 66
    assert plan["train_images"].sum() == 624_965_272
    # Fig 8b TBS 512, replicate 3 (no jitter): 9,277 iterations of 512 images
    row = plan[(plan.figure == "fig8b") & (plan.batch_size == 512)].iloc[0]
    assert row["steps"] == 9_277 and row["train_images"] == 9_277 * 512
    # evaluations every 200 iterations and at the end, on 6,400 test images
    assert row["test_images"] == (9_277 // 200 + 1) * 6_400


def test_runs_that_can_share_a_model_form_the_groups_fusion_would_form():
    plan = E.work(list(FIGURES), "paper")
    sizes = plan.groupby("figure")["group_size"].max().to_dict()
    # Smith's jitter gives each replicate its own batch: the curves of one replicate share one
    assert sizes == {"fig1a": 2, "fig5a": 1, "fig5b": 4, "fig8a": 3, "fig8b": 1, "fig15a": 3,
                     "fig15b": 1}
    assert plan[plan.figure == "fig8a"]["group"].nunique() == 4


def test_max_steps_shrinks_the_work_to_the_first_steps():
    plan = E.work(["fig8a"], "paper", max_steps=2, seeds=[0])
    assert set(plan["steps"]) == {2} and len(plan) == 3


def test_the_rate_between_two_probed_batches_is_interpolated_in_log_batch():
    rates = {128: 100.0, 512: 300.0}
    assert E._rate_at(128, rates) == 100.0 and E._rate_at(512, rates) == 300.0
    assert E._rate_at(256, rates) == pytest.approx(200.0)
    assert E._rate_at(200, {200: 5.0}) == 5.0


def test_the_smoke_estimate_probes_each_figure_and_prints_a_total(capsys):
    table = E.estimate(E.work(["fig8b"], "smoke"), device="cpu", probe_steps=1)
    assert list(table["figure"]) == ["fig8b"] and table["estimate_s"].iloc[0] > 0
    text = E.describe(table, "smoke", device="cpu")
    assert "fig8b" in text and "total" in text and "M train" in text


def test_the_cli_estimate_refuses_an_unknown_figure_in_one_line(capsys):
    assert main(["estimate", "--profile", "paper", "--figures", "fig99"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "fig99" in err[0] and "fig8a" in err[0]


def test_progress_shows_only_where_someone_is_watching(monkeypatch):
    monkeypatch.delenv("PAPERLIB_PROGRESS", raising=False)
    monkeypatch.setenv("CI", "true")
    assert show_progress() is False and show_progress(True) is True
    monkeypatch.setenv("PAPERLIB_PROGRESS", "1")
    assert show_progress() is True
    monkeypatch.setenv("PAPERLIB_PROGRESS", "0")
    monkeypatch.delenv("CI")
    assert show_progress() is False


def test_time_left_scales_the_elapsed_time_by_the_images_still_to_train(monkeypatch):
    clock = iter([0.0, 10.0])
    monkeypatch.setattr("paperlib.progress.time.perf_counter", lambda: next(clock))
    bar = FigureProgress("fig8b", [100, 300], show=False)
    bar.advance(0)  # 100 images in 10 s: 300 left take 30 s
    assert bar.time_left() == "30 s"
    assert format_duration(5400) == "1.5 h" and format_duration(3 * 86400) == "3.0 days"
