"""The command-line contract: CSV schedules, lr-find and train outputs, one-line errors."""
import io
import json
import subprocess
import sys
from contextlib import redirect_stderr, redirect_stdout

import pandas as pd
import pytest

from paperlib import schedules as S
from paperlib.cli import main


def run_cli(*args):
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main([str(a) for a in args])
    return code, out.getvalue(), err.getvalue()


@pytest.mark.parametrize("style", ["smith", "three-phase"])
def test_schedule_one_cycle_prints_the_library_schedule_as_csv(style):
    code, out, _ = run_cli("schedule", "one-cycle", "--style", style, "--lr-min", 0.1,
                           "--lr-max", 1.0, "--step-size", 40, "--total", 100,
                           "--mom-max", 0.95, "--mom-min", 0.85, "--out", "-")
    assert code == 0
    frame = pd.read_csv(io.StringIO(out))
    assert list(frame.columns) == ["step", "lr", "momentum"]
    assert list(frame["step"]) == list(range(100))
    lr, mom = S.one_cycle(style, 0.1, 1.0, 40, 100, mom_max=0.95, mom_min=0.85)
    assert list(frame["lr"]) == pytest.approx([lr(s) for s in range(100)])
    assert list(frame["momentum"]) == pytest.approx([mom(s) for s in range(100)])


def test_schedule_plot_draws_the_lr_and_momentum_alone_and_prints_no_csv(tmp_path):
    code, out, _ = run_cli("schedule", "triangular", "--lr-min", 0.1, "--lr-max", 3.0,
                           "--step-size", 50, "--total", 100, "--plot", tmp_path / "s.png")
    assert code == 0 and (tmp_path / "s.png").stat().st_size > 1000
    assert len(out.splitlines()) == 2 and "step,lr" not in out  # a summary, not 100 rows
    from PIL import Image
    assert Image.open(tmp_path / "s.png").size[0] >= 1300  # a report column at >= 200 dpi


def test_schedule_writes_its_csv_to_the_file_asked_for(tmp_path):
    code, out, _ = run_cli("schedule", "constant", "--lr", 0.1, "--total", 3,
                           "--out", tmp_path / "s.csv")
    assert code == 0 and "s.csv" in out
    assert (tmp_path / "s.csv").read_text().splitlines() == [
        "step,lr,momentum", "0,0.1,0.9", "1,0.1,0.9", "2,0.1,0.9"]


def test_every_flag_has_help_and_every_choice_is_the_librarys():
    import argparse

    from paperlib import cifar, data, experiment, launch, models, optim, range_test, recipe
    from paperlib.cli import build_parser, choices
    from paperlib.cli import recipe as recipe_cli
    from paperlib.device import PRECISIONS
    from paperlib.engine import CAPTURE_CHOICES, FUSE_CHOICES
    from paperlib.paper.profiles import FIGURES, PROFILES
    from paperlib.schedules.cycles import ONE_CYCLE_STYLES
    assert choices.MODELS == models.MODEL_NAMES and choices.INITS == models.INIT_CHOICES
    assert choices.OPTIMIZERS == optim.OPTIMIZERS and choices.PRECISIONS == PRECISIONS
    assert choices.DATASETS == (*cifar.DATASETS, "synthetic")
    assert choices.AUGMENTATIONS == data.AUGMENTATIONS
    assert choices.NORMALIZATIONS == data.NORMALIZATIONS
    assert choices.SCHEDULES == experiment.SCHEDULES
    assert choices.FUSE == FUSE_CHOICES and choices.CAPTURE == CAPTURE_CHOICES
    assert choices.PROFILES == PROFILES and choices.FIGURES == FIGURES
    assert choices.ONE_CYCLE_STYLES == ONE_CYCLE_STYLES and choices.RANGE_MODES == range_test.MODES
    assert choices.LAUNCHERS == launch.LAUNCHERS
    assert recipe_cli.DEFAULT_SEARCH_FRACTION == recipe.DEFAULT_SEARCH_FRACTION
    assert recipe_cli.EPOCHS == recipe.FINAL_EPOCHS
    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    assert set(commands.choices) == {"schedule", "lr-find", "train", "figure", "estimate",
                                     "plan", "report", "recipe"}
    for name, sub in commands.choices.items():
        for action in sub._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            assert action.help, f"{name} {action.option_strings or action.dest} has no help"
            for choice in action.choices or ():
                assert str(choice) in action.help or action.metavar is None, (name, choice)


def test_help_answers_without_loading_torch():
    import time
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "paperlib", "figure",
                           "--help"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and "--fuse" in proc.stdout and "--precision" in proc.stdout
    assert time.perf_counter() - started < 5  # a loaded CI machine; about 0.1 s here
    imported = {line.split("|")[-1].strip() for line in proc.stderr.splitlines()}
    assert not {"torch", "pandas", "matplotlib", "numpy"} & imported


BAD_INPUTS = {
    "lr range reversed": ["schedule", "one-cycle", "--lr-min", 2, "--lr-max", 1,
                          "--step-size", 5, "--total", 20],
    "momentum out of range": ["schedule", "constant", "--lr", 0.1, "--momentum", 1.5,
                              "--total", 5],
    "not a number": ["schedule", "constant", "--lr", "abc", "--total", 5],
    "unknown command": ["fly"],
    "unknown model": ["lr-find", "--dataset", "synthetic", "--model", "resnet9000",
                      "--lr-min", 0.1, "--lr-max", 1, "--steps", 5, "--out", "{tmp}/a"],
    "unknown dataset": ["lr-find", "--dataset", "imagenet", "--lr-min", 0.1, "--lr-max", 1,
                        "--steps", 5, "--out", "{tmp}/b"],
    "out dir under a file": ["lr-find", "--dataset", "synthetic", "--lr-min", 0.1,
                             "--lr-max", 1, "--steps", 5, "--out", "{tmp}/file/sub"],
    "zero steps": ["train", "--dataset", "synthetic", "--steps", 0, "--out", "{tmp}/c"],
    "bad device": ["train", "--dataset", "synthetic", "--device", "tpu", "--steps", 5,
                   "--schedule", "constant", "--lr", 0.1, "--out", "{tmp}/d"],
    "zero bn shards": ["train", "--dataset", "synthetic", "--bn-shards", 0, "--steps", 5,
                       "--schedule", "constant", "--lr", 0.1, "--out", "{tmp}/e"],
    "non-integer bn shards": ["lr-find", "--dataset", "synthetic", "--bn-shards", 2.5,
                              "--lr-min", 0.1, "--lr-max", 1, "--steps", 5, "--out", "{tmp}/f"],
}


@pytest.mark.parametrize("name", list(BAD_INPUTS))
def test_bad_input_exits_2_with_one_line_and_no_traceback(name, tmp_path):
    (tmp_path / "file").write_text("not a folder")
    args = [str(a).format(tmp=tmp_path) for a in BAD_INPUTS[name]]
    code, out, err = run_cli(*args)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("paperlib: error:"), err
    assert "Traceback" not in err


def test_missing_data_names_where_it_looked(tmp_path, monkeypatch):
    monkeypatch.setenv("PAPERLIB_DATA", str(tmp_path / "nowhere"))
    monkeypatch.setenv("PAPERLIB_CACHE", str(tmp_path / "cache"))
    code, _, err = run_cli("lr-find", "--dataset", "cifar10", "--lr-min", 0.1, "--lr-max", 1,
                           "--steps", 5, "--out", tmp_path / "out")
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert str(tmp_path / "nowhere") in err and "PAPERLIB_DATA" in err


def test_lr_find_writes_csv_png_json(tmp_path):
    code, out, _ = run_cli("lr-find", "--dataset", "synthetic", "--model", "resnet8",
                           "--subset", 256, "--test-subset", 100, "--batch-size", 32,
                           "--lr-min", 0.01, "--lr-max", 1.0, "--steps", 16, "--eval-every", 4,
                           "--weight-decay", 1e-4, 1e-3, "--mom-max", 0.95, "--mom-min", 0.85,
                           "--device", "cpu", "--out", tmp_path)
    assert code == 0 and "suggested lr_max" in out
    frame = pd.read_csv(tmp_path / "lr_find.csv")
    assert set(frame["weight_decay"]) == {1e-4, 1e-3}
    train = frame[(frame["split"] == "train") & (frame["weight_decay"] == 1e-4)]
    assert train["momentum"].iloc[0] == pytest.approx(0.95)
    assert train["momentum"].iloc[-1] == pytest.approx(0.85)
    doc = json.loads((tmp_path / "lr_find.json").read_text())
    assert len(doc["runs"]) == 2 and doc["provenance"]["packages"]["torch"]
    assert doc["settings"]["data"]["dataset"] == "synthetic"
    assert (tmp_path / "lr_find.png").stat().st_size > 1000
    code, _, err = run_cli("lr-find", "--dataset", "synthetic", "--lr-min", 0.01, "--lr-max", 1,
                           "--steps", 4, "--out", tmp_path)
    assert code == 2 and "holds a finished run" in err


def test_train_writes_metrics_and_resumes_a_finished_run(tmp_path):
    args = ["train", "--dataset", "synthetic", "--model", "resnet8", "--subset", 256,
            "--test-subset", 100, "--batch-size", 32, "--steps", 12, "--eval-every", 6,
            "--checkpoint-every", 6, "--schedule", "one-cycle", "--lr-min", 0.05, "--lr-max", 0.5,
            "--step-size", 5, "--device", "cpu", "--out", tmp_path]
    code, out, _ = run_cli(*args)
    assert code == 0 and "status=completed" in out
    metrics = pd.read_csv(tmp_path / "metrics.csv")
    assert len(metrics[metrics["split"] == "train"]) == 12
    assert list(metrics[metrics["split"] == "test"]["step"]) == [6, 12]
    assert json.loads((tmp_path / "run.json").read_text())["status"] == "completed"
    code, _, err = run_cli(*args)
    assert code == 2 and "--overwrite" in err
    code, out, _ = run_cli(*args, "--resume")
    assert code == 0 and "status=completed" in out


def test_python_dash_m_entry_point():
    proc = subprocess.run([sys.executable, "-m", "paperlib", "schedule", "constant", "--lr", "0.1",
                           "--total", "3", "--out", "-"], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0
    assert proc.stdout.splitlines() == ["step,lr,momentum", "0,0.1,0.9", "1,0.1,0.9", "2,0.1,0.9"]


def test_overwrite_with_a_bad_argument_keeps_the_old_run(tmp_path):
    args = ["train", "--dataset", "synthetic", "--model", "resnet8", "--subset", 64,
            "--test-subset", 50, "--batch-size", 32, "--steps", 2, "--schedule", "constant",
            "--lr", 0.1, "--device", "cpu", "--out", tmp_path]
    assert run_cli(*args)[0] == 0
    before = (tmp_path / "metrics.csv").read_bytes()
    code, _, err = run_cli(*args[:4], "resnet9000", *args[5:], "--overwrite")
    assert code == 2 and "resnet9000" in err
    assert (tmp_path / "metrics.csv").read_bytes() == before


def test_negative_values_and_seeds_are_refused_by_name():
    for flags, name in ((["--lr", "-0.1"], "--lr"), (["--lr", "0.1", "--seed", "-1"], "--seed")):
        code, _, err = run_cli("train", "--dataset", "synthetic", "--steps", 2, "--schedule",
                               "constant", *flags, "--out", "/tmp/unused-paperlib-out")
        assert code == 2 and name in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("command", [
    ["train", "--schedule", "constant", "--lr", 0.1],
    ["lr-find", "--lr-min", 0.1, "--lr-max", 1],
])
def test_a_batch_size_not_divisible_by_bn_shards_exits_2_before_anything_runs(command, tmp_path):
    out = tmp_path / "out"
    code, stdout, err = run_cli(*command, "--dataset", "synthetic", "--batch-size", 30,
                                "--bn-shards", 4, "--steps", 2, "--out", out)
    assert code == 2 and stdout == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "--batch-size 30" in lines[0] and "--bn-shards 4" in lines[0]
    assert not out.exists()  # refused before the output folder was touched


def test_train_with_bn_shards_builds_sharded_batchnorm_and_records_it(tmp_path, monkeypatch):
    from paperlib import experiment
    from paperlib.models import ShardedBatchNorm2d
    built = []
    make_model = experiment.make_model

    def keep(*args, **kwargs):
        built.append(make_model(*args, **kwargs))
        return built[-1]

    monkeypatch.setattr(experiment, "make_model", keep)  # the CLI imports it at call time
    code, out, _ = run_cli("train", "--dataset", "synthetic", "--model", "resnet8", "--subset", 64,
                           "--test-subset", 50, "--batch-size", 32, "--bn-shards", 4,
                           "--steps", 2, "--schedule", "constant", "--lr", 0.1,
                           "--device", "cpu", "--out", tmp_path)
    assert code == 0 and "status=completed" in out
    assert {m.shards for m in built[0].modules() if isinstance(m, ShardedBatchNorm2d)} == {4}
    assert json.loads((tmp_path / "run.json").read_text())["settings"]["bn_shards"] == 4
