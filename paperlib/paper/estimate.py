"""The work ahead of a profile, and how long it will take on this device: known before training.

`paper` is 66 runs and about 635 M training images; on a CPU that is weeks, on one GPU hours. So
`make figures` and every notebook print, before the first step, what they are about to train
(runs, fused groups, training and test images) and an estimate of the wall time from a short
probe on this device:

- The probe trains the figure's own model, BN shards and optimizer for a few steps on synthetic
  images (no data to load), through the same path the runs will take: fused groups of the
  figure's group size where runs will be fused (paperlib.fused), `fit` alone where not. It
  measures the figure's smallest and largest per-run batch; images/s at the batch sizes between
  are interpolated in log(batch).
- Test images are costed at 3x the training rate: an evaluation is a forward pass, about a third
  of a training step's arithmetic. This is an assumption, not a measurement.
- Nothing else is counted: data loading into the device cache, checkpoints and plots are small
  next to training at these sizes.
"""
from __future__ import annotations

import math
import time

import numpy as np
import pandas as pd
import torch

from ..data import DeviceLoader, NormStats, synthetic_split
from ..experiment import make_model, make_schedules
from ..fused import Job, fused_throughput, resolve_fuse
from ..progress import format_duration
from ..provenance import device_name
from ..train import fit, resolve_device, use_bf16
from .profiles import eval_subset_for, jittered, model_for, runs_for, scale_for, seeds_for

EVAL_SPEEDUP = 3.0  # test images per second relative to training images per second (assumed)


def work(figures: list[str], profile: str, *, seeds: list[int] | None = None,
         max_steps: int = 0, test_images: int = 0, num_classes: int = 10) -> pd.DataFrame:
    """One row per run: its model, batch, steps, training and test images, and fusion group."""
    rows = []
    for figure in figures:
        model = model_for(figure, profile)
        eval_every = scale_for(figure, profile).eval_every
        n_test = test_images or eval_subset_for(figure, profile) or 10_000
        for spec in runs_for(figure, profile):
            for replicate, seed in enumerate(seeds or seeds_for(figure, profile)):
                batch, _ = jittered(spec, replicate, profile)
                steps = min(spec.steps, max_steps) if max_steps else spec.steps
                evaluations = steps // eval_every + (steps % eval_every != 0)
                rows.append({"figure": figure, "curve": spec.label, "seed": seed, "model": model,
                             "num_classes": num_classes, "batch_size": batch,
                             "bn_shards": spec.bn_shards, "bn_momentum": spec.bn_momentum,
                             "optimizer": spec.optimizer, "steps": steps,
                             "range_test": spec.range_test, "train_images": steps * batch,
                             "test_images": evaluations * n_test})
    frame = pd.DataFrame(rows)
    # the fields paperlib.fused.fusion_key compares, for runs not built yet
    key = ["figure", "model", "batch_size", "bn_shards", "bn_momentum", "optimizer", "steps",
           "range_test"]
    frame["group"] = frame.groupby(key, sort=False).ngroup()
    frame["group_size"] = frame.groupby("group")["group"].transform("size")
    return frame


def probe(model: str, batch_size: int, *, bn_shards: int = 1, members: int = 1,
          num_classes: int = 10, device="auto", precision: str = "auto", fuse="auto",
          optimizer: str = "caffe-nesterov", steps: int = 3) -> float:
    """Training images/s of `members` runs of `model` at `batch_size` on `device`, after a
    warm-up, through the path the runs will take (fused or fit alone)."""
    device = resolve_device(device)
    split = synthetic_split(max(batch_size, 64), seed=0)
    stats = NormStats.from_split(split)
    lr_s, mom_s = make_schedules("constant", total=steps + 3, lr=0.01, momentum=0.9)
    jobs = []
    for i in range(members):
        net = make_model(model, num_classes=num_classes, seed=i, device=device,
                         bn_shards=bn_shards)
        loader = DeviceLoader(split, batch_size, stats=stats, device=device, augment="flip",
                              seed=i, channels_last=True)
        jobs.append(Job(net, loader, steps + 3, lr_s, mom_s, 1e-4, optimizer, log_every=steps + 3,
                        precision=precision))
    if resolve_fuse(fuse, device) and (members > 1 or device.type == "cuda"):
        return fused_throughput(jobs, steps)
    job = jobs[0]
    fit(job.model, job.train, steps=2, lr=lr_s, momentum=mom_s, optimizer=optimizer,
        precision=precision, progress=False, log_every=2)  # warm-up
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    started = time.perf_counter()
    fit(job.model, job.train, steps=steps, lr=lr_s, momentum=mom_s, optimizer=optimizer,
        precision=precision, progress=False, log_every=steps)
    return members * steps * batch_size / (time.perf_counter() - started)


def estimate(plan: pd.DataFrame, *, device="auto", precision: str = "auto", fuse="auto",
             probe_steps: int = 3) -> pd.DataFrame:
    """Per figure: runs, groups, images and the estimated seconds, from probes (see above)."""
    device = resolve_device(device)
    fused = resolve_fuse(fuse, device)
    rows = []
    for figure, runs in plan.groupby("figure", sort=False):
        first = runs.iloc[0]
        size = int(runs["group_size"].max()) if fused else 1
        batches = sorted({int(runs["batch_size"].min()), int(runs["batch_size"].max())})
        # on the CPU a paper batch takes seconds per step: one probe per end of the batch range
        rates = {b: probe(first["model"], b, bn_shards=int(first["bn_shards"]), members=size,
                          num_classes=int(first["num_classes"]), device=device,
                          precision=precision, fuse=fuse, optimizer=first["optimizer"],
                          steps=probe_steps)
                 for b in batches}
        seconds = sum(_images_time(r, rates) for _, r in runs.iterrows())
        rows.append({"figure": figure, "runs": len(runs), "groups": runs["group"].nunique(),
                     "largest_group": int(runs["group_size"].max()),
                     "train_images": int(runs["train_images"].sum()),
                     "test_images": int(runs["test_images"].sum()),
                     "probe_img_s": round(float(np.mean(list(rates.values()))), 1),
                     "estimate_s": round(seconds, 1)})
    return pd.DataFrame(rows)


def _rate_at(batch: int, rates: dict[int, float]) -> float:
    (b0, r0), (b1, r1) = sorted(rates.items())[0], sorted(rates.items())[-1]
    if b0 == b1:
        return r0
    w = (math.log(batch) - math.log(b0)) / (math.log(b1) - math.log(b0))
    return r0 + w * (r1 - r0)


def _images_time(run, rates: dict[int, float]) -> float:
    """Seconds for one run's images. A fused probe measured a whole group's images/s, so each
    member's images at the group's rate add up to the group's time, as runs alone do."""
    rate = _rate_at(int(run["batch_size"]), rates)
    return run["train_images"] / rate + run["test_images"] / (EVAL_SPEEDUP * rate)


def describe(table: pd.DataFrame, profile: str, *, device="auto", precision: str = "auto",
             fuse="auto") -> str:
    """The estimate as text, one line per figure and a total, with the device it was probed on."""
    device = resolve_device(device)
    mode = "bf16" if use_bf16(precision, device) else "fp32"
    fused = resolve_fuse(fuse, device)
    how = "runs that can share a model fused" if fused else "runs one at a time"
    lines = [f"The work ahead under profile {profile!r} on {device_name(device)} ({mode}, {how});"
             f" wall time from a few probe steps of each figure's model:"]
    for r in table.itertuples():
        groups = f" in {r.groups:2d} fused groups" if fused else ""
        lines.append(f"  {r.figure:7s} {r.runs:3d} runs{groups}, "
                     f"{r.train_images / 1e6:8.2f} M train + {r.test_images / 1e6:6.2f} M test "
                     f"images, probe {r.probe_img_s:9,.0f} img/s: about "
                     f"{format_duration(r.estimate_s)}")
    total = table["estimate_s"].sum()
    lines.append(f"  total   {table['runs'].sum():3d} runs, "
                 f"{table['train_images'].sum() / 1e6:.1f} M train + "
                 f"{table['test_images'].sum() / 1e6:.1f} M test images: about "
                 f"{format_duration(total)}")
    return "\n".join(lines)
