"""Smith's recipe (§5) on a tiny model and the synthetic task: the hand-off, the budget, the
untouched model, the written record, and one-line refusals of bad input."""
import json
import re
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from helpers import synthetic_loaders, tiny_cnn
from paperlib.data import DeviceLoader, NormStats, synthetic_split
from paperlib.errors import ConfigError, OutputDirError
from paperlib.experiment import make_model
from paperlib.recipe import (DEFAULT_SEARCH_FRACTION, MIN_STEPS, default_search_images,
                             minimum_search_images, plan_search, recipe_from_names, run_recipe)

BATCH = 16
# The final training the search is for. Its default budget (a fifth of 2000 x 16 images) is
# the least the default grids accept at batch 16: 400 batches, 20 updates per run.
STEPS = 2000
KEYS = ("lr_min", "lr_max", "mom_max", "mom_min", "weight_decay", "batch_size", "steps")
SMALL_GRIDS = dict(momenta=(0.9, 0.95), weight_decays=(1e-4, 1e-3))


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """The machine's two cores are shared: two torch threads would spin against each other."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


class CountingLoader:
    """A user's loader that records every batch the recipe draws from it."""

    def __init__(self, inner, drawn: list[int]):
        self.inner, self.drawn = inner, drawn

    def batch(self, step):
        x, y = self.inner.batch(step)
        self.drawn.append(len(y))
        return x, y


def _counted_data(n_train=512):
    split = synthetic_split(n_train, seed=0)
    stats = NormStats.from_split(split)
    drawn: list[int] = []

    def make_loader(batch_size, seed):
        return CountingLoader(DeviceLoader(split, batch_size, stats=stats, augment="crop-flip",
                                           seed=seed), drawn)

    train = DeviceLoader(split, BATCH, stats=stats, augment="crop-flip", seed=0)
    _, val = synthetic_loaders(n_train=64, n_test=100)
    return train, val, make_loader, drawn


def _state(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


@pytest.fixture(scope="module")
def searched(tmp_path_factory, one_thread):
    train, val, make_loader, drawn = _counted_data()
    model = tiny_cnn(seed=0)
    before = _state(model)
    rng = torch.get_rng_state()
    out = tmp_path_factory.mktemp("recipe")
    recipe = run_recipe(model, train, val, out_dir=out, steps=STEPS, make_loader=make_loader,
                        log=None)
    return SimpleNamespace(recipe=recipe, out=out, model=model, before=before, rng=rng,
                           drawn=drawn, doc=json.loads((out / "recipe.json").read_text()))


def test_recipe_json_hands_off_every_key_with_sane_values(searched):
    doc = searched.doc
    assert all(key in doc for key in KEYS)
    assert doc["status"] == "completed"
    assert 0 < doc["lr_min"] < doc["lr_max"] <= 3.0 * BATCH / 1000  # inside the default sweep
    assert doc["lr_min"] == pytest.approx(doc["lr_max"] / 10)
    assert doc["mom_max"] in (0.9, 0.95, 0.97, 0.99)
    assert doc["mom_min"] == pytest.approx(doc["mom_max"] - 0.1)
    assert doc["weight_decay"] in (1e-3, 1e-4, 1e-5, 1e-6)
    assert doc["batch_size"] == BATCH and doc["steps"] == STEPS  # CPU, no batch given: kept
    assert doc["schedule"]["lr"]["kind"] == "one_cycle_smith"
    assert doc["schedule"]["lr"]["step_size"] == doc["step_size"] == int(0.45 * STEPS)
    assert doc["provenance"]["git_commit"] is None or len(doc["provenance"]["git_commit"]) == 40


def test_the_model_and_the_global_rng_are_untouched_by_the_recipe(searched):
    after = searched.model.state_dict()
    assert after.keys() == searched.before.keys()
    for key, value in searched.before.items():
        assert torch.equal(after[key], value), key
    assert all(p.grad is None for p in searched.model.parameters())
    assert torch.equal(torch.get_rng_state(), searched.rng)


def test_the_search_stays_within_its_image_budget(searched):
    budget = searched.doc["search"]["budget_images"]
    drawn = sum(searched.drawn)
    assert drawn > budget / 2  # the search really trained
    assert drawn + BATCH <= budget  # what the loaders gave, plus the first-batch NaN check
    # the recipe's own account is exact: every image drawn, and the NaN check's one batch
    assert searched.doc["search"]["images_used"] == drawn + BATCH
    per_step = sum(s["cost"]["images"] for s in searched.doc["search"]["steps"])
    assert per_step == drawn


def test_the_default_budget_is_at_most_a_fifth_of_the_final_training(searched):
    final_cost = STEPS * BATCH
    assert DEFAULT_SEARCH_FRACTION <= 0.2
    assert default_search_images(STEPS, BATCH) <= 0.2 * final_cost
    assert searched.doc["search"]["budget_images"] == default_search_images(STEPS, BATCH)
    assert searched.doc["search"]["images_used"] <= 0.2 * final_cost


def test_lr_max_comes_as_a_median_with_its_spread_over_seeds(searched):
    lr = json.loads((searched.out / "lr_range.json").read_text())
    seeds = lr["measured"]["seeds"]
    assert [s["seed"] for s in seeds] == [0, 1]
    maxima = [s["lr_max"] for s in seeds]
    assert lr["measured"]["lr_max_spread"] == [min(maxima), max(maxima)]
    assert lr["chosen"]["lr_max"] == pytest.approx(float(np.median(maxima)))
    assert all(s["basis"] == "test loss" and s["valley_lr"] is not None for s in seeds)


def test_the_weight_decay_step_says_whether_its_two_searches_agree(searched):
    wd = json.loads((searched.out / "weight_decay.json").read_text())["measured"]
    assert set(wd["range_test"]) == set(wd["snapshot"]) == {"0.001", "0.0001", "1e-05", "1e-06"}
    assert wd["agree"] == (wd["range_test_winner"] == wd["snapshot_winner"])
    assert searched.doc["weight_decay"] == wd["range_test_winner"]


def test_every_step_saves_data_figure_and_json_and_the_report_links_them(searched):
    report = (searched.out / "report.md").read_text()
    for name, title in (("lr_range", "a. LR range test"), ("momentum", "b. Momentum"),
                        ("weight_decay", "c. Weight decay"), ("batch_size", "d. Batch size")):
        assert (searched.out / f"{name}.png").read_bytes()[:4] == b"\x89PNG"
        assert (searched.out / f"{name}.csv").stat().st_size > 0
        step = json.loads((searched.out / f"{name}.json").read_text())
        assert set(step) >= {"measured", "chosen", "why", "cost"}
        assert f"## {title}" in report and f"]({name}.png)" in report
    assert not list(searched.out.glob(".*.tmp")) and not list(searched.out.glob(".*.json"))
    for name in ("lr_range", "momentum", "weight_decay"):
        cost = json.loads((searched.out / f"{name}.json").read_text())["cost"]
        assert cost["images"] >= MIN_STEPS * BATCH and cost["seconds"] > 0


def test_each_step_is_read_back_from_its_files_as_a_table_and_a_figure(searched):
    from matplotlib.figure import Figure

    from paperlib.recipe import cost_table, describe_step, load_step, plot_step, step_table
    rows = {"lr_range": 2, "momentum": 4, "weight_decay": 4, "batch_size": 1}
    for name, n in rows.items():
        assert len(step_table(searched.out, name)) == n
        assert isinstance(plot_step(searched.out, name), Figure)
        assert describe_step(searched.out, name).startswith("chosen: ")
        assert load_step(searched.out, name)["chosen"] == next(
            s["chosen"] for s in searched.doc["search"]["steps"] if s["name"] == name)
    momentum = step_table(searched.out, "momentum")
    assert momentum.loc[momentum["chosen"], "momentum"].tolist() == [searched.doc["mom_max"]]
    assert cost_table(searched.out)["training images"].sum() == sum(searched.drawn)
    with pytest.raises(ConfigError, match="train_final=True"):
        plot_step(searched.out, "final")  # no final run in this folder


def test_a_finished_recipe_folder_is_not_overwritten_unless_asked(searched):
    train, val, _, _ = _counted_data(n_train=64)
    with pytest.raises(OutputDirError, match="overwrite"):
        run_recipe(tiny_cnn(), train, val, out_dir=searched.out, steps=STEPS,
                   log=None)
    assert json.loads((searched.out / "recipe.json").read_text()) == searched.doc


def test_a_plan_below_one_range_test_per_run_is_refused_with_the_budget_that_would_do():
    with pytest.raises(ConfigError) as refused:
        plan_search(5000, BATCH)
    message = str(refused.value)
    assert "\n" not in message and "search_images=5000" in message
    need = int(re.search(r"search_images >= (\d+)", message).group(1))
    assert minimum_search_images(BATCH) == need
    plan = plan_search(need, BATCH)
    assert min(plan["lr"], plan["momentum"], plan["weight_decay_range"],
               plan["weight_decay_snapshot"]) >= MIN_STEPS
    with pytest.raises(ConfigError):
        plan_search(need - 2 * BATCH, BATCH)


class NaNModel(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.net = tiny_cnn()

    def forward(self, x):
        return self.net(x) * float("nan")


def _empty_dataloader():
    return DataLoader(TensorDataset(torch.zeros(0, 3, 32, 32), torch.zeros(0, dtype=torch.long)),
                      batch_size=BATCH)


def _recipe(model, train, val, out, **kwargs):
    return run_recipe(model, train, val, out_dir=out, **{"steps": STEPS, "log": None, **kwargs})


BAD_INPUTS = {  # case: (call(train, val, out), what the message must say)
    "nan loss": (lambda t, v, out: _recipe(NaNModel(), t, v, out), "first batch"),
    "empty train loader": (lambda t, v, out: _recipe(tiny_cnn(), _empty_dataloader(),
                                                     v, out), "train loader yielded no batches"),
    "empty val loader": (lambda t, v, out: _recipe(tiny_cnn(), t, [], out),
                         "val loader yielded no images"),
    "budget too small": (lambda t, v, out: _recipe(tiny_cnn(), t, v, out,
                                                   search_images=3000), r"search_images >= \d+"),
    "default budget too small": (lambda t, v, out: _recipe(tiny_cnn(), t, v, out,
                                                           steps=100), "the default 20%"),
    "unknown model": (lambda t, v, out: recipe_from_names("synthetic", "resnet9000", out_dir=out),
                      "unknown model 'resnet9000'"),
    "re-batching a plain iterable": (lambda t, v, out: _recipe(
        tiny_cnn(), [t.batch(i) for i in range(4)], v, out, batch_size=2 * BATCH),
        "cannot be re-batched"),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_is_refused_in_one_line_and_leaves_nothing_in_out_dir(case, tmp_path):
    call, expected = BAD_INPUTS[case]
    train, val = synthetic_loaders(n_train=64, n_test=50, batch_size=BATCH)
    out = tmp_path / "out"
    with pytest.raises(ConfigError) as refused:
        call(train, val, out)
    message = str(refused.value)
    assert re.search(expected, message) and "\n" not in message, message
    assert not out.exists()  # not even the folder: every check runs before anything is written


def _tensor_dataloader(n=512):
    loader, _ = synthetic_loaders(n_train=n, batch_size=n)
    x, y = loader.batch(0)
    return DataLoader(TensorDataset(x, y), batch_size=BATCH, shuffle=True, drop_last=True)


def test_a_given_batch_size_rebuilds_a_dataloader_scales_the_lr_and_checks_it(tmp_path):
    _, val = synthetic_loaders(n_train=64, n_test=100)
    model = tiny_cnn(seed=1)
    recipe = run_recipe(model, _tensor_dataloader(), val, out_dir=tmp_path, steps=400,
                        search_images=8000, batch_size=2 * BATCH, log=None, **SMALL_GRIDS)
    step = json.loads((tmp_path / "batch_size.json").read_text())
    lr_step = json.loads((tmp_path / "lr_range.json").read_text())
    assert recipe.batch_size == 2 * BATCH and recipe.steps == 200  # same images as planned
    scaled = step["measured"]["lr_max_scaled"]
    assert scaled == pytest.approx(2 * lr_step["chosen"]["lr_max"])
    assert step["measured"]["check_steps"] >= MIN_STEPS
    assert recipe.lr_max <= scaled and recipe.lr_max == step["chosen"]["lr_max"]
    assert recipe.lr_min == pytest.approx(recipe.lr_max / 10)
    assert step["cost"]["images"] == step["measured"]["check_steps"] * 2 * BATCH
    assert recipe.images_used <= 8000


def test_recipe_from_names_trains_the_final_1cycle_run_on_a_copy(tmp_path):
    recipe = recipe_from_names("synthetic", "resnet8", subset=256, test_subset=100,
                               batch_size=BATCH, steps=60, search_images=4000, out_dir=tmp_path,
                               train_final=True, log=None, **SMALL_GRIDS)
    assert recipe.final.status == "completed" and recipe.final.steps_done == 60
    lrs = recipe.final.train["lr"].to_numpy()
    assert lrs[0] == pytest.approx(recipe.lr_min) and lrs.max() == pytest.approx(recipe.lr_max)
    assert lrs[-1] == pytest.approx(recipe.lr_min / 1000)  # Smith's annihilation floor
    moms = recipe.final.train["momentum"].to_numpy()
    assert moms[0] == pytest.approx(recipe.mom_max) and moms.min() >= recipe.mom_min - 1e-9
    doc = json.loads((tmp_path / "recipe.json").read_text())
    assert doc["final"]["status"] == "completed" and (tmp_path / "final" / "metrics.csv").exists()
    assert "![final run](final.png)" in (tmp_path / "report.md").read_text()
    assert recipe.final_model is not None


def test_without_a_batch_size_the_probe_takes_the_largest_batch_that_fits(tmp_path, monkeypatch):
    from paperlib.recipe import search as module
    monkeypatch.setattr(module, "_can_probe", lambda source: True)  # as on CUDA
    monkeypatch.setattr(module, "_fits", lambda model, first, batch, objective, compute:
                        batch <= 2 * BATCH)
    _, val = synthetic_loaders(n_train=64, n_test=100)
    recipe = run_recipe(tiny_cnn(), _tensor_dataloader(), val, out_dir=tmp_path,
                        steps=400, search_images=15000, log=None, **SMALL_GRIDS)
    step = json.loads((tmp_path / "batch_size.json").read_text())
    assert [t["batch_size"] for t in step["measured"]["probe"]["tried"]] == [32, 64]
    assert recipe.batch_size == 2 * BATCH and recipe.steps == 200
    # the probe's passes are charged too, and the whole step stays inside its tenth
    assert step["cost"]["images"] == 32 + 64 + step["measured"]["check_steps"] * 2 * BATCH
    assert step["cost"]["images"] <= 0.1 * 15000


# -- the command line: `python -m paperlib recipe` --------------------------------------------

def run_recipe_cli(*args):
    """`python -m paperlib recipe ARGS` in-process, through cli.main."""
    import io
    from contextlib import redirect_stderr, redirect_stdout

    from paperlib import cli
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        try:
            code = cli.main(["recipe", *(str(a) for a in args)])
        except SystemExit as e:  # --help
            code = e.code
    return code, out.getvalue(), err.getvalue()


def _cli_args(out, **flags):
    """The done-when command on the synthetic task, at the least budget the recipe accepts."""
    args = {"--dataset": "synthetic", "--model": "resnet8", "--subset": 256,
            "--test-subset": 100, "--batch-size": BATCH, "--steps": 60, "--device": "cpu",
            "--search-images": minimum_search_images(BATCH), "--out": out, **flags}
    return [str(x) for k, v in args.items() if v is not None for x in (k, v)]


@pytest.fixture(scope="module")
def cli_run(tmp_path_factory, one_thread):
    out = tmp_path_factory.mktemp("cli") / "recipe"
    code, stdout, stderr = run_recipe_cli(*_cli_args(out))
    return SimpleNamespace(out=out, code=code, stdout=stdout, stderr=stderr)


def test_the_recipe_command_writes_the_hand_off_and_the_lab_notebook(cli_run):
    assert cli_run.code == 0, cli_run.stderr
    doc = json.loads((cli_run.out / "recipe.json").read_text())
    assert all(key in doc for key in KEYS) and doc["status"] == "completed"
    assert doc["batch_size"] == BATCH and doc["steps"] == 60
    assert doc["settings"]["seeds"] == [0, 1]
    assert "## e. Hand-off" in (cli_run.out / "report.md").read_text()
    assert "recipe: lr_min=" in cli_run.stdout and "recipe.json, report.md" in cli_run.stdout


def test_the_recipe_command_has_help():
    code, out, _ = run_recipe_cli("--help")
    text = " ".join(out.split())  # argparse wraps the help to the terminal
    assert code == 0 and "--search-images" in text and "20% of steps x batch size" in text


def test_the_recipe_command_refuses_to_overwrite_a_finished_recipe(cli_run):
    before = (cli_run.out / "recipe.json").read_text()
    code, _, err = run_recipe_cli(*_cli_args(cli_run.out))
    assert code == 2 and "finished" in err and "--overwrite" in err
    assert (cli_run.out / "recipe.json").read_text() == before


CLI_BAD_INPUTS = {  # case: (flags over the done-when command, what the one line must say)
    "unknown model": ({"--model": "resnet9000"},
                      r"--model: invalid choice: 'resnet9000' \(choose from .*resnet8"),
    "budget too small": ({"--search-images": 3000},
                         r"--search-images 3000 is below .*give --search-images \d+ or more"),
    "default budget too small": ({"--search-images": None},
                                 r"default search budget .*give --search-images \d+ or more"),
    "empty training subset": ({"--subset": 0}, r"argument --subset: 0 must be >= 1"),
    "empty test subset": ({"--test-subset": 0}, r"argument --test-subset: 0 must be >= 1"),
    "unknown dataset": ({"--dataset": "imagenet"}, r"--dataset: invalid choice: 'imagenet'"),
    "unknown device": ({"--device": "tpu"}, r"device 'tpu' is unknown; use cpu, cuda or auto"),
}


@pytest.mark.parametrize("case", list(CLI_BAD_INPUTS))
def test_bad_recipe_flags_exit_2_with_one_line_naming_the_fix(case, tmp_path):
    flags, expected = CLI_BAD_INPUTS[case]
    out = tmp_path / "out"
    code, stdout, err = run_recipe_cli(*_cli_args(out, **flags))
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("paperlib: error:"), err
    assert re.search(expected, lines[0]), lines[0]
    assert not out.exists()  # refused before the output folder is touched


def test_a_loss_that_is_nan_at_the_first_step_exits_2_before_anything_is_written(tmp_path,
                                                                                  monkeypatch):
    import paperlib.experiment
    monkeypatch.setattr(paperlib.experiment, "make_model", lambda *a, **k: NaNModel())
    code, _, err = run_recipe_cli(*_cli_args(tmp_path / "out"))
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1, err
    assert "loss is nan on the first batch" in lines[0] and "fix its initialisation" in lines[0]
    assert not (tmp_path / "out" / "recipe.json").exists()
