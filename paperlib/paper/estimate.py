"""The work ahead of a profile, and how long it will take on this device: known in seconds,
before anything trains.

`paper` is 230 runs and 3.1 G training images; on a CPU that is months, on one GPU hours. So
`make figures`, `python -m paperlib estimate` and every notebook print, before the first step,
what they are about to train (runs, fused groups, their steppers, training and test images) and
a wall time.

How the work is read: every run is the Job the notebook would build (`replicate.job_for`, on
stand-in data of the right shapes and a model on the meta device, so nothing is allocated), and
the engine's own `plan` groups those Jobs and names each group's stepper, exactly as `fit_many`
and the Ray launcher will. Evaluations, checkpoints and host reads are counted by the Job with
the loop's own cadence (Job.evaluations, checkpoints, flushes).

How the wall time is read, and why so:
- Probing every figure at its own (paper) batch took 23 minutes on a CPU. Instead each distinct
  model of the profile (with its BN shards and optimizer) is timed for a few steps at two small
  batches through `fit_many` under the same Execution, so the probe takes the step the runs
  will take (on CUDA: the captured one; a fused group's: the stacked one), and a step's time is
  taken as a + b * images: a fixed cost per step (kernel launches, Python, the optimizer's
  update over the parameters) and a cost per image (the arithmetic). Two batches fix a and b;
  every run's batch is then read off the line, so a paper batch of 1,036 costs nothing to
  estimate. A fused group of N runs at batch B is taken to cost a + b * N * B: fusion shares
  the fixed cost.
- An evaluation is timed too (a forward pass per test image, no gradient), and so are what a
  run writes as it goes: a checkpoint (its model and optimizer, fsync'd) and a metrics block.
- It says how sure it is: the probe's fastest and slowest timed steps give a low and a high
  figure, and the step model itself (a line through two small batches) is checked against
  measured runs in tests/test_smoke_figures.py. Kernel start, imports, data loading and plotting
  are not in it (seconds per notebook).
"""
from __future__ import annotations

import math
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ..data import DeviceLoader, NormStats, synthetic_split
from ..device import resolve_device, resolve_precision
from ..engine import Every, Execution, Job, evaluate, fit_many, plan
from ..experiment import make_model
from ..progress import format_duration
from ..provenance import device_name
from .profiles import FIGURES, eval_subset_for, figure_runs
from .replicate import NUM_CLASSES, job_for

DAY_S = 86_400
PLANNED_ROOT = Path("planned")  # the runs' folders, as job_for names them; nothing is written


class _PlannedLoader:
    """Batches of the right shape and nothing in them, on the meta device."""

    def __init__(self, batch_size: int, fingerprint=None):
        self.batch_size, self._fingerprint = batch_size, fingerprint

    @property
    def fingerprint(self):
        return self._fingerprint

    def batch(self, step: int):
        return (torch.empty(self.batch_size, 3, 32, 32, device="meta"),
                torch.empty(self.batch_size, dtype=torch.long, device="meta"))


class PlannedSplits:
    """What job_for needs of a figure's data, without the data: its name, a device (meta), a
    training loader per batch and one test set (one fingerprint per figure, as its runs share
    one test set when trained)."""

    device = torch.device("meta")

    def __init__(self, dataset: str, figure: str, test_images: int):
        self.dataset = dataset
        self.test = _PlannedLoader(min(500, test_images), ("planned", figure, test_images))

    def train(self, batch_size: int, seed: int) -> _PlannedLoader:
        return _PlannedLoader(batch_size)


def work(figures: list[str], profile: str, *, seeds: list[int] | None = None,
         max_steps: int = 0, test_images: int = 0, dataset: str = "cifar10",
         execution: Execution = Execution(), device_type: str | None = None,
         folders: bool = True) -> pd.DataFrame:
    """One row per run: its model, batch, steps, training and test images, evaluations,
    checkpoints and host reads, and the group and stepper the engine's plan gives it on
    `device_type` ("cuda" or "cpu"; default: this machine's). `folders`: the runs keep run
    folders (the notebooks' default), which is where checkpoints go."""
    device_type = device_type or resolve_device("auto").type
    rows, jobs = [], []
    for figure in figures:
        n_test = test_images or eval_subset_for(figure, profile) or 10_000
        splits = PlannedSplits(dataset, figure, n_test)
        for spec in figure_runs(figure, profile, seeds, max_steps=max_steps):
            job = job_for(spec, splits, root=PLANNED_ROOT if folders else None,
                          execution=execution)
            rows.append({"figure": figure, "curve": spec.label, "seed": spec.seed,
                         "model": spec.model, "num_classes": NUM_CLASSES[dataset],
                         "batch_size": spec.batch_size, "bn_shards": spec.bn_shards,
                         "optimizer": spec.optimizer, "steps": job.steps,
                         "range_test": spec.range_test, "train_images": job.steps * spec.batch_size,
                         "evaluations": job.evaluations(),
                         "test_images": job.evaluations() * n_test,
                         "checkpoints": job.checkpoints(), "flushes": job.flushes()})
            jobs.append(job)
    frame = pd.DataFrame(rows)
    group, size = np.zeros(len(jobs), dtype=int), np.ones(len(jobs), dtype=int)
    stepper = np.full(len(jobs), "eager", dtype=object)
    for g, planned in enumerate(plan(jobs, execution, device_type=device_type)):
        members = list(planned.members)
        group[members], size[members], stepper[members] = g, len(members), planned.stepper
    frame["group"], frame["group_size"], frame["stepper"] = group, size, stepper
    return frame


@dataclass(frozen=True)
class Probe:
    """What one model costs on this device: step time a + b * images (low and high), a test
    image, a checkpoint and a metrics block, in seconds."""

    a: tuple[float, float]
    b: tuple[float, float]
    eval_image: float
    checkpoint: float
    flush: float

    def step(self, images: int, k: int) -> float:
        return self.a[k] + self.b[k] * images


def probe(model: str, *, bn_shards: int = 1, num_classes: int = 10, device="auto",
          execution: Execution = Execution(), optimizer: str = "caffe-nesterov",
          members: int = 1, steps: int = 3) -> Probe:
    """Time `members` runs of `model` on `device` at two small batches (after a warm-up step
    each) through fit_many under `execution`, plus an evaluation, a checkpoint and a metrics
    block; see the module docstring."""
    device = resolve_device(device)
    small, large = (64, 256) if device.type == "cuda" else (16, 64)
    times = {}
    for batch in (small, large):
        per_step = step_times(model, batch, bn_shards=bn_shards, num_classes=num_classes,
                              device=device, execution=execution, optimizer=optimizer,
                              members=members, steps=steps)
        times[members * batch] = (min(per_step), max(per_step))
    (n0, t0), (n1, t1) = sorted(times.items())
    b = tuple(max((t1[k] - t0[k]) / (n1 - n0), 1e-9) for k in (0, 1))
    a = tuple(max(t0[k] - b[k] * n0, 0.0) for k in (0, 1))
    net = make_model(model, num_classes=num_classes, device=device, bn_shards=bn_shards)
    split = synthetic_split(128, seed=1)
    test = DeviceLoader(split, 128, stats=NormStats.from_split(split), device=device,
                        shuffle=False, drop_last=False, channels_last=True)
    net.to(memory_format=torch.channels_last)
    started = time.perf_counter()
    evaluate(net, test, precision=execution.precision)
    eval_image = (time.perf_counter() - started) / 128
    checkpoint, flush = _write_costs(net)
    return Probe(a, b, eval_image, checkpoint, flush)


def step_times(model: str, batch: int, *, bn_shards: int = 1, num_classes: int = 10,
               device=None, execution: Execution = Execution(),
               optimizer: str = "caffe-nesterov", members: int = 1, steps: int = 3,
               block: int = 1) -> list[float]:
    """Seconds per step of `members` runs of `model` at `batch`, trained by fit_many under
    `execution` (so in the group and with the stepper its plan gives them): `steps` timings,
    each the mean over a block of `block` steps (one host read per block, as the loop reads
    its losses), after two untimed blocks (warm-up, and a CUDA graph's capture)."""
    device = resolve_device(device or "auto")
    split = synthetic_split(batch, seed=0)
    stats = NormStats.from_split(split)
    times: list[float] = []

    class Timed:  # the loop consults should_stop at the end of every block of `block` steps
        def __init__(self):
            self.last = None

        def __call__(self, losses):
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            now = time.perf_counter()
            if self.last is not None:
                times.append((now - self.last) / block)
            self.last = now
            return False

    timer = Timed()
    jobs = [Job(model=make_model(model, num_classes=num_classes, seed=i, device=device,
                                 bn_shards=bn_shards),
                train=DeviceLoader(split, batch, stats=stats, device=device, augment="flip",
                                   seed=i, channels_last=True),
                steps=block * (steps + 2), lr=0.01, momentum=0.9, weight_decay=1e-4,
                optimizer=optimizer, every=Every(log=block), compute=execution.compute(),
                should_stop=timer if i == 0 else None)
            for i in range(members)]
    fit_many(jobs, execution)
    return times[-steps:] if len(times) >= steps else times


def _write_costs(model: torch.nn.Module) -> tuple[float, float]:
    """Seconds to write one checkpoint of `model` and one block of metrics rows, fsync'd."""
    from ..engine import record
    from ..optim import make_optimizer
    from ..runs import RunDir
    with tempfile.TemporaryDirectory() as folder, RunDir(folder) as run:
        optimizer = make_optimizer("sgd", model.parameters())
        started = time.perf_counter()
        record.save_checkpoint(run, 1, model, optimizer, {})
        checkpoint = time.perf_counter() - started
        rows = [{"step": s, "split": "train", "lr": 0.1, "momentum": 0.9, "weight_decay": 0.0,
                 "loss": 1.0, "accuracy": 0.5} for s in range(10)]
        started = time.perf_counter()
        run.append_metrics(rows)
        flush = time.perf_counter() - started
    return checkpoint, flush


def estimate(plan: pd.DataFrame, *, device="auto", execution: Execution = Execution(),
             log=None) -> pd.DataFrame:
    """Per figure: runs, groups, images and the estimated seconds (low, mid, high), from one
    probe per distinct (model, BN shards, optimizer), in the groups and steppers of `plan`
    (work()'s frame, planned for this device); `log(line)` as each probe ends."""
    device = resolve_device(device)
    probes: dict[tuple, Probe] = {}
    for key, runs in plan.groupby(["model", "bn_shards", "optimizer", "num_classes"],
                                  sort=False):
        model, shards, optimizer, classes = key
        started = time.perf_counter()
        probes[key] = probe(model, bn_shards=int(shards), num_classes=int(classes),
                            device=device, execution=execution, optimizer=optimizer,
                            members=2 if _fused(runs).any() else 1)
        if log is not None:
            p = probes[key]
            log(f"  probed {model} (BN shards {shards}) in {time.perf_counter() - started:.1f} s:"
                f" a step costs {p.a[0] * 1e3:.0f} ms + {p.b[0] * 1e3:.2f} ms per image")
    rows = []
    for figure, runs in plan.groupby("figure", sort=False):
        seconds = [0.0, 0.0]
        for _, group in runs.groupby("group", sort=False):
            first = group.iloc[0]
            p = probes[(first["model"], first["bn_shards"], first["optimizer"],
                        first["num_classes"])]
            size = len(group) if _fused(group).all() else 1
            for k in (0, 1):
                # fused: the group's steps at once; apart: each run's own
                step = sum(p.step(int(r.batch_size) * size, k) / size for r in group.itertuples())
                seconds[k] += (step * first["steps"]
                               + p.eval_image * group["test_images"].sum()
                               + p.checkpoint * group["checkpoints"].sum()
                               + p.flush * group["flushes"].sum())
        rows.append({"figure": figure, "runs": len(runs), "groups": runs["group"].nunique(),
                     "largest_group": int(runs["group_size"].max()),
                     "steppers": "/".join(sorted(set(runs["stepper"]))),
                     "train_images": int(runs["train_images"].sum()),
                     "test_images": int(runs["test_images"].sum()),
                     "estimate_low_s": round(seconds[0], 1),
                     "estimate_high_s": round(seconds[1], 1),
                     "estimate_s": round(math.sqrt(seconds[0] * seconds[1]), 1)})
    return pd.DataFrame(rows)


def _fused(runs: pd.DataFrame) -> pd.Series:
    """Runs that step as members of a group of several (stacked or captured)."""
    return (runs["stepper"] != "eager") & (runs["group_size"] > 1)


def figure_rates(profile: str, *, device="auto", execution: Execution = Execution(),
                 log=None) -> dict:
    """Training images per second of each figure under `profile` on `device`, evaluations and
    writes included: what the plan costs its runs at."""
    device = resolve_device(device)
    table = estimate(work(list(FIGURES), profile, execution=execution,
                          device_type=device.type), device=device, execution=execution, log=log)
    return {r.figure: r.train_images / r.estimate_s for r in table.itertuples()}


STEPPER_WORDS = {"eager": "runs one at a time", "stacked": "runs that can share a model fused",
                 "captured": "each group's step captured in a CUDA graph"}


def describe(table: pd.DataFrame, profile: str, *, device="auto",
             execution: Execution = Execution()) -> str:
    """The estimate as text, one line per figure and a total, with the device it was probed on
    and the steppers the plan gave the runs."""
    device = resolve_device(device)
    mode = resolve_precision(execution.precision, device)
    steppers = sorted({s for r in table.itertuples() for s in r.steppers.split("/")},
                      key=list(STEPPER_WORDS).index)
    fused = (table["largest_group"] > 1).any()
    how = ", ".join(STEPPER_WORDS[s] for s in steppers)
    lines = [f"The work ahead under profile {profile!r} on {device_name(device)} ({mode}; {how})"
             f"; wall time from a short probe (low to high: the probe's fastest and slowest "
             f"steps):"]
    for r in table.itertuples():
        groups = f" in {r.groups:2d} fused groups" if fused else ""
        lines.append(f"  {r.figure:7s} {r.runs:3d} runs{groups}, "
                     f"{r.train_images / 1e6:8.2f} M train + {r.test_images / 1e6:6.2f} M test "
                     f"images: about {format_duration(r.estimate_s)} "
                     f"({format_duration(r.estimate_low_s)} to "
                     f"{format_duration(r.estimate_high_s)})")
    total = table["estimate_s"].sum()
    lines.append(f"  total   {table['runs'].sum():3d} runs, "
                 f"{table['train_images'].sum() / 1e6:.1f} M train + "
                 f"{table['test_images'].sum() / 1e6:.1f} M test images: about "
                 f"{format_duration(total)} ({format_duration(table['estimate_low_s'].sum())} "
                 f"to {format_duration(table['estimate_high_s'].sum())})")
    if total > DAY_S:
        lines.append(f"  That is more than a day on this device: `make figures PROFILE={profile}`"
                     f" asks before it starts (CONFIRM=1 skips the question).")
    return "\n".join(lines)
