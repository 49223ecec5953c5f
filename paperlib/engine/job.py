"""A run, as the engine takes it (`Job`) and gives it back (`RunResult`).

Why one frozen `Job`: a single run, a range test, a fused group and a Ray task are all the same
engine with other settings, so they must all be described the same way. A Job is built once,
checks its settings once, and resolves once what depends on the machine (device, precision,
memory format); the loop, the steppers, the launcher and the estimate only read it. Settings that
belong together travel as small option objects:

- `Every`: how often the loop reads losses (log), evaluates (eval) and checkpoints, in steps,
  and the predicates the loop steps by; the estimate counts evaluations, checkpoints and host
  reads with the same predicates (Job.evaluations, checkpoints, flushes), so the two agree;
- `Folder`: where the run keeps metrics.csv, run.json and checkpoints, and whether it resumes
  or overwrites; `config` is recorded in run.json and is part of what a resume must match;
- `Compute`: precision ("auto" | "fp32" | "bf16"), channels_last and torch.compile.

A Job takes any batch and any loss (`loss`: a criterion or a step function; batches.py says
which forms), and resolves once whether its inputs go channels_last: only where asked and the
model has convolutions, so a tabular or text model never meets a 4-D memory format.

`Job.fusion_key()` is the one rule for which runs can train as one stacked model; it reads what
the runs are (architecture, batch, update rule, cadence, the test set's fingerprint), never an
object's identity, so a plan made of stand-in jobs (the estimate's) groups as the real ones do.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd
import torch
from torch import nn

from ..device import has_convolutions, model_device, resolve_precision
from ..errors import ConfigError
from ..optim import OPTIMIZERS, rule_of
from ..schedules import constant
from .objective import Objective

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

    # The loop's cadence, as predicates of the number of steps done (1..steps). Each takes an
    # int or a numpy array of them, so that Job's counts are the loop's own.

    def evaluates(self, step, steps: int):
        """An evaluation after `step` updates: every `eval` steps, and at the end."""
        at_end = step == steps
        return at_end | (step % self.eval == 0) if self.eval else at_end

    def consults(self, step, steps: int):
        """should_stop is consulted (and the losses read): at evaluations and every `log` steps,
        counted from step 0, so a resumed run consults where an uninterrupted one did."""
        return self.evaluates(step, steps) | (step % self.log == 0)

    def checkpoints_at(self, step, steps: int):
        """A periodic checkpoint: every `checkpoint` steps, and at the end (0: none)."""
        if not self.checkpoint:
            return step != step  # False, of step's shape
        return (step % self.checkpoint == 0) | (step == steps)

    def reads(self, step, steps: int):
        """The losses are read from the device: where should_stop is consulted and before a
        periodic checkpoint."""
        periodic = (step % self.checkpoint == 0) if self.checkpoint else step != step
        return self.consults(step, steps) | periodic


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
    (paperlib.device); channels_last is faster for convnets on both devices (CPU: +18% for
    resnet20, benchmarks/throughput.py) and applies only to a model with convolutions (its 4-D
    inputs); compile trains through torch.compile (runs alone only)."""

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


@dataclass(frozen=True, kw_only=True)
class Job:
    """One training run: `steps` updates of `model` on `train.batch(step)` under schedules.

    lr, momentum, weight_decay: schedules (callables of the 0-based step) or constants; None
    leaves the optimizer's own value. optimizer: one of optim.OPTIMIZERS (built over
    models.param_groups(model) when the run starts) or a torch Optimizer of the model's
    parameters. should_stop(train losses so far) -> True ends the run as "stopped"; it is
    consulted at multiples of every.log and every.eval counted from step 0 and at the last step.
    per_image: keep which test images each of the last `per_image` evaluations got right, and
    each image's loss (RunResult.per_image; in the run folder, per_image.npz).
    """

    model: nn.Module
    train: Any                   # .batch(step) -> a batch (batches.py); .batch_size lets it fuse
    steps: int
    lr: Any
    momentum: Any = 0.9
    weight_decay: Any = None
    optimizer: Any = "sgd"
    test: Any = None             # an iterable of (inputs, targets): one ordered pass per eval;
    #                              .fingerprint (what it holds) lets runs scored on it fuse
    every: Every = Every()
    out: Folder | None = None
    compute: Compute = Compute()
    should_stop: Callable[[list[float]], bool] | None = None
    per_image: int = 0
    loss: Any = None             # None | criterion (output, target) | step fn (model, batch)
    device: torch.device = field(init=False)
    precision: str = field(init=False)  # "fp32" or "bf16", resolved on `device`
    channels_last: bool = field(init=False)  # asked for, and the model has convolutions
    objective: Objective = field(init=False)  # how a batch becomes the loss

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
        if isinstance(self.per_image, bool) or not isinstance(self.per_image, int) \
                or self.per_image < 0:
            raise ConfigError(f"per_image ({self.per_image!r}) must be an integer >= 0: how many "
                              "final evaluations keep their per-image results")
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
        set_(self, "precision", resolve_precision(self.compute.precision, self.device,
                                                  self.model))
        set_(self, "channels_last", bool(self.compute.channels_last)
             and has_convolutions(self.model))
        set_(self, "objective", Objective(self.loss))

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

    def unfusable(self) -> str | None:
        """Why this job must train alone, or None if it can fuse with jobs of its key."""
        if self.batch_size is None:
            return "its loader has no batch_size"
        if rule_of(self.optimizer) is None:
            return ("its optimizer is not one a fused step applies (paperlib.optim's SGD or "
                    "CaffeSGD, by name or as an object)")
        if not isinstance(self.optimizer, str) and (self.momentum is None
                                                    or self.weight_decay is None):
            return ("it keeps its optimizer's own momentum or weight decay (None), which a "
                    "fused step does not read")
        if not self.objective.default:
            return ("its loss is not the cross-entropy on (inputs, targets) that a fused step "
                    "computes")
        if self.compute.compile:
            return "it trains through torch.compile"
        if not self.channels_last:
            return "its model has no convolutions, or channels_last is off"
        if self.test is not None and getattr(self.test, "fingerprint", None) is None:
            return "its test set has no fingerprint to tell it is the others'"
        return None

    def fusion_key(self) -> tuple | None:
        """Jobs with equal keys can train as one stacked model (paperlib.engine.steppers): the
        same architecture and module settings (its repr, which includes BN momentum and shards,
        and every tensor's shape), device, precision, per-run batch size, update rule, steps,
        cadence, per-image records and test set (its fingerprint: what it holds, not which
        object it is), and run folders alike in kind. None: this job trains alone
        (`unfusable` says why)."""
        if self.unfusable() is not None:
            return None
        shapes = tuple((k, tuple(v.shape), v.dtype) for k, v in self.model.state_dict().items())
        folder = None if self.out is None else (self.out.resume, self.out.overwrite)
        test = None if self.test is None else self.test.fingerprint
        return (type(self.model).__name__, repr(self.model), shapes, str(self.device),
                self.precision, int(self.batch_size), self._update_rule(), self.steps,
                self.every, self.per_image, test, folder)

    def _update_rule(self):
        """The optimizer as a fused step applies it: its name, or an object's rule and how its
        groups split the parameters (names) with their Caffe multipliers."""
        if isinstance(self.optimizer, str):
            return self.optimizer
        names = {id(p): name for name, p in self.model.named_parameters()}
        groups = tuple((g.get("lr_mult", 1.0), g.get("decay_mult", 1.0),
                        tuple(names.get(id(p), "?") for p in g["params"]))
                       for g in self.optimizer.param_groups)
        return (tuple(sorted(rule_of(self.optimizer).items())), groups)

    # What the loop will do, counted with its own predicates (Every): the estimate's numbers.

    def _done(self) -> np.ndarray:
        return np.arange(1, self.steps + 1)

    def evaluations(self) -> int:
        """Test evaluations the run makes (0 without a test set)."""
        return 0 if self.test is None else int(self.every.evaluates(self._done(), self.steps)
                                                .sum())

    def checkpoints(self) -> int:
        """Checkpoints the run writes: the periodic ones, and one at the end where there is a
        folder (0 without one)."""
        if self.out is None:
            return 0
        periodic = int(self.every.checkpoints_at(self._done(), self.steps).sum())
        return periodic + (0 if self.every.checkpoints_at(self.steps, self.steps) else 1)

    def flushes(self) -> int:
        """Blocks of losses read from the device (one host synchronisation each)."""
        return int(self.every.reads(self._done(), self.steps).sum())

    def settings(self, optimizer: torch.optim.Optimizer) -> dict:
        """What run.json records as the run's settings; a checkpoint's key is built from it, so
        a run resumes only with the same settings, fused or alone."""
        return {"steps": self.steps, "lr": describe_schedule(self.lr),
                "momentum": describe_schedule(self.momentum),
                "weight_decay": describe_schedule(self.weight_decay),
                "optimizer": type(optimizer).__name__, "precision": self.precision,
                "channels_last": self.channels_last, "compile": self.compute.compile,
                # only a loss of the user's: the paper's runs (the default) resume as they were
                **({"loss": self.objective.describe()} if not self.objective.default else {}),
                **(self.out.config if self.out else {})}


def describe_schedule(schedule):
    if schedule is None:
        return None
    return schedule.describe() if hasattr(schedule, "describe") else repr(schedule)


@dataclass
class RunResult:
    """What a run gives back: the tidy metrics and how it ended. info: what trained it ("stepper",
    "members" of its group) and, after an interrupt, its "checkpoint". per_image (where the Job asked
    for it): {"steps": [k], "correct": bool [k, images], "loss": float32 [k, images]} of its
    last k evaluations, the test images in the test set's order."""

    metrics: pd.DataFrame
    status: str  # "completed", "diverged", "stopped" (by should_stop) or "interrupted"
    steps_done: int
    diverged_at: int | None = None
    last_finite: dict | None = None
    wall_s: float = 0.0
    info: dict = field(default_factory=dict)
    per_image: dict | None = None

    @property
    def train(self) -> pd.DataFrame:
        return self.metrics[self.metrics["split"] == "train"].reset_index(drop=True)

    @property
    def test(self) -> pd.DataFrame:
        return self.metrics[self.metrics["split"] == "test"].reset_index(drop=True)

    def final_test_accuracy(self) -> float:
        test = self.test
        return float(test["accuracy"].iloc[-1]) if len(test) else float("nan")
