"""The training loop: `fit` for one run, `fit_many` for many, one loop for both.

Design (why it looks like this):
- A run is a `Job`; `plan` (execution.py) groups the jobs and names each group's stepper, and the
  loop steps a group of N >= 1 jobs through it (steppers.py): a plain model alone, N models
  stacked as one, or that stacked step captured on the GPU. `fit` is a group of one, stepped
  eagerly; the range test is a `fit_many` of one job.
  Logging, evaluation, checkpoints, resume, NaN handling, SIGINT/SIGTERM, should_stop and
  progress are written here once, for every stepper.
- Batches come from `train.batch(step)`, a pure function of the step, so the data position of
  a run is its step number and a resumed run sees exactly the batches it would have seen.
- Losses and accuracies stay on the device and are read every `every.log` steps: one host
  synchronisation per block of steps, not one per step.
- The metrics log is tidy: one row per (step, split). Train rows carry the lr, momentum and weight
  decay used by that step's update and the loss of its forward pass; test rows, written after
  `step` updates, carry the test loss and accuracy.
- The cadence (when to read losses, evaluate, checkpoint) is Every's predicates, which Job's
  counts (the estimate's) read as well.
- SIGINT and SIGTERM stop the group at the next step boundary, never inside an update, so the
  final checkpoints are exactly resumable; then `RunInterrupted` is raised.
- A NaN/inf loss ends that run as "diverged", recorded in its log, not raised; the others go on.
- `should_stop` is consulted only at multiples of `every.log` or `every.eval` counted from step
  0, and at the last step (a checkpoint or an interrupt reads the losses but does not consult
  it), and a resumed run hands it every train loss logged before the resume. So a resumed run
  stops at the very step an uninterrupted one would: a resumed range test is bit-identical.
- Each run writes its own folder (records.py), whichever stepper trained it, so a fused run
  resumes alone and the reverse, and nothing downstream can tell them apart.
"""
from __future__ import annotations

import contextlib
import math
import signal
import threading
import time
from pathlib import Path
from typing import Callable

import pandas as pd
import torch

from ..models import param_groups
from ..optim import make_optimizer
from ..runs import METRIC_COLUMNS, RunDir
from . import record
from .job import FINISHED, Compute, Every, Job, RunResult
from .execution import Execution, plan
from .steppers import CapturedStepper, EagerStepper, StackedStepper, Stepped

STEPPER_TYPES = {"eager": EagerStepper, "stacked": StackedStepper, "captured": CapturedStepper}


class RunInterrupted(KeyboardInterrupt):
    """Runs stopped by SIGINT/SIGTERM after saving their state; `step` updates were done.
    `checkpoint` is the first run's checkpoint (fit's only one), `checkpoints` every run's."""

    def __init__(self, signum: int, step: int, checkpoints: list[Path | None]):
        self.signum, self.step = signum, step
        self.checkpoints = checkpoints
        self.checkpoint = next((c for c in checkpoints if c is not None), None)
        name = signal.Signals(signum).name
        where = (f"; checkpoint {self.checkpoint}, continue with --resume"
                 if self.checkpoint else "")
        super().__init__(f"interrupted by {name} after {step} steps{where}")


def fit(model: torch.nn.Module, train, *, steps: int, lr, momentum=0.9, weight_decay=None,
        optimizer="sgd", test=None, every: Every | None = None, out=None,
        compute: Compute | None = None,
        should_stop: Callable[[list[float]], bool] | None = None, loss=None,
        progress: bool | None = None) -> RunResult:
    """Train `model` for `steps` updates on batches `train.batch(step)`; see Job for the
    arguments (`loss`: None for cross-entropy, a criterion (output, target) -> loss, or a
    StepLoss (model, batch) -> loss). `out` (a path or a Folder) keeps metrics.csv, run.json
    and checkpoints; with Folder(path, resume=True) the run continues from its newest
    checkpoint. A run alone always steps eagerly, with the model and optimizer given (fit_many
    may fuse).
    """
    job = Job(model=model, train=train, steps=steps, lr=lr, momentum=momentum,
              weight_decay=weight_decay, optimizer=optimizer, test=test, every=every or Every(),
              out=out, compute=compute or Compute(), should_stop=should_stop, loss=loss)
    return train_group([job], "eager", progress=progress)[0]


# A run alone, stepped as a hand-written loop would step it: fit's execution, and the range
# test's (the model and optimizer it is handed are the ones trained).
ALONE = Execution(fuse="off", capture="off")


def fit_many(jobs: list[Job], execution: Execution | None = None, *,
             on_done: Callable[[int, RunResult], None] | None = None,
             progress=False) -> list[RunResult]:
    """Train every job, in the groups and with the steppers `plan(jobs, execution)` gives (by
    default: fused and captured on CUDA, one after another on the CPU; see execution.Execution).
    on_done(i, result) is called as job i ends. progress: False (none), True or None (a bar per
    group where someone watches: paperlib.progress), or a progress.FigureBar over all the jobs.
    Returns one RunResult per job, in order.
    """
    results: list[RunResult | None] = [None] * len(jobs)
    for group in plan(jobs, execution):
        members = list(group.members)
        done = train_group([jobs[i] for i in members], group.stepper, progress=progress,
                           on_done=None if on_done is None else
                           (lambda k, result, members=members: on_done(members[k], result)))
        for i, result in zip(members, done):
            results[i] = result
    return results  # type: ignore[return-value]


def train_group(jobs: list[Job], stepper: str, *, progress=None,
                on_done: Callable[[int, RunResult], None] | None = None) -> list[RunResult]:
    """Train `jobs` (one, or several of one fusion key) with the stepper named `stepper` (one
    of execution.STEPPERS); see the module docstring. Runs resumed from different steps train as
    separate groups."""
    started = time.perf_counter()
    with contextlib.ExitStack() as stack:
        loop = _Loop(jobs, STEPPER_TYPES[stepper], started, progress, on_done)
        loop.open(stack)
        for start in sorted({loop.start[i] for i in loop.todo}):
            loop.run(start, [i for i in loop.todo if loop.start[i] == start])
    return loop.results  # type: ignore[return-value]


class _Loop:
    """The step loop over a group, with each run's bookkeeping in lists indexed by member."""

    def __init__(self, jobs: list[Job], stepper: type, started: float, progress, on_done):
        self.jobs, self.stepper_type, self.started = jobs, stepper, started
        self.progress, self.on_done = progress, on_done
        n = len(jobs)
        self.optimizers: list = [None] * n
        self.settings: list[dict] = [{}] * n
        self.folders: list[RunDir | None] = [None] * n
        self.start = [0] * n
        self.results: list[RunResult | None] = [None] * n
        self.rows: list[list[dict]] = [[] for _ in range(n)]
        self.train_losses: list[list[float]] = [[] for _ in range(n)]
        self.diverged: list[tuple[int, dict | None] | None] = [None] * n
        self.info: list[dict] = [{} for _ in range(n)]
        self.per_image: list[dict | None] = [None] * n  # the last evaluations, as Job.per_image
        self.todo: list[int] = []

    # -- before the first step ----------------------------------------------------------------

    def open(self, stack: contextlib.ExitStack) -> None:
        """Build each run's optimizer, lock its folder, and resume or reload it."""
        for i, job in enumerate(self.jobs):
            if job.channels_last:
                job.model.to(memory_format=torch.channels_last)
            optimizer = job.optimizer
            if isinstance(optimizer, str):
                hp = job.hparams(0)
                optimizer = make_optimizer(optimizer, param_groups(job.model), lr=hp["lr"],
                                           momentum=hp["momentum"])
            self.optimizers[i], self.settings[i] = optimizer, job.settings(optimizer)
            if job.out is None:
                self.todo.append(i)
                continue
            run = stack.enter_context(RunDir(job.out.path, resume=job.out.resume,
                                             overwrite=job.out.overwrite))
            self.folders[i] = run
            if job.out.resume and run.status() in FINISHED:
                result = record.finished(run, job.model, optimizer, self.settings[i], job.steps)
                if job.per_image:
                    result.per_image = record.load_per_image(run)
                self._done(i, result)
                continue
            if job.out.resume:
                self.start[i] = record.restore(run, job.model, optimizer, self.settings[i])
                if self.start[i] and job.should_stop is not None:
                    self.train_losses[i] = record.logged_train_losses(run)
                if self.start[i] and job.per_image:
                    self.per_image[i] = record.load_per_image(run)
            record.write_run_json(run, self.settings[i], "running", self.start[i], self.started)
            self.todo.append(i)

    # -- the loop -------------------------------------------------------------------------------

    def run(self, start: int, members: list[int]) -> None:
        jobs = [self.jobs[i] for i in members]
        job = jobs[0]
        steps, every = job.steps, job.every
        stepper = self.stepper_type(jobs, [self.optimizers[i] for i in members])
        self.members, self.stepper, self.active = members, stepper, set(range(len(members)))
        self.pending: list[tuple[int, list[dict], Stepped]] = []
        bar = _bar(self.progress, jobs, start)
        step, interrupted = start, None
        try:
            stepper.start(step)
            with _graceful_signals() as stop_signal:
                while step < steps and self.active:
                    if stop_signal.signum is not None:
                        interrupted = stop_signal.signum
                        break
                    self._train_step(step)
                    step += 1
                    if not every.reads(step, steps):
                        continue
                    self._flush()
                    bar.update(step)
                    if every.evaluates(step, steps):
                        self._evaluate(step)
                    if every.checkpoints_at(step, steps):
                        for k in sorted(self.active):
                            self._checkpoint(k, step)
                    if every.consults(step, steps):
                        for k in sorted(self.active):
                            should_stop = jobs[k].should_stop
                            if should_stop is not None and should_stop(
                                    self.train_losses[members[k]]):
                                self._finish(k, "stopped", step)
                if interrupted is not None:
                    self._flush()  # a block that ended in a NaN: that run diverged
                    for k in sorted(self.active):
                        self.info[members[k]]["checkpoint"] = self._checkpoint(k, step)
                        self._finish(k, "interrupted", step)
                for k in sorted(self.active):
                    run = self.folders[members[k]]
                    if run is not None and not run.checkpoint_path(step).exists():
                        self.info[members[k]]["checkpoint"] = self._checkpoint(k, step)
                    self._finish(k, "completed", step)
        finally:
            bar.close()
        if any(self.results[i].status == "interrupted" for i in members):
            raise RunInterrupted(interrupted, step,
                                 [self.info[i].get("checkpoint") for i in members])

    def _train_step(self, step: int) -> None:
        hparams = [self.jobs[i].hparams(step) for i in self.members]
        stepped = self.stepper.step(step, hparams)
        logged = [self._logged(i, hp) for i, hp in zip(self.members, hparams)]
        self.pending.append((step, logged, stepped))

    def _logged(self, i: int, hp: dict) -> dict:
        """The values to log: the schedules', or what the optimizer holds where there is none."""
        group = self.optimizers[i].param_groups[0]
        if hp["momentum"] is None:
            hp = {**hp, "momentum": group.get("momentum", group.get("betas", (None,))[0])}
        if hp["weight_decay"] is None:
            hp = {**hp, "weight_decay": group.get("weight_decay")}
        return {k: float(v) if v is not None else None for k, v in hp.items()}

    def _flush(self) -> None:
        """Read the pending losses (one host sync), write each run's rows, end the diverged."""
        if not self.pending:
            return
        n = len(self.pending)
        # a block read at once, [n steps, members]: one stack and one read for the losses, one for
        # the correct counts
        losses = torch.stack([p[2].loss for p in self.pending]).reshape(n, -1).tolist()
        counted = [p[2].correct for p in self.pending if p[2].correct is not None]
        correct = (torch.stack(counted).reshape(n, -1).tolist() if len(counted) == n else None)
        for k in sorted(self.active):
            i = self.members[k]
            rows = []
            for b, (step, logged, stepped) in enumerate(self.pending):
                loss = losses[b][k]
                rows.append({"step": step, "split": "train", **logged[k], "loss": loss,
                             "accuracy": None if correct is None
                             else correct[b][k] / stepped.targets})
                if not math.isfinite(loss):
                    finite = [r for r in self.rows[i] + rows
                              if r["split"] == "train" and math.isfinite(r["loss"])]
                    self.diverged[i] = (step, dict(finite[-1]) if finite else None)
                    break
                self.train_losses[i].append(loss)
            self._emit(i, rows)
            if self.diverged[i] is not None:
                self._finish(k, "diverged", self.diverged[i][0] + 1)
        self.pending.clear()

    def _evaluate(self, step: int) -> None:
        first = self.jobs[self.members[0]]
        if first.test is None or not self.active:
            return
        scores = self.stepper.evaluate(first.test, per_image=first.per_image > 0)
        for k in sorted(self.active):
            i = self.members[k]
            hp = self._logged(i, self.jobs[i].hparams(step - 1))
            score = scores[k]
            self._emit(i, [{"step": step, "split": "test", **hp, "loss": score.loss,
                            "accuracy": score.accuracy}])
            if first.per_image:
                self.per_image[i] = record.kept_per_image(
                    self.per_image[i], step, score.correct, score.image_loss, first.per_image)
                if self.folders[i] is not None:
                    record.save_per_image(self.folders[i], self.per_image[i])

    def _emit(self, i: int, rows: list[dict]) -> None:
        self.rows[i].extend(rows)
        if self.folders[i] is not None:
            self.folders[i].append_metrics(rows)

    def _checkpoint(self, k: int, step: int) -> Path | None:
        i = self.members[k]
        if self.folders[i] is None:
            return None
        self.stepper.sync(k, step)
        return record.save_checkpoint(self.folders[i], step, self.jobs[i].model,
                                      self.optimizers[i], self.settings[i])

    def _finish(self, k: int, status: str, steps_done: int) -> None:
        """Record how run k ended; the stepper no longer trains it."""
        i = self.members[k]
        self.stepper.sync(k, steps_done)
        self.info[i].update(stepper=self.stepper.kind, members=len(self.members))
        self.active.discard(k)
        if self.active:
            self.stepper.drop(k)
        diverged_at, last_finite = self.diverged[i] or (None, None)
        frame = pd.DataFrame(self.rows[i], columns=METRIC_COLUMNS)
        result = RunResult(frame, status, steps_done, diverged_at, last_finite,
                           wall_s=time.perf_counter() - self.started, info=self.info[i],
                           per_image=self.per_image[i])
        run = self.folders[i]
        if run is not None:
            extra = None
            if self.stepper.kind != "eager":
                extra = {"fused": {"members": len(self.members),
                                   "captured": self.stepper.kind == "captured"}}
            record.write_run_json(run, self.settings[i], status, steps_done, self.started,
                                  result, extra=extra)
            if run.metrics.exists():
                result.metrics = pd.read_csv(run.metrics)
        self._done(i, result)

    def _done(self, i: int, result: RunResult) -> None:
        self.results[i] = result
        if self.on_done is not None:
            self.on_done(i, result)


class _NoBar:
    def update(self, step: int) -> None:
        pass

    def close(self) -> None:
        pass


def _bar(progress, jobs: list[Job], start: int):
    """The group's handle on a progress bar: the caller's bar (an object with group()), a bar
    of its own where show_progress says someone is watching (progress None or True), or none."""
    if hasattr(progress, "group"):
        return progress.group(jobs, start)
    from ..progress import FigureBar, show_progress
    if not show_progress(progress):
        return _NoBar()
    labels = [f"run {i + 1}" for i in range(len(jobs))] if len(jobs) > 1 else ["training"]
    return _OwnBar(FigureBar("training", jobs, labels, show=True), jobs, start)


class _OwnBar:
    """A bar made for one group, closed with it."""

    def __init__(self, bar, jobs, start):
        self.bar, self.handle = bar, bar.group(jobs, start)

    def update(self, step: int) -> None:
        self.handle.update(step)

    def close(self) -> None:
        self.bar.close()


class _StopSignal:
    signum: int | None = None


@contextlib.contextmanager
def _graceful_signals():
    """Turn the first SIGINT/SIGTERM into a request to stop at the next step boundary."""
    stop = _StopSignal()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return

    def request_stop(signum, frame):
        if stop.signum is not None:  # a second signal: the user insists
            raise KeyboardInterrupt
        stop.signum = signum

    previous = {s: signal.signal(s, request_stop) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
