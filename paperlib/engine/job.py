"""A run, as the engine takes it (`Job`) and gives it back (`RunResult`).

Why one frozen `Job`: a single run, a range test, a fused group and a Ray task are all the same
engine with other settings, so they must all be described the same way. A Job is built once,
checks its settings once, and resolves once what depends on the machine (device, precision,
memory format); the loop, the steppers, the launcher and the estimate only read it. Settings that
belong together travel as small option objects:

- `Every`: how often the loop reads losses (log), evaluates (eval) and checkpoints, in steps;
- `Folder`: where the run keeps metrics.csv, run.json and checkpoints, and whether it resumes
  or overwrites; `config` is recorded in run.json and is part of what a resume must match;
- `Compute`: precision ("auto" | "fp32" | "bf16"), channels_last and torch.compile.

`Job.fusion_key()` is the one rule for which runs can train as one stacked model.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import pandas as pd
import torch
from torch import nn

from ..device import model_device, resolve_precision
from ..errors import ConfigError
from ..optim import OPTIMIZERS
from ..schedules import constant

FINISHED = ("completed", "diverged", "stopped")  # run.json statuses a resume has nothing to add to


@dataclass(frozen=True)
class Every:
    """Step intervals: `log` (read the losses from the device, consult should_stop), `eval`
    (evaluate on the test set; 0: only at the end, when there is one) and `checkpoint` (0:
    only at the end, when there is a folder)."""

    log: int = 50
    eval: int = 0
    checkpoint: int = 0

    def __post_init__(self):
        if not isinstance(self.log, int) or isinstance(self.log, bool) or self.log < 1:
            raise ConfigError(f"log_every ({self.log!r}) must be an integer >= 1")
        for name in ("eval", "checkpoint"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ConfigError(f"{name}_every ({value!r}) must be an integer >= 0 (0 turns "
                                  "it off)")


@dataclass(frozen=True)
class Folder:
    """A run folder (paperlib.runs.RunDir): metrics.csv, run.json and checkpoints/."""

    path: Path
    resume: bool = False
    overwrite: bool = False
    config: dict = field(default_factory=dict)  # recorded in run.json; a resume must match it

    def __post_init__(self):
        object.__setattr__(self, "path", Path(self.path))
        object.__setattr__(self, "config", dict(self.config or {}))


@dataclass(frozen=True)
class Compute:
    """How the arithmetic runs. precision "auto" is bf16 on CUDA and on CPUs with native bf16
    (paperlib.device); channels_last is faster for these convnets on both devices (CPU: +18% for
    resnet20, benchmarks/throughput.py); compile trains through torch.compile (runs alone only)."""

    precision: str = "auto"
    channels_last: bool = True
    compile: bool = False


def as_folder(out) -> Folder | None:
    """`out` as a Folder: None, a Folder, or a path (a fresh folder)."""
    if out is None or isinstance(out, Folder):
        return out
    if isinstance(out, (str, Path)):
        return Folder(Path(out))
    raise ConfigError(f"out ({out!r}) must be a folder path or a paperlib Folder")


def as_schedule(value):
    """A schedule (any callable of the step), a constant, or None (keep the optimizer's own)."""
    if value is None or callable(value):
        return value
    return constant(value)


@dataclass(frozen=True)
class Job:
    """One training run: `steps` updates of `model` on `train.batch(step)` under schedules.

    lr, momentum, weight_decay: schedules (callables of the 0-based step) or constants; None
    leaves the optimizer's own value. optimizer: one of optim.OPTIMIZERS (built over
    models.param_groups(model) when the run starts) or a torch Optimizer of the model's
    parameters. should_stop(train losses so far) -> True ends the run as "stopped"; it is
    consulted at multiples of every.log and every.eval counted from step 0 and at the last step.
    """

    model: nn.Module
    train: Any                   # .batch(step) -> (inputs, targets); .batch_size lets it fuse
    steps: int
    lr: Any
    momentum: Any = 0.9
    weight_decay: Any = None
    optimizer: Any = "sgd"
    test: Any = None             # an iterable of (inputs, targets): one ordered pass per eval
    every: Every = Every()
    out: Folder | None = None
    compute: Compute = Compute()
    should_stop: Callable[[list[float]], bool] | None = None
    device: torch.device = field(init=False)
    precision: str = field(init=False)  # "fp32" or "bf16", resolved on `device`

    def __post_init__(self):
        if not isinstance(self.steps, int) or isinstance(self.steps, bool) or self.steps < 1:
            raise ConfigError(f"steps ({self.steps!r}) must be an integer >= 1")
        lr = as_schedule(self.lr)
        if lr is None:
            raise ConfigError("lr must be a number or a schedule, not None")
        set_ = object.__setattr__
        set_(self, "lr", lr)
        set_(self, "momentum", as_schedule(self.momentum))
        set_(self, "weight_decay", as_schedule(self.weight_decay))
        set_(self, "out", as_folder(self.out))
        if isinstance(self.optimizer, str) and self.optimizer not in OPTIMIZERS:
            raise ConfigError(f"optimizer {self.optimizer!r} is unknown; choose one of "
                              f"{', '.join(OPTIMIZERS)}")
        if self.out is None and self.every.checkpoint:
            raise ConfigError("checkpoint_every needs a run folder for the checkpoints: give "
                              "out=<folder>")
        if self.out is not None and (self.every.checkpoint or self.out.resume):
            for name in ("lr", "momentum", "weight_decay"):
                sched = getattr(self, name)
                if sched is not None and not hasattr(sched, "describe"):
                    raise ConfigError(f"{name}: checkpointing needs a paperlib schedule (its "
                                      "describe() tells a resumed run it is the same run), not "
                                      "a plain function")
        set_(self, "device", model_device(self.model))
        set_(self, "precision", resolve_precision(self.compute.precision, self.device))

    @property
    def bf16(self) -> bool:
        return self.precision == "bf16"

    @property
    def batch_size(self) -> int | None:
        return getattr(self.train, "batch_size", None)

    def hparams(self, step: int) -> dict:
        """The schedules' values at `step` (None where a schedule is None)."""
        return {"lr": float(self.lr(step)),
                "momentum": None if self.momentum is None else float(self.momentum(step)),
                "weight_decay": None if self.weight_decay is None else float(
                    self.weight_decay(step))}

    def fusion_key(self) -> tuple | None:
        """Jobs with equal keys can train as one stacked model (paperlib.engine.steppers): the
        same architecture and module settings (its repr, which includes BN momentum and shards,
        and every tensor's shape), device, precision, per-run batch size, update rule, steps,
        cadence and test set, and run folders alike in kind. None: this job trains alone (an
        optimizer object, torch.compile or a loader without a batch_size)."""
        if (self.batch_size is None or not isinstance(self.optimizer, str)
                or self.compute.compile or not self.compute.channels_last):
            return None
        shapes = tuple((k, tuple(v.shape), v.dtype) for k, v in self.model.state_dict().items())
        folder = None if self.out is None else (self.out.resume, self.out.overwrite)
        return (type(self.model).__name__, repr(self.model), shapes, str(self.device),
                self.precision, int(self.batch_size), self.optimizer, self.steps, self.every,
                id(self.test), folder)

    def settings(self, optimizer: torch.optim.Optimizer) -> dict:
        """What run.json records as the run's settings; a checkpoint's key is built from it, so
        a run resumes only with the same settings, fused or alone."""
        return {"steps": self.steps, "lr": describe_schedule(self.lr),
                "momentum": describe_schedule(self.momentum),
                "weight_decay": describe_schedule(self.weight_decay),
                "optimizer": type(optimizer).__name__, "precision": self.precision,
                "channels_last": bool(self.compute.channels_last),
                "compile": self.compute.compile, **(self.out.config if self.out else {})}


def describe_schedule(schedule):
    if schedule is None:
        return None
    return schedule.describe() if hasattr(schedule, "describe") else repr(schedule)


@dataclass
class RunResult:
    """What a run gives back: the tidy metrics and how it ended."""

    metrics: pd.DataFrame
    status: str  # "completed", "diverged", "stopped" (by should_stop) or "interrupted"
    steps_done: int
    diverged_at: int | None = None
    last_finite: dict | None = None
    wall_s: float = 0.0
    info: dict = field(default_factory=dict)

    @property
    def train(self) -> pd.DataFrame:
        return self.metrics[self.metrics["split"] == "train"].reset_index(drop=True)

    @property
    def test(self) -> pd.DataFrame:
        return self.metrics[self.metrics["split"] == "test"].reset_index(drop=True)

    def final_test_accuracy(self) -> float:
        test = self.test
        return float(test["accuracy"].iloc[-1]) if len(test) else float("nan")
