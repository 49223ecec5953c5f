"""The work ahead (paperlib.paper.estimate) and the per-figure progress bar (paperlib.progress)."""
import pytest

from paperlib.cli import main
from paperlib.paper import estimate as E
from paperlib.paper.profiles import FIGURES
from paperlib.progress import FigureBar, format_duration, show_progress


def test_the_paper_profile_is_the_locked_pilot_84_runs_and_1_0_billion_training_images():
    # the committed plan.lock.json is the pilot's: Smith's own 4 runs per curve, every figure
    plan = E.work(list(FIGURES), "paper")
    assert plan.groupby("figure").size().to_dict() == {
        "fig1a": 8, "fig5a": 8, "fig5b": 16, "fig8a": 12, "fig8b": 16, "fig15a": 12, "fig15b": 12}
    assert plan["train_images"].sum() == 1_014_965_272
    # Fig 8b TBS 512, replicate 3 (no jitter): 9,277 iterations of 512 images
    row = plan[(plan.figure == "fig8b") & (plan.batch_size == 512)].iloc[0]
    assert row["steps"] == 9_277 and row["train_images"] == 9_277 * 512
    # evaluations every 200 iterations and at the end, on 6,400 test images
    assert row["test_images"] == (9_277 // 200 + 1) * 6_400
    # a checkpoint every 9,277 // 4 = 2,319 iterations (4), and one at the end: the loop's five
    assert row["checkpoints"] == 5


def test_on_cuda_the_paper_runs_form_the_groups_fusion_would_form_each_step_captured():
    plan = E.work(list(FIGURES), "paper", device_type="cuda")
    sizes = plan.groupby("figure")["group_size"].max().to_dict()
    # Smith's jitter gives each of a curve's 4 replicates its own batch, so a batch's runs are
    # its curves (Fig 8a: 3); Fig 5 has no jitter: a curve's 4 replicates share a model, and
    # Fig 5b's 16 runs at TBS 1000 split at 8,192 images a step
    assert sizes == {"fig1a": 2, "fig5a": 4, "fig5b": 8, "fig8a": 3, "fig8b": 1, "fig15a": 3,
                     "fig15b": 1}
    assert (plan["group_size"] * plan["batch_size"]).max() <= 8192
    assert set(plan["stepper"]) == {"captured"} and plan["group"].nunique() == 44


def test_the_estimate_of_a_cuda_plan_says_its_steps_are_captured(monkeypatch):
    plan = E.work(["fig8a"], "paper", device_type="cuda")
    probed = []
    monkeypatch.setattr(E, "probe", lambda model, **kw: (probed.append(kw["members"]), E.Probe(
        a=(0.01, 0.02), b=(1e-4, 2e-4), eval_image=1e-5, checkpoint=0.1, flush=1e-3))[1])
    table = E.estimate(plan, device="cpu")
    assert probed == [2]  # fig8a's three curves of a batch fuse: the probe fuses two runs
    assert table["steppers"].tolist() == ["captured"]
    assert "captured in a CUDA graph" in E.describe(table, "paper", device="cpu")


def test_on_the_cpu_every_run_steps_alone_unless_fusion_is_asked_for():
    from paperlib.engine import Execution
    alone = E.work(["fig8a"], "paper", device_type="cpu")
    assert set(alone["stepper"]) == {"eager"} and alone["group_size"].max() == 1
    fused = E.work(["fig8a"], "paper", device_type="cpu", execution=Execution(fuse="on"))
    assert set(fused["stepper"]) == {"stacked"} and fused["group_size"].max() == 3


def test_max_steps_shrinks_the_work_to_the_first_steps():
    plan = E.work(["fig8a"], "paper", max_steps=2, seeds=[0])
    assert set(plan["steps"]) == {2} and len(plan) == 3


def test_a_step_costs_a_fixed_part_and_a_part_per_image_read_off_two_probed_batches():
    probe = E.Probe(a=(0.01, 0.02), b=(0.001, 0.002), eval_image=1e-4, checkpoint=0.1,
                    flush=0.01)
    assert probe.step(100, 0) == pytest.approx(0.11) and probe.step(100, 1) == pytest.approx(0.22)
    # two runs of 100 fused into one step share the fixed part
    assert probe.step(200, 0) == pytest.approx(0.21)
    assert probe.step(200, 0) < 2 * probe.step(100, 0)


def test_the_smoke_estimate_probes_each_model_once_prints_as_it_goes_and_a_total():
    lines = []
    table = E.estimate(E.work(["fig8a", "fig8b"], "smoke"), device="cpu", log=lines.append)
    assert list(table["figure"]) == ["fig8a", "fig8b"]
    assert (table["estimate_low_s"] <= table["estimate_s"]).all()
    assert (table["estimate_s"] <= table["estimate_high_s"]).all()
    assert len(lines) == 1 and "probed resnet8" in lines[0]  # one model, one optimizer
    text = E.describe(table, "smoke", device="cpu")
    assert "fig8b" in text and "total" in text and "M train" in text and "day" not in text


def test_the_paper_estimate_finishes_in_seconds_and_asks_before_more_than_a_day(capsys):
    import time
    started = time.perf_counter()
    assert main(["estimate", "--profile", "paper", "--device", "cpu"]) == 0
    assert time.perf_counter() - started < 30
    out = capsys.readouterr().out
    assert "84 runs" in out and "more than a day" in out and "CONFIRM=1" in out


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


def test_time_left_is_the_images_still_to_train_over_the_rate_so_far(monkeypatch):
    import types
    clock = iter([0.0, 10.0, 10.0, 10.0, 10.0])
    monkeypatch.setattr("paperlib.progress.time.perf_counter", lambda: next(clock))
    jobs = [types.SimpleNamespace(batch_size=10, steps=10),
            types.SimpleNamespace(batch_size=10, steps=30)]
    bar = FigureBar("fig8b", jobs, ["a", "b"], show=False)
    bar.group(jobs[:1], 0).update(10)  # run a's 100 images in 10 s: b's 300 take 30 s
    assert bar.time_left() == "30 s"
    assert format_duration(5400) == "1.5 h" and format_duration(3 * 86400) == "3.0 days"


def test_a_bar_shows_in_a_kernel_only_when_the_cell_came_from_a_person(monkeypatch):
    import types

    from paperlib import progress
    monkeypatch.delenv("PAPERLIB_PROGRESS", raising=False)
    monkeypatch.delenv("CI", raising=False)
    for allow_stdin, shown in ((True, True), (False, False)):
        kernel = types.SimpleNamespace(
            get_parent=lambda a=allow_stdin: {"content": {"allow_stdin": a}})
        monkeypatch.setattr(progress, "_kernel", lambda k=kernel: k)
        assert show_progress() is shown  # JupyterLab allows stdin; papermill and nbval do not
