"""What the engine costs on small models: paperlib's `fit` against a bare PyTorch loop, the same
model, batches, optimizer, schedules and steps, on the tasks of examples/ (a tabular MLP, a
resnet18 on FakeData, a tiny language model with its own loss and AdamW) and ResNet-20.

Why: a step of a tiny MLP at batch 64 takes a few hundred microseconds, so whatever the loop adds
per step (writing the schedules into the optimizer, moving and splitting the batch, the loss's
bookkeeping, the train accuracy, the log) shows there first. The goal is at most 10% on the MLP.

Like for like:
  - both sides train the same initial weights (each task's `build()` gives them at every call)
    on the same batches, drawn once from the task's DataLoader into memory before timing, in
    the same order; both write the task's lr and momentum schedules (1cycle, Smith's) into the
    same optimizer every step and read the loss back once at the end of the block;
  - the bare loop is the textbook one: schedules into param_groups, forward, the task's loss,
    zero_grad, backward, step; `fit` is called with its defaults (fp32 here, for both), as a
    user would call it;
  - a second bare loop also counts each step's correct predictions on the device ("bare+acc"),
    as fit does for the train accuracy it logs: fit/bare+acc is the cost of the engine for the
    same work, fit/bare the cost of everything it does beyond the textbook loop;
  - interleaved: each repeat times every task's sides back to back, and a ratio is taken within
    a repeat, so a drift in the machine's speed hits both of its sides; the median of the
    repeats' ratios is reported, with their range.

    python benchmarks/overhead.py                   # 7 repeats, about 4 minutes on 2 CPU cores
    python benchmarks/overhead.py --repeats 9 --out benchmarks/results/overhead.json
    python benchmarks/overhead.py --bf16            # also fit in bf16: what auto should pick

The last line printed is one JSON object: per task the median seconds per step of each side,
their ratio, and the provenance (device, threads, torch, commit).
"""
from __future__ import annotations

import argparse
import copy
import importlib
import json
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "examples"))

from paperlib import io  # noqa: E402
from paperlib.data import LoaderBatches, batches  # noqa: E402
from paperlib.engine import Compute, Objective, fit  # noqa: E402
from paperlib.optim import make_optimizer  # noqa: E402
from paperlib.device import cpu_has_native_bf16  # noqa: E402
from paperlib.provenance import provenance  # noqa: E402
from paperlib.schedules import one_cycle  # noqa: E402

# Timed steps per call: about a second or two of each on 2 CPU cores (a resnet18 step at 64x64
# takes ~100 times an MLP's), enough for the per-step costs to add up
TASKS = {"tabular_mlp": 2000, "resnet18_fakedata": 12, "tiny_language_model": 200,
         "resnet20": 40}
# The MLP at batch 64, where per-step costs weigh most (its example trains at 128); the others
# at their examples' batches
BATCH = {"tabular_mlp": 64}


class Task:
    """One model and its batches, as both sides train them."""

    def __init__(self, name: str, steps: int):
        self.name = name
        if name == "resnet20":
            from paperlib.data import DeviceLoader, NormStats, synthetic_split
            from paperlib.experiment import make_model
            split = synthetic_split(64 * 8, seed=0)
            loader = DeviceLoader(split, 64, stats=NormStats.from_split(split), augment="none")
            self.build = lambda: make_model("resnet20", seed=0)
            self.loss, self.optimizer = None, "sgd"
            drawn = [loader.batch(i) for i in range(8)]
        else:
            built = importlib.import_module(name).build(quick=True)
            self.build = lambda: copy.deepcopy(built.model)
            self.loss, self.optimizer = built.loss, built.optimizer
            drawn = []
            while len(drawn) < 8:
                drawn.extend(built.train_loader)
            if name in BATCH:  # re-cut the drawn tensor batches to BATCH[name] rows
                rows = BATCH[name]
                drawn = [tuple(t[i:i + rows] for t in batch) for batch in drawn
                         for i in range(0, len(batch[0]) - rows + 1, rows)]
        self.batches = [drawn[i % len(drawn)] for i in range(steps)]
        self.batch_size = batches.size(self.batches[0])
        self.steps = steps
        self.lr, self.momentum = one_cycle("smith", 0.01, 0.1, steps // 2, steps,
                                           mom_max=0.95, mom_min=0.85)

    def engine(self, precision: str = "fp32") -> float:
        model = self.build()
        optimizer = make_optimizer(self.optimizer, model.parameters(), lr=0.01)
        started = time.perf_counter()
        fit(model, LoaderBatches(self.batches), steps=self.steps, lr=self.lr,
            momentum=self.momentum, weight_decay=1e-4, optimizer=optimizer, loss=self.loss,
            compute=Compute(precision), progress=False)
        return time.perf_counter() - started

    def bare(self, accuracy: bool = False) -> float:
        """The textbook loop; with `accuracy`, it also counts each step's correct predictions
        on the device, as fit does for the train accuracy it logs."""
        model = self.build()
        optimizer = make_optimizer(self.optimizer, model.parameters(), lr=0.01)
        objective = Objective(self.loss)
        if any(isinstance(m, torch.nn.Conv2d) for m in model.modules()):
            model.to(memory_format=torch.channels_last)  # as fit does for a convnet
        model.train()
        counted = []
        started = time.perf_counter()
        for step, batch in enumerate(self.batches):
            _write(optimizer, self.lr(step), self.momentum(step), 1e-4)
            if batch[0].dim() == 4:
                batch = (batch[0].contiguous(memory_format=torch.channels_last), *batch[1:])
            loss, output = self._loss(model, batch, objective)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if accuracy and output is not None:
                counted.append((output.argmax(-1) == batch[-1]).sum())
        float(loss.detach())
        return time.perf_counter() - started

    def _loss(self, model, batch, objective: Objective) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The task's loss, written as a user's loop writes it, and the class logits where
        the task classifies."""
        if objective.kind == "step":
            return self.loss(model, batch), None
        *inputs, target = batch
        output = model(*inputs)
        if objective.kind == "criterion":
            return self.loss(output, target), None
        return torch.nn.functional.cross_entropy(output, target), output


def _write(optimizer, lr: float, momentum: float, weight_decay: float) -> None:
    """The schedules' values into every param group, as a hand-written loop sets them."""
    for group in optimizer.param_groups:
        group["lr"], group["weight_decay"] = lr, weight_decay
        if "betas" in group:
            group["betas"] = (momentum, group["betas"][1])
        else:
            group["momentum"] = momentum


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", default=",".join(TASKS))
    parser.add_argument("--scale", type=float, default=1.0,
                        help="times each task's timed steps (default 1)")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--out", type=Path, help="also write the JSON here")
    parser.add_argument("--bf16", action="store_true",
                        help="also time fit under bf16 autocast, paired with fit in fp32 "
                             "(what precision='auto' would choose is decided from this)")
    args = parser.parse_args(argv)
    tasks = [Task(name, max(4, round(TASKS[name] * args.scale)))
             for name in args.tasks.split(",")]
    sides = {"bare": Task.bare, "bare+acc": lambda task: task.bare(accuracy=True),
             "fit": Task.engine}
    if args.bf16:
        sides["fit bf16"] = lambda task: task.engine("bf16")
    for task in tasks:  # warm-up: first calls allocate and pick kernels
        for side in sides.values():
            side(task)
    times = {t.name: {side: [] for side in sides} for t in tasks}
    for _ in range(args.repeats):
        for task in tasks:
            for side, timed in sides.items():
                times[task.name][side].append(timed(task))
    rows = {}
    print(f"{'task':<22} {'batch':>5} {'bare ms/step':>13} {'fit ms/step':>12} "
          f"{'fit/bare':>17} {'fit/bare+acc':>17}" + (f" {'bf16/fp32':>17}" if args.bf16 else ""))
    for task in tasks:
        t = times[task.name]
        # each repeat's sides ran back to back: their ratio is paired against the machine's
        # state at that moment (this CPU's speed drifts by up to 40% between minutes)
        paired = {name: [f / b for f, b in zip(t["fit"], t[base])]
                  for name, base in (("ratio", "bare"), ("ratio_to_bare_with_accuracy",
                                                          "bare+acc"))}
        if "fit bf16" in t:  # the step time in bf16 over fp32: below 1, bf16 pays
            paired["bf16_over_fp32"] = [b / f for b, f in zip(t["fit bf16"], t["fit"])]
        rows[task.name] = {"batch_size": task.batch_size, "steps": task.steps,
                           **{f"{side}_s_per_step": statistics.median(v) / task.steps
                              for side, v in t.items()},
                           **{name: round(statistics.median(r), 3) for name, r in paired.items()},
                           **{f"{name}_range": [round(min(r), 3), round(max(r), 3)]
                              for name, r in paired.items()},
                           "repeats": {k: [round(v, 4) for v in vs] for k, vs in t.items()}}
        row = rows[task.name]
        print(f"{task.name:<22} {task.batch_size:>5} {row['bare_s_per_step'] * 1e3:>13.3f} "
              f"{row['fit_s_per_step'] * 1e3:>12.3f} " + " ".join(
                  f"{row[n]:>6.3f} [{row[n + '_range'][0]:.2f}-{row[n + '_range'][1]:.2f}]"
                  for n in paired))
    result = {"tasks": rows, "repeats": args.repeats,
              "precision": "fp32" + (", and fit in bf16 autocast" if args.bf16 else ""),
              "cpu_has_native_bf16": cpu_has_native_bf16(),
              "provenance": provenance("cpu")}
    if args.out:
        io.write_json(args.out, result)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
