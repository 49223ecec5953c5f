"""Many runs of one architecture trained as one model, and the whole step captured on the GPU.

Why: the paper profile is 66 runs of ResNet-56, most at 128-1036 images per step. One such run
leaves an H200 mostly idle: each step is ~2,000 small kernel launches, and at batch 128-256 the
launches, not the arithmetic, set the pace (PERFORMANCE-anchors §9). Two remedies, both here:

- Horizontal fusion (HFTA's idea). `StackedModels` stacks N members' parameters and buffers on a
  new leading dim (torch.func.stack_module_state) and runs them with torch.func.vmap over the
  one architecture. vmap turns every convolution into one grouped convolution over
  [B, N*C, H, W] and every BatchNorm into one over N*C channels, so a member keeps its own
  weights, BN statistics and BN shards, while the GPU sees N times the work per launch.
- A captured step. Forward, backward and the optimizer update run as one CUDA graph replay; the
  update reads the step's lr, momentum and weight decay of every member from tables on the
  device, indexed by a step counter on the device, so a step needs no host values at all.

`fit_many(jobs)` is the entry point. A `Job` is one run exactly as `fit` takes it; jobs that can
share a model (same architecture and module settings, per-run batch size, optimizer, steps,
evaluation and start step) train as one group, and each member still writes its own run folder:
metrics.csv, run.json and checkpoints in the unfused model's and optimizer's own format, with
fit's settings. So a fused run resumes under `fit` and the reverse, and everything downstream
(CSVs, claims, plots) cannot tell the two apart. Per member, as in `fit`: its own seed's initial
weights (the job's model), data order and augmentation (the job's loader), schedules and
should_stop. A member whose loss turns NaN/inf is recorded as diverged at that step; a member
that should_stop ends is recorded as stopped. Either way it is then masked: its weights and
velocities are zeroed and its lr, momentum and weight decay set to 0, so it computes finite
zeros and nothing of it reaches the others.

Equality with separate runs: tests/test_fused.py compares every tensor in float64, where the
two paths agree to rounding; benchmarks/fused_check.py (in `make test`) compares 4 members with
the same runs trained by `fit`, in fp32, after every one of 50 steps (CI fails above a relative
difference of 1e-4). In fp32 the only difference is the order of floating-point sums in grouped
convolutions, which these short runs amplify when left to themselves (see that script).
"""
from __future__ import annotations

import contextlib
import copy
import math
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, stack_module_state, vmap

from .errors import ConfigError
from .models import param_groups
from .optim import OPTIMIZERS, make_optimizer
from .runs import METRIC_COLUMNS, RunDir
from .schedules import constant, set_hparams
from .train import (FINISHED, RunInterrupted, RunResult, _finished, _graceful_signals,
                    _logged_train_losses, _restore, _settings_key, _write_run_json, fit, rng_state,
                    run_settings, use_bf16)

FUSE_CHOICES = ("auto", True, False)


@dataclass
class Job:
    """One run, with `fit`'s arguments. `Job(...).fit()` trains it alone."""

    model: nn.Module
    train: Any                   # .batch(step) -> (inputs, targets); .batch_size for fusion
    steps: int
    lr: Any
    momentum: Any = 0.9
    weight_decay: Any = None
    optimizer: str = "sgd"
    test: Any = None
    eval_every: int = 0
    log_every: int = 50
    out_dir: str | Path | None = None
    checkpoint_every: int = 0
    resume: bool = False
    overwrite: bool = False
    precision: str = "auto"
    should_stop: Callable[[list[float]], bool] | None = None
    config: dict | None = None

    def fit(self, **overrides) -> RunResult:
        kwargs = {k: getattr(self, k) for k in self.__dataclass_fields__ if k not in ("model", "train")}
        return fit(self.model, self.train, **{"progress": False, **kwargs, **overrides})


# --- the stacked model ----------------------------------------------------------------------------

class StackedModels:
    """N models of one architecture as one: stacked parameters and buffers, one vmap'ed forward.

    `stacked(xs)` takes inputs [N, B, ...] (member i gets xs[i]) and returns [N, B, classes];
    `stacked(x, shared=True)` feeds the same [B, ...] batch to every member (evaluation).
    Training mode, BN momentum and BN shards are the first model's: fusable() checks the members
    agree on all of them.
    """

    def __init__(self, models: list[nn.Module]):
        if not models:
            raise ConfigError("StackedModels needs at least one model")
        self.base = copy.deepcopy(models[0]).to("meta")
        params, buffers = stack_module_state(models)
        self.params = {k: v.detach().contiguous().requires_grad_(True) for k, v in params.items()}
        self.buffers = {k: v.contiguous() for k, v in buffers.items()}
        self.size = len(models)

    def _forward_one(self, params, buffers, x):
        return functional_call(self.base, (params, buffers), (x,))

    def __call__(self, xs: torch.Tensor, shared: bool = False) -> torch.Tensor:
        in_dims = (0, 0, None if shared else 0)
        return vmap(self._forward_one, in_dims=in_dims, randomness="error")(
            self.params, self.buffers, xs)

    def train(self, mode: bool = True) -> "StackedModels":
        self.base.train(mode)
        return self

    def member_state_dict(self, i: int) -> dict[str, torch.Tensor]:
        return {**{k: v[i].detach() for k, v in self.params.items()},
                **{k: v[i] for k, v in self.buffers.items()}}

    def tensors(self) -> list[torch.Tensor]:
        return [*self.params.values(), *self.buffers.values()]


def fusion_key(job: Job) -> tuple | None:
    """Jobs with equal keys can train as one StackedModels; None: this job trains alone."""
    batch_size = getattr(job.train, "batch_size", None)
    if batch_size is None or not isinstance(job.optimizer, str) or job.optimizer not in OPTIMIZERS:
        return None
    model = job.model
    shapes = tuple((k, tuple(v.shape), v.dtype) for k, v in model.state_dict().items())
    device = next(model.parameters()).device
    return (type(model).__name__, repr(model), shapes, str(device), int(batch_size),
            job.optimizer, job.steps, job.eval_every, job.log_every, job.checkpoint_every,
            id(job.test), job.precision, job.out_dir is None, job.resume, job.overwrite)


def fusion_groups(jobs: list[Job], max_members: int = 0) -> list[list[int]]:
    """Indices of `jobs`, grouped by fusion_key in first-seen order; groups of at most
    `max_members` (0: no limit)."""
    groups: dict[Any, list[int]] = {}
    for i, job in enumerate(jobs):
        key = fusion_key(job)
        groups.setdefault(("alone", i) if key is None else key, []).append(i)
    out = []
    for members in groups.values():
        size = max_members or len(members)
        out.extend(members[k:k + size] for k in range(0, len(members), size))
    return out


def resolve_fuse(fuse, device: torch.device) -> bool:
    """"auto" fuses on CUDA only: on the CPU, grouped convolutions measured slower than the same
    runs one after another (benchmarks/fused_check.py prints both)."""
    if fuse not in FUSE_CHOICES:
        raise ConfigError(f"fuse ({fuse!r}) must be 'auto', True or False")
    return device.type == "cuda" if fuse == "auto" else bool(fuse)


def fit_many(jobs: list[Job], *, fuse="auto", capture="auto", max_members: int = 0,
             on_done: Callable[[int, RunResult], None] | None = None) -> list[RunResult]:
    """Train every job; fused where `fuse` says so (see resolve_fuse), each group as one model.

    capture: "auto" captures each fused step in a CUDA graph on CUDA; False never.
    on_done(i, result) is called as job i finishes (a progress display hooks in here).
    Returns one RunResult per job, in order.
    """
    results: list[RunResult | None] = [None] * len(jobs)
    if not jobs:
        return []
    device = next(jobs[0].model.parameters()).device
    fused = resolve_fuse(fuse, device)
    for group in (fusion_groups(jobs, max_members) if fused else [[i] for i in range(len(jobs))]):
        if len(group) == 1 and not (fused and _can_capture(capture, device)):
            outcome = {group[0]: jobs[group[0]].fit()}
        else:
            outcome = dict(zip(group, FusedRun([jobs[i] for i in group], capture).run()))
        for i, result in outcome.items():
            results[i] = result
            if on_done is not None:
                on_done(i, result)
    return results  # type: ignore[return-value]


def _can_capture(capture, device: torch.device) -> bool:
    if capture not in ("auto", True, False):
        raise ConfigError(f"capture ({capture!r}) must be 'auto', True or False")
    return bool(capture) and device.type == "cuda"


# --- one member's bookkeeping: what fit does for one run, around the fused step --------------------

@dataclass
class _Member:
    job: Job
    lr_s: Any
    mom_s: Any
    wd_s: Any
    optimizer: torch.optim.Optimizer
    settings: dict
    run: RunDir | None
    start: int = 0
    active: bool = True
    status: str = "completed"
    steps_done: int = 0
    diverged_at: int | None = None
    last_finite: dict | None = None
    train_losses: list[float] = field(default_factory=list)
    rows: list[dict] = field(default_factory=list)
    result: RunResult | None = None
    info: dict = field(default_factory=dict)

    def hparams(self, step: int) -> dict:
        return {"lr": float(self.lr_s(step)),
                "momentum": float(self.mom_s(step)) if self.mom_s else None,
                "weight_decay": float(self.wd_s(step)) if self.wd_s else None}

    def logged(self, step: int) -> dict:
        hp = self.hparams(step)
        group = self.optimizer.param_groups[0]
        if hp["momentum"] is None:
            hp["momentum"] = float(group.get("momentum", 0.0))
        if hp["weight_decay"] is None:
            hp["weight_decay"] = float(group.get("weight_decay", 0.0))
        return hp

    def emit(self, rows: list[dict]) -> None:
        self.rows.extend(rows)
        if self.run is not None:
            self.run.append_metrics(rows)


def _schedule(value):
    return value if callable(value) or value is None else constant(value)


class FusedRun:
    """One group of jobs trained as one StackedModels (see the module docstring)."""

    def __init__(self, jobs: list[Job], capture="auto"):
        keys = {fusion_key(j) for j in jobs}
        if len(keys) != 1 or None in keys:
            raise ConfigError("these jobs cannot be fused: their models, batch sizes, optimizers, "
                              "steps or evaluation differ; use fit_many, which groups them")
        self.jobs = jobs
        job = jobs[0]
        self.device = next(job.model.parameters()).device
        self.bf16 = use_bf16(job.precision, self.device)
        self.capture = _can_capture(capture, self.device)
        self.steps, self.log_every, self.eval_every = job.steps, job.log_every, job.eval_every
        self.checkpoint_every = job.checkpoint_every
        if (self.checkpoint_every or job.resume) and job.out_dir is None:
            raise ConfigError("checkpoint_every/resume need out_dir: give a folder for the "
                              "checkpoints")

    def _member(self, job: Job, stack: contextlib.ExitStack) -> _Member:
        lr_s, mom_s, wd_s = (_schedule(v) for v in (job.lr, job.momentum, job.weight_decay))
        if lr_s is None:
            raise ConfigError("lr must be a number or a schedule, not None")
        job.model.to(memory_format=torch.channels_last)  # as fit leaves it
        optimizer = make_optimizer(job.optimizer, param_groups(job.model), lr=lr_s(0),
                                   momentum=mom_s(0) if mom_s else 0.0)
        settings = run_settings(job.steps, lr_s, mom_s, wd_s, optimizer, self.bf16, True, False,
                                job.config)
        run = None
        if job.out_dir is not None:
            run = stack.enter_context(RunDir(job.out_dir, resume=job.resume,
                                             overwrite=job.overwrite))
        return _Member(job, lr_s, mom_s, wd_s, optimizer, settings, run)

    def run(self) -> list[RunResult]:
        started = time.perf_counter()
        with contextlib.ExitStack() as stack:
            members = [self._member(job, stack) for job in self.jobs]
            todo = []
            for m in members:
                if m.run is not None and m.job.resume and m.run.status() in FINISHED:
                    m.result = _finished(m.run, m.job.model, m.optimizer, m.settings, m.job.steps)
                    continue
                if m.run is not None:
                    m.start = (_restore(m.run, m.job.model, m.optimizer, m.settings)
                               if m.job.resume else 0)
                    if m.start and m.job.should_stop is not None:
                        m.train_losses = _logged_train_losses(m.run)
                    _write_run_json(m.run, m.settings, "running", m.start, started)
                todo.append(m)
            # members resumed from different steps train as separate groups
            for start in sorted({m.start for m in todo}):
                _FusedLoop([m for m in todo if m.start == start], self, started).run(start)
        return [m.result for m in members]  # type: ignore[misc]


class _FusedLoop:
    """The step loop of one fused group: fit's _Loop, with a stacked model and per-member rows."""

    def __init__(self, members: list[_Member], spec: FusedRun, started: float):
        self.members, self.spec, self.started = members, spec, started
        self.n = n = len(members)
        self.device = device = spec.device
        self.model = StackedModels([m.job.model for m in members]).train()
        self.kind = members[0].job.optimizer
        self.caffe = self.kind.startswith("caffe-")
        self.nesterov = self.kind.endswith("nesterov")
        first = members[0].job.model
        names = {id(p): name for name, p in first.named_parameters()}
        self.mults = {names[id(p)]: (g["lr_mult"], g["decay_mult"])
                      for g in param_groups(first) for p in g["params"]}
        named = [dict(m.job.model.named_parameters()) for m in members]
        self.velocity = {name: self._velocities(name, [p[name] for p in named])
                         for name in self.model.params}
        # hparam tables [steps, N], indexed on the device by the step counter
        tables = [[m.hparams(s) for m in members] for s in range(spec.steps)]
        dtype = next(iter(self.model.params.values())).dtype
        self.table = {k: torch.tensor([[0.0 if row[i][k] is None else row[i][k] for i in range(n)]
                                       for row in tables], device=device, dtype=dtype)
                      for k in ("lr", "momentum", "weight_decay")}
        self.t = torch.zeros((), dtype=torch.long, device=device)
        batch = members[0].job.train.batch(0)[0]
        self.xs = torch.empty((n, *batch.shape), dtype=batch.dtype, device=device)
        self.ys = torch.empty((n, batch.shape[0]), dtype=torch.long, device=device)
        self.step_loss = torch.zeros(n, device=device)
        self.step_correct = torch.zeros(n, dtype=torch.long, device=device)
        self.losses = torch.zeros(spec.log_every, n, device=device)
        self.correct = torch.zeros(spec.log_every, n, dtype=torch.long, device=device)
        self.pending: list[int] = []  # steps whose losses are still on the device
        self.graph = None

    def _velocities(self, name: str, params: list[torch.Tensor]) -> torch.Tensor:
        """Parameter `name`'s velocities, stacked: each member optimizer's (zeros before its
        first step); `params` are the members' own tensors of that name."""
        key = "velocity" if self.caffe else "momentum_buffer"
        slices = []
        for m, param in zip(self.members, params):
            v = m.optimizer.state.get(param, {}).get(key)
            slices.append(torch.zeros_like(param) if v is None else v.detach().clone())
        return torch.stack(slices).contiguous()

    # -- the step ---------------------------------------------------------------------------------

    def _step(self) -> None:
        """Forward, backward and update of every member; reads only device tensors."""
        # index_select with the device counter: indexing with a 0-dim tensor would read it back
        at = self.t.view(1)
        lr, mom, wd = (self.table[k].index_select(0, at)[0]
                       for k in ("lr", "momentum", "weight_decay"))
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.spec.bf16,
                            cache_enabled=False):
            logits = self.model(self.xs)
        losses = vmap(F.cross_entropy)(logits.float(), self.ys)
        params = list(self.model.params.values())
        grads = torch.autograd.grad(losses.sum(), params)
        with torch.no_grad():
            for (name, p), g in zip(self.model.params.items(), grads):
                lr_mult, decay_mult = self.mults[name]
                shape = (self.n,) + (1,) * (p.dim() - 1)
                self._update(p, g, self.velocity[name], (lr * lr_mult).view(shape),
                             mom.view(shape), (wd * decay_mult).view(shape))
            self.step_loss.copy_(losses.detach())
            self.step_correct.copy_((logits.argmax(-1) == self.ys).sum(1))
            self.t += 1

    def _update(self, p, g, v, lr, m, wd) -> None:
        """The members' own rule (optim.CaffeSGD or torch.optim.SGD), with per-member values."""
        g = g + p * wd
        if self.caffe:
            previous = v * m if self.nesterov else None
            v.mul_(m).add_(g * lr)
            if self.nesterov:
                p.add_(v * -(1.0 + m)).add_(previous)
            else:
                p.sub_(v)
        else:
            v.mul_(m).add_(g)
            p.sub_((g + v * m if self.nesterov else v) * lr)

    def _capture(self) -> None:
        """Record _step in a CUDA graph. The warm-up steps it needs first are undone."""
        state = [*self.model.tensors(), *self.velocity.values(), self.t, self.step_loss,
                 self.step_correct]
        saved = [t.clone() for t in state]
        stream = torch.cuda.Stream(self.device)
        stream.wait_stream(torch.cuda.current_stream(self.device))
        with torch.cuda.stream(stream):
            for _ in range(3):
                self._step()
        torch.cuda.current_stream(self.device).wait_stream(stream)
        with torch.no_grad():
            for t, s in zip(state, saved):
                t.copy_(s)
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph):
            self._step()

    # -- the loop, as fit's --------------------------------------------------------------------

    def run(self, start: int) -> None:
        spec, step = self.spec, start
        self.t.fill_(start)
        self._load_batches(start)
        if spec.capture:
            self._capture()
        status = None
        with _graceful_signals() as stop_signal:
            while step < spec.steps and any(m.active for m in self.members):
                if stop_signal.signum is not None:
                    status = "interrupted"
                    break
                self._load_batches(step)
                if self.graph is not None:
                    self.graph.replay()
                else:
                    self._step()
                i = len(self.pending)
                self.losses[i].copy_(self.step_loss)
                self.correct[i].copy_(self.step_correct)
                self.pending.append(step)
                step += 1
                evaluating = step == spec.steps or bool(spec.eval_every and
                                                        step % spec.eval_every == 0)
                consult = evaluating or step % spec.log_every == 0
                if not (consult or (spec.checkpoint_every and step % spec.checkpoint_every == 0)):
                    continue
                self._flush()
                if evaluating:
                    self._evaluate(step)
                if spec.checkpoint_every and (step % spec.checkpoint_every == 0
                                              or step == spec.steps):
                    for m in self._active():
                        self._checkpoint(m, step)
                if consult:
                    for m in self._active():
                        if m.job.should_stop is not None and m.job.should_stop(m.train_losses):
                            self._finish(m, "stopped", step)
            if status == "interrupted":
                self._flush()
                for m in self._active():
                    m.info["checkpoint"] = self._checkpoint(m, step)
                    self._finish(m, "interrupted", step)
            for m in self._active():
                if m.run is not None and not m.run.checkpoint_path(step).exists():
                    m.info["checkpoint"] = self._checkpoint(m, step)
                self._finish(m, "completed", step)
        if status == "interrupted":
            raise RunInterrupted(stop_signal.signum, step, None)

    def _active(self) -> list[_Member]:
        return [m for m in self.members if m.active]

    def _load_batches(self, step: int) -> None:
        for i, m in enumerate(self.members):
            x, y = m.job.train.batch(step)
            self.xs[i].copy_(x)
            self.ys[i].copy_(y)

    def _flush(self) -> None:
        """Read the pending losses (one host sync); write each member's rows; mask the diverged."""
        if not self.pending:
            return
        losses = self.losses[:len(self.pending)].tolist()
        correct = self.correct[:len(self.pending)].tolist()
        batch = self.xs.shape[1]
        for i, m in enumerate(self.members):
            if not m.active:
                continue
            rows = []
            for k, step in enumerate(self.pending):
                loss = losses[k][i]
                rows.append({"step": step, "split": "train", **m.logged(step), "loss": loss,
                             "accuracy": correct[k][i] / batch})
                if not math.isfinite(loss):
                    finite = [r for r in m.rows + rows
                              if r["split"] == "train" and math.isfinite(r["loss"])]
                    m.diverged_at, m.last_finite = step, dict(finite[-1]) if finite else None
                    break
                m.train_losses.append(loss)
            m.emit(rows)
            if m.diverged_at is not None:
                self._finish(m, "diverged", m.diverged_at + 1)
        self.pending.clear()

    @torch.no_grad()
    def _evaluate(self, step: int) -> None:
        test = self.members[0].job.test
        if test is None:
            return
        self.model.train(False)
        loss_sum = torch.zeros(self.n, device=self.device, dtype=torch.float64)
        correct = torch.zeros(self.n, device=self.device, dtype=torch.long)
        count = 0
        try:
            for x, y in test:
                with torch.autocast(self.device.type, dtype=torch.bfloat16,
                                    enabled=self.spec.bf16):
                    logits = self.model(x, shared=True)
                loss_sum += vmap(lambda lg: F.cross_entropy(lg.float(), y, reduction="sum"))(
                    logits).double()
                correct += (logits.argmax(-1) == y).sum(1)
                count += len(y)
        finally:
            self.model.train(True)
        if count == 0:
            raise ConfigError("the evaluation loader yielded no batches; give it at least one "
                              "image")
        losses, hits = (loss_sum / count).tolist(), correct.tolist()
        for i, m in enumerate(self.members):
            if m.active:
                m.emit([{"step": step, "split": "test", **m.logged(step - 1),
                         "loss": losses[i], "accuracy": hits[i] / count}])

    def _sync_member(self, i: int, step: int) -> None:
        """Write member i's slice into its own model and optimizer, as fit would leave them."""
        m = self.members[i]
        with torch.no_grad():
            m.job.model.load_state_dict(self.model.member_state_dict(i))
            key = "velocity" if self.caffe else "momentum_buffer"
            for name, param in m.job.model.named_parameters():
                m.optimizer.state[param][key] = self.velocity[name][i].clone()
        if step > 0:
            set_hparams(m.optimizer, **m.hparams(step - 1))

    def _checkpoint(self, m: _Member, step: int) -> Path | None:
        if m.run is None:
            return None
        self._sync_member(self.members.index(m), step)
        state = {"step": step, "model": m.job.model.state_dict(),
                 "optimizer": m.optimizer.state_dict(), "rng": rng_state(),
                 "settings_key": _settings_key(m.settings)}
        return m.run.save_checkpoint(step, state)

    def _finish(self, m: _Member, status: str, steps_done: int) -> None:
        """Record how member m ended; then mask it so that it no longer trains or matters."""
        i = self.members.index(m)
        self._sync_member(i, steps_done)
        m.status, m.steps_done, m.active = status, steps_done, False
        with torch.no_grad():
            for t in [*self.model.tensors(), *self.velocity.values()]:
                if t.is_floating_point():
                    t[i].zero_()
            for table in self.table.values():
                table[:, i] = 0.0
        frame = pd.DataFrame(m.rows, columns=METRIC_COLUMNS)
        result = RunResult(frame, status, steps_done, m.diverged_at, m.last_finite,
                           wall_s=time.perf_counter() - self.started, info=m.info)
        if m.run is not None:
            _write_run_json(m.run, m.settings, status, steps_done, self.started, result,
                            extra={"fused": {"members": self.n, "captured": self.graph is not None}})
            result.metrics = pd.read_csv(m.run.metrics) if m.run.metrics.exists() else frame
        m.result = result


def fused_throughput(jobs: list[Job], steps: int, capture="auto") -> float:
    """Images/s of `steps` fused steps of `jobs` (no run folders), after a warm-up: a probe."""
    jobs = [replace(j, steps=steps + 3, out_dir=None, resume=False, checkpoint_every=0,
                    eval_every=0, log_every=steps + 3, test=None) for j in jobs]
    run = FusedRun(jobs, capture)
    loop = _FusedLoop([run._member(j, contextlib.ExitStack()) for j in jobs], run, 0.0)
    if run.capture:
        loop._capture()
    for step in range(3):
        loop._load_batches(step)
        loop.graph.replay() if loop.graph is not None else loop._step()
    _sync(run.device)
    t0 = time.perf_counter()
    for step in range(3, steps + 3):
        loop._load_batches(step)
        loop.graph.replay() if loop.graph is not None else loop._step()
    _sync(run.device)
    return steps * len(jobs) * loop.xs.shape[1] / (time.perf_counter() - t0)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
