"""Every script in examples/ runs at its quick size and prints what it promises: practitioners
copy these scripts, so a change that breaks one must fail here first.

Why subprocesses: each script runs as a user runs it, `python examples/<name>.py --quick`, in a
fresh interpreter, so nothing of the test session (imports, seeds, threads) helps it along.
Why two at a time, each on one torch thread: on 2 cores that takes about half the time of one
after another, and a one-thread process is not held up by a neighbour, while the threads of a
two-thread one wait on each other whenever another process takes one of the cores (on this
project's 2-core CPU, shared so, a resnet18 step took seconds instead of a tenth of one).
"""
from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # real subprocesses; `make test-all` (CI) runs them

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
# Each script, and whether it runs Smith's recipe (and so prints a hand-off); the slowest
# first, so that the two workers finish together.
SCRIPTS = {"resnet18_fakedata": True, "tiny_language_model": True, "tabular_mlp": True,
           "text_classifier": False, "regression_mse": False}
TIMEOUT_S = 300  # one script; a hung one fails its test instead of the whole session


@pytest.fixture(scope="module")
def quick_runs(tmp_path_factory) -> dict[str, subprocess.CompletedProcess]:
    """Every script run once with --quick, two at a time, from an empty folder (so anything a
    script wrote where it runs would not land in the checkout)."""
    folder = tmp_path_factory.mktemp("examples")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PAPERLIB_PROGRESS": "0"}

    def run(name: str) -> subprocess.CompletedProcess:
        try:
            return subprocess.run([sys.executable, str(EXAMPLES / f"{name}.py"), "--quick"],
                                  capture_output=True, text=True, env=env, cwd=folder,
                                  timeout=TIMEOUT_S)
        except subprocess.TimeoutExpired as timeout:
            return subprocess.CompletedProcess(timeout.cmd, returncode=-1,
                                               stdout=str(timeout.stdout or ""),
                                               stderr=f"timed out after {TIMEOUT_S} s")

    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(zip(SCRIPTS, pool.map(run, SCRIPTS)))


def test_every_script_in_examples_is_run_by_this_test():
    assert {p.stem for p in EXAMPLES.glob("*.py")} == set(SCRIPTS)


@pytest.mark.parametrize("name", SCRIPTS)
def test_the_example_exits_0_at_its_quick_size_and_prints_its_suggestion_and_wall_time(
        name, quick_runs):
    done = quick_runs[name]
    assert done.returncode == 0, f"{name} failed:\n{done.stdout}\n{done.stderr}"
    lines = done.stdout.splitlines()
    assert any(line.startswith("suggestion: lr_max ") for line in lines), done.stdout
    assert any(line.startswith("1cycle: ") for line in lines), done.stdout
    assert any(line.startswith("wall time: ") for line in lines), done.stdout


@pytest.mark.parametrize("name", [name for name, recipe in SCRIPTS.items() if recipe])
def test_the_examples_with_the_recipe_print_its_hand_off(name, quick_runs):
    done = quick_runs[name]
    assert done.returncode == 0, f"{name} failed:\n{done.stdout}\n{done.stderr}"
    assert any(line.startswith("hand-off: lr ") for line in done.stdout.splitlines()), \
        done.stdout


def test_each_example_builds_the_same_model_and_data_at_every_call_for_a_benchmark():
    """build(quick) is what a benchmark imports: it must give the same initial weights and the
    same first batch each time, and the named fields the docstrings promise."""
    import importlib.util

    import torch
    for name in ("tabular_mlp", "tiny_language_model", "resnet18_fakedata"):
        spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        first, second = module.build(True), module.build(True)
        assert first._fields == ("model", "train_loader", "val_loader", "loss", "optimizer",
                                 "sweep", "steps")
        for a, b in zip(first.model.state_dict().values(), second.model.state_dict().values()):
            assert torch.equal(a, b)
        for a, b in zip(next(iter(first.train_loader)), next(iter(second.train_loader))):
            assert torch.equal(a, b)
