"""Runs survive interruption; bad situations give clear errors and never corrupt results.

These start real processes and send real signals (SIGTERM, SIGINT, SIGKILL).
"""
import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from helpers import synthetic_loaders, tiny_model
from paperlib.errors import OutputDirError
from paperlib.engine import (Compute, Every, Execution, Folder, Job, RunInterrupted, fit,
                             fit_many)
from paperlib.range_test import Sweep, lr_range_test

TRAIN = ["train", "--dataset", "synthetic", "--model", "resnet8", "--subset", "512",
         "--test-subset", "100", "--batch-size", "32", "--steps", "40", "--eval-every", "20",
         "--checkpoint-every", "10", "--schedule", "one-cycle", "--lr-min", "0.05",
         "--lr-max", "0.5", "--step-size", "16", "--mom-max", "0.95", "--mom-min", "0.85",
         "--device", "cpu", "--seed", "7"]


def _cli(out: Path, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}  # same threads in every run: same float sums
    return subprocess.Popen([sys.executable, "-m", "paperlib", *TRAIN, "--out", str(out), *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def _wait_for_rows(metrics: Path, steps: int, proc: subprocess.Popen, timeout: float = 120):
    """Block until the run has logged `steps` train rows (it appends as it goes)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        if metrics.exists():
            lines = metrics.read_text().splitlines()
            if sum(",train," in line for line in lines) >= steps:
                return
        time.sleep(0.05)
    raise TimeoutError(f"{metrics} never reached {steps} rows")


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    out = tmp_path_factory.mktemp("whole")
    proc = _cli(out)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    return (out / "metrics.csv").read_bytes()


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_writes_a_final_checkpoint_and_resume_is_bit_identical(signum, tmp_path,
                                                                       uninterrupted):
    out = tmp_path / "run"
    proc = _cli(out)
    _wait_for_rows(out / "metrics.csv", 13, proc)
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signum
    assert len(err.strip().splitlines()) == 1 and "--resume" in err and "Traceback" not in err
    doc = json.loads((out / "run.json").read_text())
    assert doc["status"] == "interrupted"
    stopped_at = doc["steps_done"]
    assert 13 <= stopped_at < 40
    assert (out / "checkpoints" / f"step_{stopped_at:07d}.pt").exists()  # not only periodic ones
    resumed = _cli(out, "--resume")
    _, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err
    assert (out / "metrics.csv").read_bytes() == uninterrupted


@pytest.mark.slow
def test_sigkill_resumes_from_the_last_periodic_checkpoint_bit_identically(tmp_path, uninterrupted):
    out = tmp_path / "run"
    proc = _cli(out)
    _wait_for_rows(out / "metrics.csv", 25, proc)
    proc.kill()
    proc.communicate(timeout=60)
    assert json.loads((out / "run.json").read_text())["status"] == "running"
    assert (out / ".lock").read_text() == str(proc.pid)  # SIGKILL leaves its lock behind
    resumed = _cli(out, "--resume")  # the dead owner's lock is stale and is taken over
    _, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err
    assert (out / "metrics.csv").read_bytes() == uninterrupted


@pytest.mark.slow
def test_two_runs_cannot_share_a_folder(tmp_path):
    out = tmp_path / "run"
    proc = _cli(out)
    try:
        _wait_for_rows(out / "metrics.csv", 2, proc)
        train, _ = synthetic_loaders()
        with pytest.raises(OutputDirError, match=f"in use by process {proc.pid}"):
            fit(tiny_model(), train, steps=3, lr=0.1, out=Folder(out, overwrite=True))
    finally:
        proc.kill()
        proc.communicate()
    # the kernel released the dead owner's lock: the folder can be taken over
    fit(tiny_model(), train, steps=3, lr=0.1, out=Folder(out, overwrite=True))


def test_a_full_disk_before_the_run_is_refused_before_training(tmp_path, monkeypatch):
    import shutil
    from collections import namedtuple
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(10**9, 10**9 - 10**6, 10**6))
    train, _ = synthetic_loaders()
    with pytest.raises(OutputDirError, match="MiB free"):
        fit(tiny_model(), train, steps=3, lr=0.1, out=tmp_path)
    assert not (tmp_path / "metrics.csv").exists()


def test_a_disk_filling_up_mid_run_gives_a_clear_error_and_keeps_what_was_written(tmp_path,
                                                                                  monkeypatch):
    import paperlib.runs as runs
    real_fsync, calls = os.fsync, {"n": 0}

    def fsync_then_full(fd):
        calls["n"] += 1
        if calls["n"] > 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_fsync(fd)
    monkeypatch.setattr(runs.os, "fsync", fsync_then_full)
    train, _ = synthetic_loaders()
    with pytest.raises(OutputDirError, match="disk full while writing"):
        fit(tiny_model(), train, steps=20, lr=0.1, every=Every(log=5), out=tmp_path)
    frame = pd.read_csv(tmp_path / "metrics.csv")
    assert list(frame["step"])[:10] == list(range(10))


def test_range_test_restores_the_state_after_a_nan(tmp_path):
    import torch
    train, _ = synthetic_loaders()
    model = tiny_model()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    calls = {"n": 0}

    def poison(module, inputs, output):
        calls["n"] += 1
        return output * float("nan") if calls["n"] == 5 else output
    handle = model.register_forward_hook(poison)
    result = lr_range_test(model, train, Sweep(0.01, 1.0, 20), every=Every(log=2))
    handle.remove()
    assert result.status == "diverged"
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


KERNEL_RUN = """
import sys
sys.path.insert(0, {tests!r})
from helpers import synthetic_loaders, tiny_model
from paperlib.engine import Every, Folder, fit
train, test = synthetic_loaders(n_train=512, seed=5)
def run(out, resume=False):
    return fit(tiny_model(seed=5), train, steps=80, lr=0.1, momentum=0.9, test=test,
               every=Every(log=4, eval=20, checkpoint=20), out=Folder(out, resume=resume))
"""


@pytest.mark.slow
def test_a_kernel_interrupt_in_a_notebook_checkpoints_and_resumes(tmp_path):
    from jupyter_client.manager import start_new_kernel
    km, kc = start_new_kernel(kernel_name="python3", cwd=str(tmp_path))
    try:
        kc.execute_interactive(KERNEL_RUN.format(tests=str(Path(__file__).parent)), timeout=120)
        out = tmp_path / "run"
        kc.execute(f"result = run({str(out)!r})")
        metrics = out / "metrics.csv"
        deadline = time.monotonic() + 120
        while not (metrics.exists() and metrics.read_text().count(",train,") >= 10):
            assert time.monotonic() < deadline, "the run never started logging"
            time.sleep(0.05)
        km.interrupt_kernel()
        reply = kc.get_shell_msg(timeout=120)
        assert reply["content"]["status"] == "error"
        assert reply["content"]["ename"] == "RunInterrupted"
        doc = json.loads((out / "run.json").read_text())
        assert doc["status"] == "interrupted"
        assert (out / "checkpoints" / f"step_{doc['steps_done']:07d}.pt").exists()
        assert km.is_alive()
        reply = kc.execute_interactive(
            f"r = run({str(out)!r}, resume=True); w = run({str(tmp_path / 'whole')!r})",
            timeout=300)
        assert reply["content"]["status"] == "ok"
        assert metrics.read_bytes() == (tmp_path / "whole" / "metrics.csv").read_bytes()
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def _hooked_model(nan_at=None, sigterm_at=None):
    model, calls = tiny_model(), {"n": 0}

    def hook(module, inputs, output):
        step = calls["n"]
        calls["n"] += 1
        if step == sigterm_at:
            os.kill(os.getpid(), signal.SIGTERM)  # handled by fit: stop at the next boundary
        return output * float("nan") if step == nan_at else output
    model.register_forward_hook(hook)
    return model


def test_a_signal_during_the_last_step_leaves_a_completed_run(tmp_path):
    train, _ = synthetic_loaders()
    result = fit(_hooked_model(sigterm_at=9), train, steps=10, lr=0.1, out=tmp_path)
    assert result.status == "completed"
    assert json.loads((tmp_path / "run.json").read_text())["status"] == "completed"


def test_a_nan_in_the_block_an_interrupt_ends_is_reported_as_divergence(tmp_path):
    train, _ = synthetic_loaders()
    result = fit(_hooked_model(nan_at=3, sigterm_at=5), train, steps=20, lr=0.1,
                 every=Every(log=10), out=tmp_path)
    assert result.status == "diverged" and result.diverged_at == 3
    assert list(tmp_path.glob("checkpoints/*.pt")) == []  # no checkpoint of NaN weights



# -- range tests: the paper's run up to 20,000 iterations, so they resume like training runs --

def _sweep(model, out, *, precision="fp32", resume=False, lr_max=1.0, mode="linear"):
    train, test = synthetic_loaders()
    return lr_range_test(model, train, Sweep(0.01, lr_max, 40, mode), test=test,
                         every=Every(log=3, eval=10, checkpoint=15),
                         out=Folder(out, resume=resume), compute=Compute(precision))


def _signalled_model(signum, step, seed=0):
    """A tiny model that sends `signum` to this process during training step `step`."""
    model, calls = tiny_model(seed), {"n": 0}

    def hook(module, inputs, output):
        if module.training:  # evaluations go through the model too; they are not steps
            calls["n"] += 1
            if calls["n"] == step + 1:
                os.kill(os.getpid(), signum)  # handled by the loop: stop at the next boundary
    model.register_forward_hook(hook)
    return model


def _model_state(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def _assert_same_model(before, model):
    import torch
    after = model.state_dict()
    assert before.keys() == after.keys()
    assert all(torch.equal(before[k], after[k]) for k in before)


def _assert_same_result(a, b):
    pd.testing.assert_frame_equal(a.metrics, b.metrics, check_exact=True)
    assert (a.status, a.mode, a.settings) == (b.status, b.mode, b.settings)


PRECISIONS = ["fp32", "bf16"]  # both answers of precision="auto", on any CPU


@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_range_test_stopped_by_a_signal_resumes_bit_identically(signum, precision, tmp_path):
    import torch
    whole = _sweep(tiny_model(), tmp_path / "whole", precision=precision)
    assert whole.status == "completed"
    # the signal comes during step 13: the loop stops after 14 updates, a step that is neither
    # a log block's end (3), an evaluation (10) nor a periodic checkpoint (15)
    model = _signalled_model(signum, 13)
    before = _model_state(model)
    rng = torch.get_rng_state()
    with pytest.raises(RunInterrupted) as stopped:
        _sweep(model, tmp_path / "run", precision=precision)
    _assert_same_model(before, model)  # restored after the final checkpoint was written
    assert torch.equal(torch.get_rng_state(), rng)
    assert stopped.value.step == 14 and stopped.value.checkpoint.name == "step_0000014.pt"
    assert json.loads((tmp_path / "run" / "run.json").read_text())["status"] == "interrupted"
    resumed = _sweep(model, tmp_path / "run", precision=precision, resume=True)
    _assert_same_model(before, model)  # the resume loaded the checkpoint into it, then undid that
    assert (tmp_path / "run" / "metrics.csv").read_bytes() == \
        (tmp_path / "whole" / "metrics.csv").read_bytes()
    _assert_same_result(resumed, whole)


@pytest.mark.parametrize("precision", PRECISIONS)
def test_a_resumed_range_test_stops_at_the_same_step_as_an_uninterrupted_one(precision, tmp_path):
    sweep = dict(lr_max=100.0, mode="exp", precision=precision)
    whole = _sweep(tiny_model(), tmp_path / "whole", **sweep)
    # where it stops depends on this CPU's kernels; that the resume stops there too does not
    stop = whole.settings["steps_done"]
    assert whole.status == "stopped" and 6 <= stop < 40
    # interrupted two updates before the stop, inside the block that ends there. The rule fires
    # at `stop` only if it is given the losses logged before the resume and consulted at
    # multiples of log_every from step 0, not at blocks counted from the resume
    with pytest.raises(RunInterrupted) as stopped:
        _sweep(_signalled_model(signal.SIGTERM, stop - 3), tmp_path / "run", **sweep)
    assert stopped.value.step == stop - 2
    resumed = _sweep(tiny_model(seed=1), tmp_path / "run", resume=True, **sweep)
    assert resumed.status == "stopped" and resumed.settings["steps_done"] == stop
    assert (tmp_path / "run" / "metrics.csv").read_bytes() == \
        (tmp_path / "whole" / "metrics.csv").read_bytes()
    _assert_same_result(resumed, whole)
    assert json.loads((tmp_path / "run" / "run.json").read_text())["status"] == "stopped"


# -- a fused group is stopped, killed, resumed and ended exactly as a run alone --------------

FUSED = Execution(fuse="on")

def _group(out, *, first=None, resume=False, steps=30):
    """Two runs that fuse (one fusion key), each with its own seed, lr and folder."""
    from paperlib import schedules as S
    train_a, test = synthetic_loaders(seed=0)
    train_b, _ = synthetic_loaders(seed=1)
    jobs = []
    for i, (model, train) in enumerate([(first or tiny_model(0), train_a),
                                        (tiny_model(1), train_b)]):
        lr, mom = S.one_cycle("smith", 0.02 * (i + 1), 0.2 * (i + 1), 12, steps,
                              mom_max=0.95, mom_min=0.85)
        jobs.append(Job(model=model, train=train, steps=steps, lr=lr, momentum=mom,
                        weight_decay=5e-4, optimizer="caffe-nesterov", test=test,
                        every=Every(log=4, eval=10, checkpoint=10),
                        out=Folder(out / f"run{i}", resume=resume), compute=Compute("fp32")))
    return jobs


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_checkpoints_every_member_of_a_fused_group_and_resume_is_bit_identical(
        signum, tmp_path):
    fit_many(_group(tmp_path / "whole"), FUSED)
    with pytest.raises(RunInterrupted) as stopped:
        fit_many(_group(tmp_path / "cut", first=_signalled_model(signum, 13)), FUSED)
    assert stopped.value.step == 14
    assert [p.name for p in stopped.value.checkpoints] == ["step_0000014.pt"] * 2
    for i in range(2):
        doc = json.loads((tmp_path / "cut" / f"run{i}" / "run.json").read_text())
        assert doc["status"] == "interrupted" and doc["steps_done"] == 14
    results = fit_many(_group(tmp_path / "cut", resume=True), FUSED)
    assert [r.status for r in results] == ["completed"] * 2
    for i in range(2):
        assert (tmp_path / "cut" / f"run{i}" / "metrics.csv").read_bytes() == \
            (tmp_path / "whole" / f"run{i}" / "metrics.csv").read_bytes()


# The first 30 steps of smoke Fig 8a's three runs, fused: checkpoints every 7 steps, rows read
# every 10, so a kill after 20 rows lands mid-run
FIGURE = ["figure", "fig8a", "--profile", "smoke", "--dataset", "synthetic", "--device", "cpu",
          "--fuse", "on", "--precision", "fp32", "--max-steps", "30"]


def _figure(run_dir: Path, out: Path) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PAPERLIB_PROGRESS": "0"}
    return subprocess.Popen([sys.executable, "-m", "paperlib", *FIGURE, "--run-dir", str(run_dir),
                             "--out", str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)


@pytest.mark.slow
def test_a_killed_fused_group_resumes_from_its_checkpoints_to_the_same_bytes(tmp_path):
    whole = _figure(tmp_path / "runs-whole", tmp_path / "whole")
    _, err = whole.communicate(timeout=600)
    assert whole.returncode == 0, err
    runs = tmp_path / "runs"
    proc = _figure(runs, tmp_path / "cut")
    pattern = "smoke-max30/fig8a/synthetic/*/seed0/metrics.csv"
    metrics = sorted(runs.glob(pattern))
    deadline = time.monotonic() + 300
    while not (len(metrics) == 3 and all(m.read_text().count(",train,") >= 20 for m in metrics)):
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.05)
        metrics = sorted(runs.glob(pattern))
    proc.kill()
    proc.communicate(timeout=60)
    states = {json.loads((m.parent / "run.json").read_text())["status"] for m in metrics}
    assert states == {"running"}  # killed mid-run, as a group
    again = _figure(runs, tmp_path / "cut")
    _, err = again.communicate(timeout=600)
    assert again.returncode == 0, err
    assert (tmp_path / "cut" / "fig8a.csv").read_bytes() == \
        (tmp_path / "whole" / "fig8a.csv").read_bytes()
