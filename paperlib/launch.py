"""Where work runs: one item after another in this process, or fanned out as Ray tasks.

Why Ray: a figure's runs are independent (12-16 per notebook under `paper`), and a lab machine
with 4-8 GPUs, or a cluster, should finish them in a fraction of the time with the same notebooks
and no code of its own. Ray is what this ecosystem uses for that (Ray Tune, Hydra's launchers):
an embedded local instance by default, a cluster by address.

Design:
- `launcher(name, ...)` gives an object with one method, `map(fn, items, ...)`, that returns
  `[fn(item) for item in items]` in order. `Sequential` calls it here; `RayLauncher` runs each
  call as a Ray task. An item is a plain description of work (here: a group of runs, named by
  their settings, never their tensors): the task rebuilds data and models on its worker, and the
  run folders carry the state. So nothing large crosses the wire, a retried task (`max_retries`,
  e.g. after its worker was killed) resumes from its runs' last checkpoints, and a rerun of a
  notebook reloads the runs that finished. Folders must be on storage every node can read.
- Resources: an embedded Ray gets every GPU and CPU of this machine; `RAY_ADDRESS` or `address`
  joins a running cluster instead. A task asks for `gpus_per_task` GPUs where the cluster has
  any (fractions pack several tasks on one GPU: 0.25 puts four on each) and `cpus_per_task` CPUs.
- Ctrl-C or a kernel interrupt cancels every pending and running task. Ray delivers SIGINT to a
  running task's main thread, where `fit` stops at the next step boundary and writes a
  checkpoint, so each interrupted run resumes where it was.
- Progress comes from the run folders (paperlib.progress.FolderProgress): runs queued, running
  and done, images/s and time left, refreshed while the driver waits.
"""
from __future__ import annotations

import os
from typing import Any, Callable, Sequence

from .errors import ConfigError

LAUNCHERS = ("sequential", "ray")
RAY_INSTALL = "pip install -e '.[ray]'"


class Sequential:
    """Every item in this process, one after another."""

    name = "sequential"

    def map(self, fn: Callable, items: Sequence, *, on_result=None, poll=None) -> list:
        results = []
        for i, item in enumerate(items):
            results.append(fn(item))
            if on_result is not None:
                on_result(i, results[-1])
        return results


class RayLauncher:
    """Each item a Ray task on an embedded local Ray or a cluster (see the module docstring)."""

    name = "ray"

    def __init__(self, *, address: str | None = None, gpus_per_task: float = 1.0,
                 cpus_per_task: float = 1.0, max_retries: int = 2,
                 init_kwargs: dict | None = None):
        ray = require_ray()
        if not (isinstance(gpus_per_task, (int, float)) and gpus_per_task >= 0):
            raise ConfigError(f"gpus_per_run ({gpus_per_task!r}) must be a number >= 0 "
                              "(a fraction packs several runs on one GPU)")
        if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
            raise ConfigError(f"max_retries ({max_retries!r}) must be an integer >= 0")
        address = address or os.environ.get("RAY_ADDRESS") or None
        if not ray.is_initialized():
            kwargs = {"include_dashboard": False, "log_to_driver": True, **(init_kwargs or {})}
            if address:
                kwargs["address"] = address
            ray.init(**kwargs)
        self.ray = ray
        self.address = address
        has_gpus = ray.cluster_resources().get("GPU", 0) > 0
        self.gpus_per_task = gpus_per_task if has_gpus else 0
        self.cpus_per_task, self.max_retries = cpus_per_task, max_retries

    def map(self, fn: Callable, items: Sequence, *, on_result=None,
            poll: Callable[[], None] | None = None, poll_every: float = 2.0) -> list:
        """fn(item) for every item as Ray tasks; results in order. `on_result(i, result)` as each
        ends; `poll()` every `poll_every` seconds while waiting (a progress display)."""
        ray = self.ray
        task = ray.remote(fn).options(num_gpus=self.gpus_per_task, num_cpus=self.cpus_per_task,
                                      max_retries=self.max_retries, retry_exceptions=False)
        refs = [task.remote(item) for item in items]
        index = {ref: i for i, ref in enumerate(refs)}
        results: list[Any] = [None] * len(refs)
        pending = list(refs)
        try:
            while pending:
                done, pending = ray.wait(pending, num_returns=1, timeout=poll_every)
                for ref in done:
                    results[index[ref]] = ray.get(ref)
                    if on_result is not None:
                        on_result(index[ref], results[index[ref]])
                if poll is not None:
                    poll()
        except BaseException:
            # KeyboardInterrupt, or a task that failed for good: stop the rest cleanly. Running
            # tasks get SIGINT, checkpoint at their next step boundary and end.
            for ref in pending:
                ray.cancel(ref)
            ray.wait(pending, num_returns=len(pending), timeout=60)
            raise
        return results


def launcher(name: str = "sequential", *, address: str | None = None,
             gpus_per_run: float = 1.0, max_retries: int = 2,
             init_kwargs: dict | None = None):
    """The launcher called `name` ("sequential" or "ray")."""
    if name == "sequential":
        if address:
            raise ConfigError("ray_address is only for launcher='ray'")
        return Sequential()
    if name == "ray":
        return RayLauncher(address=address, gpus_per_task=gpus_per_run, max_retries=max_retries,
                           init_kwargs=init_kwargs)
    raise ConfigError(f"launcher {name!r} is unknown; choose one of {', '.join(LAUNCHERS)}")


def require_ray():
    try:
        import ray
    except ImportError:
        raise ConfigError(f"launcher 'ray' needs Ray, which is not installed: {RAY_INSTALL}") \
            from None
    return ray


def worker_threads(threads: int) -> None:
    """Match the driver's torch thread count in a task: CPU kernels may sum in another order
    with another thread count, and a run must give the same numbers wherever it runs."""
    import torch
    if threads and torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
