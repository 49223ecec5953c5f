"""The work ahead of a profile, and how long it will take on this device: known in seconds,
before anything trains.

`paper` is 66 runs and 625 M training images; on a CPU that is months, on one GPU hours. So
`make figures`, `python -m paperlib estimate` and every notebook print, before the first step,
what they are about to train (runs, fused groups, training and test images) and a wall time.

How the wall time is read, and why so:
- Probing every figure at its own (paper) batch took 23 minutes on a CPU. Instead each distinct
  model of the profile (with its BN shards and optimizer) is timed for a few steps at two small
  batches, through the engine the runs will take, and a step's time is taken as a + b * images:
  a fixed cost per step (kernel launches, Python, the optimizer's update over the parameters)
  and a cost per image (the arithmetic). Two batches fix a and b; every run's batch is then
  read off the line, so a paper batch of 1,036 costs nothing to estimate. A fused group of N
  runs at batch B is taken to cost a + b * N * B: fusion shares the fixed cost.
- An evaluation is timed too (a forward pass per test image, no gradient), and so are what a
  run writes as it goes: a checkpoint (its model and optimizer, fsync'd) and a metrics block.
- It says how sure it is: the probe's fastest and slowest timed steps give a low and a high
  figure, and the step model itself (a line through two small batches) is checked against
  measured runs in tests/test_estimate.py. Kernel start, imports, data loading and plotting are
  not in it (seconds per notebook).
"""
from __future__ import annotations

import math
import tempfile
import time
import types
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ..data import DeviceLoader, NormStats, synthetic_split
from ..device import resolve_device, resolve_precision
from ..engine import Compute, Every, Job, fusion_groups
from ..engine.loop import train_group
from ..engine.steppers import EagerStepper, StackedStepper, evaluate
from ..experiment import make_model
from ..progress import format_duration
from ..provenance import device_name
from .profiles import FIGURES, RunSpec, eval_subset_for, figure_runs

DAY_S = 86_400


def work(figures: list[str], profile: str, *, seeds: list[int] | None = None,
         max_steps: int = 0, test_images: int = 0, num_classes: int = 10) -> pd.DataFrame:
    """One row per run: its model, batch, steps, training and test images, checkpoints, and
    fusion group (Job.fusion_key over the runs' Jobs, built on the meta device: no weights)."""
    rows, jobs = [], []
    for figure in figures:
        n_test = test_images or eval_subset_for(figure, profile) or 10_000
        for spec in figure_runs(figure, profile, seeds, max_steps=max_steps):
            steps = spec.run_steps
            evaluations = steps // spec.eval_every + (steps % spec.eval_every != 0)
            rows.append({"figure": figure, "curve": spec.label, "seed": spec.seed,
                         "model": spec.model, "num_classes": num_classes,
                         "batch_size": spec.batch_size, "bn_shards": spec.bn_shards,
                         "optimizer": spec.optimizer, "steps": steps,
                         "range_test": spec.range_test, "train_images": steps * spec.batch_size,
                         "test_images": evaluations * n_test,
                         "checkpoints": min(4, steps), "flushes": math.ceil(steps / spec.log_every)})
            jobs.append(_planned_job(spec, figure, num_classes))
    frame = pd.DataFrame(rows)
    group = np.zeros(len(jobs), dtype=int)
    for g, members in enumerate(fusion_groups(jobs)):
        group[members] = g
    frame["group"] = group
    frame["group_size"] = frame.groupby("group")["group"].transform("size")
    return frame


_PLANNED_TESTS: dict[str, object] = {}
_PLANNED_MODELS: dict[tuple, torch.nn.Module] = {}


def _planned_job(spec: RunSpec, figure: str, num_classes: int) -> Job:
    """A run's Job with its model on the meta device and a stand-in loader, only to ask its
    fusion_key: the runs of one figure share one test set, as they do when trained. One meta
    model per architecture serves every run of it (the key reads its structure, not weights)."""
    arch = (spec.model, num_classes, spec.bn_momentum, spec.bn_shards)
    if arch not in _PLANNED_MODELS:
        with torch.device("meta"):
            _PLANNED_MODELS[arch] = make_model(spec.model, num_classes=num_classes,
                                               device=torch.device("meta"),
                                               bn_momentum=spec.bn_momentum,
                                               bn_shards=spec.bn_shards)
    model = _PLANNED_MODELS[arch]
    test = _PLANNED_TESTS.setdefault(figure, object())
    loader = types.SimpleNamespace(batch_size=spec.batch_size)
    return Job(model, loader, spec.run_steps, 0.1, 0.9, spec.weight_decay, spec.optimizer, test,
               Every(log=spec.log_every, eval=spec.eval_every))


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
          precision: str = "auto", optimizer: str = "caffe-nesterov", fused: bool = False,
          steps: int = 3) -> Probe:
    """Time `model` on `device` at two small batches (after a warm-up step each) through the
    engine, plus an evaluation, a checkpoint and a metrics block; see the module docstring."""
    device = resolve_device(device)
    small, large = (64, 256) if device.type == "cuda" else (16, 64)
    members = 2 if fused else 1
    times = {}
    for batch in (small, large):
        per_step = _step_times(model, batch, bn_shards, num_classes, device, precision,
                               optimizer, members, steps)
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
    evaluate(net, test, precision=precision)
    eval_image = (time.perf_counter() - started) / 128
    checkpoint, flush = _write_costs(net)
    return Probe(a, b, eval_image, checkpoint, flush)


def _step_times(model, batch, bn_shards, num_classes, device, precision, optimizer, members,
                steps) -> list[float]:
    """Seconds per step of `members` runs of `model` at `batch`, one timing per step."""
    split = synthetic_split(batch, seed=0)
    stats = NormStats.from_split(split)
    times: list[float] = []

    class Timed:  # the loop consults should_stop after every step when log is 1
        def __init__(self):
            self.last = None

        def __call__(self, losses):
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            now = time.perf_counter()
            if self.last is not None:
                times.append(now - self.last)
            self.last = now
            return False

    timer = Timed()
    jobs = [Job(make_model(model, num_classes=num_classes, seed=i, device=device,
                           bn_shards=bn_shards),
                DeviceLoader(split, batch, stats=stats, device=device, augment="flip", seed=i,
                             channels_last=True),
                steps + 2, 0.01, 0.9, 1e-4, optimizer, every=Every(log=1),
                compute=Compute(precision), should_stop=timer if i == 0 else None)
            for i in range(members)]
    train_group(jobs, StackedStepper if members > 1 else EagerStepper)
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


def estimate(plan: pd.DataFrame, *, device="auto", precision: str = "auto", fuse: str = "auto",
             log=None) -> pd.DataFrame:
    """Per figure: runs, groups, images and the estimated seconds (low, mid, high), from one
    probe per distinct (model, BN shards, optimizer); `log(line)` as each probe ends."""
    device = resolve_device(device)
    fused = fuse == "on" or (fuse == "auto" and device.type == "cuda")
    probes: dict[tuple, Probe] = {}
    for key, runs in plan.groupby(["model", "bn_shards", "optimizer", "num_classes"],
                                  sort=False):
        model, shards, optimizer, classes = key
        started = time.perf_counter()
        probes[key] = probe(model, bn_shards=int(shards), num_classes=int(classes),
                            device=device, precision=precision, optimizer=optimizer,
                            fused=fused and runs["group_size"].max() > 1)
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
            size = len(group) if fused else 1
            for k in (0, 1):
                # fused: the group's steps at once; apart: each run's own
                step = sum(p.step(int(r.batch_size) * size, k) / size for r in group.itertuples())
                seconds[k] += (step * first["steps"]
                               + p.eval_image * group["test_images"].sum()
                               + p.checkpoint * group["checkpoints"].sum()
                               + p.flush * group["flushes"].sum())
        rows.append({"figure": figure, "runs": len(runs), "groups": runs["group"].nunique(),
                     "largest_group": int(runs["group_size"].max()),
                     "train_images": int(runs["train_images"].sum()),
                     "test_images": int(runs["test_images"].sum()),
                     "estimate_low_s": round(seconds[0], 1),
                     "estimate_high_s": round(seconds[1], 1),
                     "estimate_s": round(math.sqrt(seconds[0] * seconds[1]), 1)})
    return pd.DataFrame(rows)


def figure_rates(profile: str, *, device="auto", precision: str = "auto", log=None) -> dict:
    """Training images per second of each figure under `profile` on `device`, evaluations and
    writes included: what the plan costs its runs at."""
    table = estimate(work(list(FIGURES), profile), device=device, precision=precision, log=log)
    return {r.figure: r.train_images / r.estimate_s for r in table.itertuples()}


def describe(table: pd.DataFrame, profile: str, *, device="auto", precision: str = "auto",
             fuse: str = "auto") -> str:
    """The estimate as text, one line per figure and a total, with the device it was probed on."""
    device = resolve_device(device)
    mode = resolve_precision(precision, device)
    fused = fuse == "on" or (fuse == "auto" and device.type == "cuda")
    how = "runs that can share a model fused" if fused else "runs one at a time"
    lines = [f"The work ahead under profile {profile!r} on {device_name(device)} ({mode}, {how})"
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
