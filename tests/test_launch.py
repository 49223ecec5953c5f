"""Launchers (paperlib.launch): Ray tasks on fake GPUs, retries that resume, and a figure whose
rows are the same bytes under Ray as in this process. A local Ray with 2 CPUs and 2 fake GPUs
stands in for a GPU machine: Ray hands out the GPU ids it was told of, which is all these tests
read. One Ray serves every test (conftest.py; its start is the slow part); the tests that use it
are marked slow, with the launcher's use on GPU clusters in mind: `make test-all` runs them."""
import json
import os
import signal
import sys
import time
from pathlib import Path

import pytest

from paperlib.errors import ConfigError
from paperlib.launch import RAY_INSTALL, RayLauncher, launcher
from paperlib.progress import folder_state

ROOT = Path(__file__).resolve().parents[1]
# A run long enough to be killed between its checkpoint at 20 and its end
STEPS, CHECKPOINT = 60, 20


def test_without_ray_the_ray_launcher_stops_in_one_line_naming_the_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray now raises ImportError
    with pytest.raises(ConfigError) as error:
        launcher("ray")
    assert RAY_INSTALL in str(error.value) and "\n" not in str(error.value)


def test_an_unknown_launcher_or_a_bad_gpu_share_is_refused():
    with pytest.raises(ConfigError, match="sequential, ray"):
        launcher("slurm")
    with pytest.raises(ConfigError, match="ray_address"):
        launcher("sequential", address="10.0.0.1:6379")


def test_folder_state_reads_queued_running_and_done_from_the_run_folder(tmp_path):
    run = tmp_path / "run"
    assert folder_state(run) == ("queued", 0)
    run.mkdir()
    (run / "run.json").write_text(json.dumps({"status": "running"}))
    (run / "metrics.csv").write_text("step,split,lr\n0,train,0.1\n1,train,0.1\n")
    assert folder_state(run) == ("running", 2)
    (run / "run.json").write_text(json.dumps({"status": "completed"}))
    assert folder_state(run)[0] == "done"


def _visible_devices(_):
    time.sleep(1.5)  # long enough for the tasks to hold their GPUs at the same time
    return os.environ.get("CUDA_VISIBLE_DEVICES")


@pytest.mark.slow
def test_a_figure_under_ray_gives_the_same_rows_as_in_this_process(ray_with_two_fake_gpus,
                                                                    tmp_path):
    """What notebook 03 does with -p launcher ray: its runs as Ray tasks (here on CPUs), each
    rebuilding its data and Jobs from the RunSpecs, written to the same bytes."""
    from paperlib.paper.replicate import Execution, Splits, run_figure
    splits = Splits("synthetic", train_subset=256, test_subset=100, device="cpu")
    for figure in ("fig8a", "fig8b"):
        rows = {}
        for launcher in ("sequential", "ray"):
            result = run_figure(figure, splits, profile="smoke", max_steps=12,
                                run_dir=tmp_path / launcher, log=lambda line: None,
                                execution=Execution(launcher=launcher, gpus_per_run=0))
            rows[launcher] = result.metrics.to_csv(index=False)
        assert rows["sequential"] == rows["ray"], f"{figure}: the launchers' rows differ"


@pytest.mark.slow
def test_one_gpu_tasks_get_distinct_gpus(ray_with_two_fake_gpus):
    seen = RayLauncher(gpus_per_task=1).map(_visible_devices, [0, 1])
    assert sorted(seen) == ["0", "1"]


@pytest.mark.slow
def test_four_quarter_gpu_tasks_share_one_gpu(ray_with_two_fake_gpus):
    seen = RayLauncher(gpus_per_task=0.25).map(_visible_devices, [0, 1, 2, 3])
    assert len(set(seen)) == 1 and seen[0] in ("0", "1")


def _train(out_dir, steps=STEPS):
    """One synthetic run with checkpoints, resumed if its folder has one (1 thread, so that the
    task and the test process compute alike)."""
    import torch
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from helpers import synthetic_loaders, tiny_model

    from paperlib import schedules as S
    from paperlib.engine import Compute, Every, Folder, fit
    torch.set_num_threads(1)
    train, test = synthetic_loaders(batch_size=32)
    lr, mom = S.one_cycle("smith", 0.01, 0.1, steps // 2, steps, mom_max=0.95, mom_min=0.85)
    result = fit(tiny_model(), train, steps=steps, lr=lr, momentum=mom, weight_decay=1e-4,
                 test=test, every=Every(log=5, eval=30, checkpoint=CHECKPOINT),
                 out=Folder(out_dir, resume=True), compute=Compute("fp32"), progress=False)
    return result.status


@pytest.mark.slow
def test_a_killed_worker_is_retried_and_resumes_to_the_metrics_of_a_run_here(
        ray_with_two_fake_gpus, tmp_path):
    ray = ray_with_two_fake_gpus
    import threading
    import torch
    folder = tmp_path / "ray"
    killed = {}

    def kill_mid_run():
        while not killed:
            state, step = folder_state(folder)
            if state == "running" and step >= CHECKPOINT + 10:  # past the first checkpoint
                pid = int((folder / ".lock").read_text())
                os.kill(pid, signal.SIGKILL)
                killed["pid"], killed["step"] = pid, step
            time.sleep(0.02)

    watcher = threading.Thread(target=kill_mid_run, daemon=True)
    watcher.start()
    runner = RayLauncher(gpus_per_task=0, max_retries=1)
    assert runner.map(_train, [folder]) == ["completed"]
    assert killed and killed["step"] < STEPS, "the worker finished before it could be killed"
    assert int((folder / ".lock").read_text()) != killed["pid"]  # another worker finished it
    threads = torch.get_num_threads()
    try:
        _train(tmp_path / "here")
    finally:
        torch.set_num_threads(threads)
    assert (folder / "metrics.csv").read_bytes() == (tmp_path / "here" / "metrics.csv").read_bytes()
    assert ray.is_initialized()


def _long_train(out_dir):
    return _train(out_dir, steps=4 * STEPS)  # long enough that none ends before the interrupt


@pytest.mark.slow
def test_ctrl_c_cancels_the_tasks_and_each_running_run_leaves_a_checkpoint(
        ray_with_two_fake_gpus, tmp_path):
    folders = [tmp_path / "a", tmp_path / "b", tmp_path / "c"]  # 2 CPUs: "c" waits in the queue

    def interrupt_mid_run():  # the driver's poll, as a kernel interrupt would arrive
        if all(folder_state(f)[1] >= 10 for f in folders[:2]):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        RayLauncher(gpus_per_task=0).map(_long_train, folders, poll=interrupt_mid_run,
                                         poll_every=0.2)
    for folder in folders[:2]:
        run = json.loads((folder / "run.json").read_text())
        assert run["status"] == "interrupted" and run["steps_done"] < 4 * STEPS
        assert list((folder / "checkpoints").glob("step_*.pt"))
    assert folder_state(folders[2])[0] == "queued"  # cancelled before it started
    import torch
    threads = torch.get_num_threads()
    try:
        assert _long_train(folders[0]) == "completed"  # and it resumes
    finally:
        torch.set_num_threads(threads)
