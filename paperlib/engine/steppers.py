"""How a group of runs takes one step: a plain model, N models stacked as one, or that step
captured in a CUDA graph. The loop (paperlib.engine.loop) is the same for all three.

Why three and not one: a run alone on the CPU should be exactly the textbook loop (forward,
backward, `optimizer.step()`), bit for bit, with any torch optimizer a user brings. But the
paper profile is 66 runs of ResNet-56 at 128-1036 images per step, which leave a GPU mostly idle:
each step is ~2,000 small kernel launches, and at batch 128-256 the launches, not the arithmetic,
set the pace (PERFORMANCE-anchors §9). Two remedies:

- Horizontal fusion (`StackedStepper`). `StackedModels` stacks N members' parameters and buffers
  on a new leading dim (torch.func.stack_module_state) and runs them with torch.func.vmap over
  the one architecture: every convolution becomes one grouped convolution over [B, N*C, H, W]
  and every BatchNorm one over N*C channels, so a member keeps its own weights, BN statistics
  and BN shards while the GPU sees N times the work per launch. The update is each member's own
  rule (optim.sgd_update), reading its lr, momentum and weight decay for the step from [steps, N]
  tables on the device, indexed by a step counter on the device.
- A captured step (`CapturedStepper`): the stacked step recorded once as a CUDA graph and
  replayed, so a step is one launch and reads nothing back. It is the stacked stepper plus the
  capture: its only CUDA-only code is the capture itself.

A stepper returns each member's loss and correct count for the step as device tensors (nothing
read back; the loop stacks a block of them at its one host sync), and scores its members on a test set through the one evaluation (`score_members`) whichever
stepper it is; `sync(i)` leaves member i's own model and optimizer as a run alone would have them (for its
checkpoint and its caller), and `drop(i)` masks a member that ended (diverged, stopped): its
weights, velocities and hyper-parameters are zeroed, so it computes finite zeros and nothing of
it reaches the others.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, stack_module_state, vmap

from ..device import model_device, resolve_precision
from ..errors import ConfigError
from ..optim import multiplied, rule_of, sgd_update
from ..schedules import set_hparams
from ..data import batches
from .objective import Objective, bf16_autocast, call, classifies, logits_of, scalar_loss
from .job import Job


@dataclass
class Score:
    """One member's evaluation: its mean loss and accuracy (None where the task does not
    classify), and (where asked) per test image, in the test set's order, whether it was right
    and its loss."""

    loss: float
    accuracy: float | None
    correct: np.ndarray | None = None
    image_loss: np.ndarray | None = None


@torch.no_grad()
def score_members(forward, test, *, members: int, device: torch.device, bf16: bool,
                  objective: Objective = Objective(), per_image: bool = False) -> list[Score]:
    """Score `members` models on one ordered pass of `test`: forward(inputs) gives their
    outputs, one per member (a stacked model's [members, B, classes] logits, or [output] of a
    model alone). The loss is the run's own (objective): cross-entropy summed per batch in fp32
    over every target (each token of a sequence) and over batches in float64; a criterion's or
    a step function's mean weighted by the batch's samples. The caller puts the models in eval
    mode."""
    loss_sum = torch.zeros(members, device=device, dtype=torch.float64)
    hits = torch.zeros(members, device=device, dtype=torch.int64)
    rights, losses = [], []
    weight = targets = 0
    for batch in test:
        batch = batches.to_device(batch, device)
        if objective.kind == "step":  # the function runs the forward pass of a model alone
            with bf16_autocast(device.type, bf16):
                loss = scalar_loss(objective.loss(forward, batch))
            n = batches.size(batch)
            loss_sum[0] += loss * n
            weight += n
            continue
        inputs, target = batches.split(batch)
        with bf16_autocast(device.type, bf16):
            outputs = forward(inputs)
        samples = batches.size(batch)
        for i in range(members):
            total, counted = objective.summed(outputs[i], target, samples)
            loss_sum[i] += total
        weight += counted
        logits = [logits_of(output) for output in outputs]
        if classifies(logits[0], target):
            right = torch.stack([lg.argmax(-1) == target for lg in logits])
            hits += right.flatten(1).sum(1)
            targets += target.numel()
            if per_image and target.dim() == 1:
                rights.append(right)
                losses.append(torch.stack([F.cross_entropy(lg.float(), target, reduction="none")
                                           for lg in logits]))
    if weight == 0:
        raise ConfigError("the evaluation loader yielded no batches; give it at least one sample")
    scores = [Score(loss / weight, hit / targets if targets else None)
              for loss, hit in zip(loss_sum.tolist(), hits.tolist())]
    if rights:
        right, loss = torch.cat(rights, 1).cpu().numpy(), torch.cat(losses, 1).cpu().numpy()
        for i, score in enumerate(scores):
            score.correct, score.image_loss = right[i], loss[i]
    return scores


def evaluate(model: nn.Module, loader, *, precision: str = "auto",
             loss=None) -> tuple[float, float | None]:
    """Mean loss (the Job's: cross-entropy by default, or `loss`, as Job takes it) and accuracy
    (None where the task does not classify) of `model` over one ordered pass of `loader`."""
    device = model_device(model)
    objective = Objective(loss)
    was_training = model.training
    model.eval()
    try:
        (score,) = score_members(_alone(model, objective), loader, members=1, device=device,
                                 bf16=resolve_precision(precision, device, model) == "bf16",
                                 objective=objective)
    finally:
        model.train(was_training)
    return score.loss, score.accuracy


def _alone(model: nn.Module, objective: Objective):
    """score_members' forward for a model alone: the model itself for a step function (which
    runs the forward pass), else its output as a list of one member's."""
    if objective.kind == "step":
        return model
    return lambda inputs: [call(model, inputs)]


class Stepped(NamedTuple):
    """One step of a group: each member's loss (a 0-d tensor for a run alone, [N] for a fused
    group), its correct count likewise (None where the task does not classify), and the number
    of targets that count is over."""

    loss: torch.Tensor
    correct: torch.Tensor | None
    targets: int | None


class EagerStepper:
    """One run: the model and its optimizer, exactly as a hand-written loop would step them."""

    kind = "eager"

    def __init__(self, jobs: list[Job], optimizers: list[torch.optim.Optimizer]):
        (self.job,), (self.optimizer,) = jobs, optimizers
        model = self.job.model
        self.forward = _compiled(model) if self.job.compute.compile else model

    def start(self, step: int) -> None:
        self.job.model.train()

    def step(self, step: int, hparams: list[dict]) -> Stepped:
        """Train one step: its loss and correct count as device tensors (nothing is read back),
        and the number of targets its accuracy is over (None where the task does not
        classify)."""
        job = self.job
        set_hparams(self.optimizer, **hparams[0])
        batch = batches.to_device(job.train.batch(step), job.device)
        if job.channels_last:
            batch = batches.channels_last(batch)
        done = job.objective.compute(self.forward, batch, device_type=job.device.type,
                                     bf16=job.bf16)
        self.optimizer.zero_grad(set_to_none=True)
        done.loss.backward()
        self.optimizer.step()
        if not classifies(done.logits, done.target):
            return Stepped(done.loss.detach(), None, None)
        return Stepped(done.loss.detach(), (done.logits.argmax(-1) == done.target).sum(),
                       done.target.numel())

    def evaluate(self, test, per_image: bool = False) -> list[Score]:
        model = self.job.model
        model.eval()
        try:
            return score_members(_alone(model, self.job.objective), test, members=1,
                                 device=self.job.device, bf16=self.job.bf16,
                                 objective=self.job.objective, per_image=per_image)
        finally:
            model.train(True)

    def sync(self, i: int, step: int) -> None:
        """The model and optimizer are the run's own: nothing to write back."""

    def drop(self, i: int) -> None:
        """A run alone ends with its loop."""


def _compiled(model: nn.Module):
    compiled = model.__dict__.get("_paperlib_compiled")
    if compiled is None:
        compiled = torch.compile(model)
        # object.__setattr__: as a registered submodule it would appear in state_dict()
        object.__setattr__(model, "_paperlib_compiled", compiled)
    return compiled


class StackedModels:
    """N models of one architecture as one: stacked parameters and buffers, one vmap'ed forward.

    `stacked(xs)` takes inputs [N, B, ...] (member i gets xs[i]) and returns [N, B, classes];
    `stacked(x, shared=True)` feeds the same [B, ...] batch to every member (evaluation).
    Training mode, BN momentum and BN shards are the first model's: Job.fusion_key checks the
    members agree on all of them.
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


class StackedStepper:
    """N runs of one fusion key as one StackedModels (see the module docstring)."""

    kind = "stacked"

    def __init__(self, jobs: list[Job], optimizers: list[torch.optim.Optimizer]):
        self.jobs, self.optimizers = jobs, optimizers
        self.n = n = len(jobs)
        first = jobs[0]
        self.device = device = first.device
        self.bf16 = first.bf16
        self.model = StackedModels([j.model for j in jobs]).train()
        self.rule = rule_of(optimizers[0])
        # parameters grouped as the members' optimizers group them (Job.fusion_key checks they
        # agree): one update per group, with its Caffe multipliers
        names = {id(p): name for name, p in first.model.named_parameters()}
        self.groups = [({**g, "params": None}, [names[id(p)] for p in g["params"]])
                       for g in optimizers[0].param_groups]
        named = [dict(j.model.named_parameters()) for j in jobs]
        key = self.rule["state_key"]
        self.velocity = {}
        for name in self.model.params:
            slices = []
            for optimizer, params in zip(optimizers, named):
                v = optimizer.state.get(params[name], {}).get(key)
                slices.append(torch.zeros_like(params[name]) if v is None else v.detach().clone())
            self.velocity[name] = torch.stack(slices).contiguous()
        # hparam tables [steps, N], indexed on the device by the step counter
        dtype = next(iter(self.model.params.values())).dtype
        rows = [[j.hparams(s) for j in jobs] for s in range(first.steps)]
        self.table = {k: torch.tensor([[row[i][k] or 0.0 for i in range(n)] for row in rows],
                                      device=device, dtype=dtype)
                      for k in ("lr", "momentum", "weight_decay")}
        self.t = torch.zeros((), dtype=torch.long, device=device)
        x0, _ = _pair(first.train.batch(0))
        self.xs = torch.empty((n, *x0.shape), dtype=x0.dtype, device=device)
        self.ys = torch.empty((n, x0.shape[0]), dtype=torch.long, device=device)
        self.step_loss = torch.zeros(n, device=device)
        self.step_correct = torch.zeros(n, dtype=torch.long, device=device)

    def start(self, step: int) -> None:
        self.t.fill_(step)
        self._load(step)

    def _load(self, step: int) -> None:
        for i, job in enumerate(self.jobs):
            x, y = _pair(job.train.batch(step))
            self.xs[i].copy_(x)
            self.ys[i].copy_(y)

    def _compute(self) -> None:
        """Forward, backward and update of every member; reads only device tensors."""
        # index_select with the device counter: indexing with a 0-dim tensor would read it back
        at = self.t.view(1)
        lr, mom, wd = (self.table[k].index_select(0, at)[0]
                       for k in ("lr", "momentum", "weight_decay"))
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16,
                            cache_enabled=False):
            logits = self.model(self.xs)
        losses = vmap(F.cross_entropy)(logits.float(), self.ys)
        grads = dict(zip(self.model.params, torch.autograd.grad(
            losses.sum(), list(self.model.params.values()))))
        with torch.no_grad():
            for group, names in self.groups:
                group_lr, group_wd = multiplied(group, lr, wd)
                sgd_update([self.model.params[k] for k in names], [grads[k] for k in names],
                           [self.velocity[k] for k in names], lr=group_lr, momentum=mom,
                           weight_decay=group_wd, nesterov=self.rule["nesterov"],
                           caffe=self.rule["caffe"])
            self.step_loss.copy_(losses.detach())
            self.step_correct.copy_((logits.argmax(-1) == self.ys).sum(1))
            self.t += 1

    def _advance(self) -> None:
        self._compute()

    def step(self, step: int, hparams: list[dict]) -> Stepped:
        self._load(step)
        self._advance()
        # copies: the next step (a replayed graph) overwrites step_loss and step_correct in place
        return Stepped(self.step_loss.clone(), self.step_correct.clone(), self.xs.shape[1])

    def evaluate(self, test, per_image: bool = False) -> list[Score]:
        self.model.train(False)
        try:
            return score_members(lambda inputs: self.model(*inputs, shared=True), test,
                                 members=self.n, device=self.device, bf16=self.bf16,
                                 per_image=per_image)
        finally:
            self.model.train(True)

    def sync(self, i: int, step: int) -> None:
        """Write member i's slice into its own model and optimizer, as a run alone leaves them."""
        job, optimizer = self.jobs[i], self.optimizers[i]
        with torch.no_grad():
            job.model.load_state_dict(self.model.member_state_dict(i))
            for name, param in job.model.named_parameters():
                optimizer.state[param][self.rule["state_key"]] = self.velocity[name][i].clone()
        if step > 0:
            set_hparams(optimizer, **job.hparams(step - 1))

    def drop(self, i: int) -> None:
        with torch.no_grad():
            for t in [*self.model.tensors(), *self.velocity.values()]:
                if t.is_floating_point():
                    t[i].zero_()
            for table in self.table.values():
                table[:, i] = 0.0


def _pair(batch) -> tuple[torch.Tensor, torch.Tensor]:
    """A fused step's batch: one input tensor and its class targets (the default objective
    Job.fusion_key admits; anything else trains alone)."""
    inputs, target = batches.split(batch)
    if len(inputs) != 1 or not isinstance(inputs[0], torch.Tensor) \
            or not isinstance(target, torch.Tensor):
        raise ConfigError("a fused group takes (inputs, targets) batches of two tensors: give "
                          "these runs Execution(fuse='off')")
    return inputs[0], target


class CapturedStepper(StackedStepper):
    """The stacked step, recorded once as a CUDA graph and replayed: one launch per step."""

    kind = "captured"

    def start(self, step: int) -> None:
        """Record the step in a CUDA graph. The warm-up steps it needs first are undone."""
        super().start(step)
        state = [*self.model.tensors(), *self.velocity.values(), self.t, self.step_loss,
                 self.step_correct]
        saved = [t.clone() for t in state]
        stream = torch.cuda.Stream(self.device)
        stream.wait_stream(torch.cuda.current_stream(self.device))
        with torch.cuda.stream(stream):
            for _ in range(3):
                self._compute()
        torch.cuda.current_stream(self.device).wait_stream(stream)
        with torch.no_grad():
            for t, s in zip(state, saved):
                t.copy_(s)
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph):
            self._compute()

    def _advance(self) -> None:
        self.graph.replay()
