"""Any output, any loss: how a step turns a user's batch into a loss, written once.

Why here, once: the range test, `fit`, a fused group and the recipe's probes all take steps on a
user's model, and practitioners bring models that return tuples, dicts or output objects, and
losses of their own: regressions, language models, several outputs. Each caller asks this
module, so a loss that works for one works for all. (The batch forms are paperlib.data.batches.)

Outputs: a tensor, a tuple or list (its first element), a dict ("logits", else its first
value), or an object with `.logits`; a dict's "loss" or an object's `.loss` is the model's own
loss.

The loss (`Objective`, from Job's `loss` argument):
- None: the model's own loss where its output carries one, else cross-entropy of the logits
  against an integer target (per token for [B, T, classes] logits); the paper's runs take this.
- a criterion `(output, target) -> loss`, e.g. nn.MSELoss();
- a step function `(model, batch) -> loss`, Lightning's training_step: wrap it in `StepLoss`, or
  name its parameters (model, batch).
Accuracy is counted where the logits classify the target (integer targets, logits of the
target's shape plus a class dimension), and left empty otherwise.
"""
from __future__ import annotations

import contextlib
import inspect
from dataclasses import dataclass
from typing import Any, Callable

import torch
import torch.nn.functional as F

from ..data.batches import split
from ..errors import ConfigError


def call(model, inputs):
    return model(**inputs) if isinstance(inputs, dict) else model(*inputs)



def logits_of(output):
    """The tensor a model's output predicts with (see the module docstring), or None."""
    if isinstance(output, torch.Tensor):
        return output
    if isinstance(output, (tuple, list)) and output:
        return logits_of(output[0])
    if isinstance(output, dict):
        if "logits" in output:
            return output["logits"]
        tensors = [v for k, v in output.items() if k != "loss" and isinstance(v, torch.Tensor)]
        return tensors[0] if tensors else None
    return getattr(output, "logits", None)


def own_loss(output):
    """The loss a model computed itself (a dict's "loss", an object's .loss), or None."""
    if isinstance(output, dict):
        return output.get("loss")
    if isinstance(output, (tuple, list, torch.Tensor)):
        return None
    return getattr(output, "loss", None)


def classifies(logits, target) -> bool:
    """Whether the logits classify the target: integer targets, logits of the target's shape
    plus a class dimension (an image's class, or every token's)."""
    return (isinstance(logits, torch.Tensor) and isinstance(target, torch.Tensor)
            and not target.is_floating_point() and not target.is_complex()
            and logits.dim() == target.dim() + 1 and logits.shape[:-1] == target.shape)


class StepLoss:
    """A loss computed from the model and the whole batch, `fn(model, batch) -> loss`, as a
    Lightning training_step: the function runs the forward pass itself."""

    def __init__(self, fn: Callable):
        if not callable(fn):
            raise ConfigError(f"StepLoss needs a function (model, batch) -> loss, not {fn!r}")
        self.fn = fn

    def __call__(self, model, batch):
        return self.fn(model, batch)

    def __repr__(self) -> str:
        return f"StepLoss({getattr(self.fn, '__qualname__', repr(self.fn))})"


@dataclass
class Computed:
    """One forward pass: the loss (fp32, a scalar), and the logits and target where they are
    known (None for a step function)."""

    loss: torch.Tensor
    logits: torch.Tensor | None
    target: Any


class Objective:
    """How a batch becomes a loss for a Job, from its `loss` argument (module docstring)."""

    def __init__(self, loss=None):
        if loss is not None and not callable(loss):
            raise ConfigError(f"loss must be None, a criterion (output, target) -> loss or a "
                              f"step function (model, batch) -> loss, not {loss!r}")
        if loss is not None and not isinstance(loss, StepLoss) and _named_model_batch(loss):
            loss = StepLoss(loss)
        self.loss = loss
        self.kind = ("default" if loss is None else
                     "step" if isinstance(loss, StepLoss) else "criterion")

    @property
    def default(self) -> bool:
        return self.kind == "default"

    def describe(self) -> str | None:
        """What run.json records (None for the default, which the paper's runs take)."""
        if self.default:
            return None
        return repr(self.loss) if self.kind == "step" else _name(self.loss)

    def compute(self, forward, batch, *, device_type: str, bf16: bool) -> Computed:
        """The loss of `batch` through `forward` (the model, or a compiled one), the forward
        pass under bf16 autocast where the run computes in bf16."""
        with bf16_autocast(device_type, bf16):
            if self.kind == "step":
                return Computed(scalar_loss(self.loss(forward, batch)), None, None)
            inputs, target = split(batch)
            output = call(forward, inputs)
        logits = logits_of(output)
        if self.kind == "criterion":
            if logits is None:
                raise ConfigError("the model's output holds no tensor to hand the criterion")
            return Computed(scalar_loss(self.loss(_float(logits), target)), logits, target)
        own = own_loss(output)
        if own is not None:
            return Computed(own.float(), logits, target)
        _check_classifies(logits, target)
        if logits.dim() > 2:  # a class per token: [B, T, C] against [B, T]
            return Computed(F.cross_entropy(logits.float().flatten(0, -2), target.flatten()),
                            logits, target)
        return Computed(F.cross_entropy(logits.float(), target), logits, target)

    def summed(self, output, target, samples: int) -> tuple[torch.Tensor, int]:
        """An evaluation batch's loss as (sum, weight), so that a test set's loss is the sum
        over its batches divided by theirs: cross-entropy summed over every target (each token
        of a sequence), or a criterion's or the model's own mean times the batch's samples."""
        logits = logits_of(output)
        if self.kind == "criterion":
            return scalar_loss(self.loss(_float(logits), target)) * samples, samples
        own = own_loss(output)
        if own is not None:
            return own.float() * samples, samples
        _check_classifies(logits, target)
        if logits.dim() > 2:
            return (F.cross_entropy(logits.float().flatten(0, -2), target.flatten(),
                                    reduction="sum"), target.numel())
        return F.cross_entropy(logits.float(), target, reduction="sum"), target.numel()


def bf16_autocast(device_type: str, bf16: bool):
    """bf16 autocast where a run computes in bf16; else no context at all (entering a disabled
    autocast costs a few microseconds a step, which a small model's step notices)."""
    if not bf16:
        return contextlib.nullcontext()
    return torch.autocast(device_type, dtype=torch.bfloat16)


def _check_classifies(logits, target) -> None:
    if not classifies(logits, target):
        raise ConfigError(
            "with no loss given, the engine takes cross-entropy of class logits against integer "
            f"targets, and this batch is not that (target {_shape(target)}, output "
            f"{_shape(logits)}): pass loss=, e.g. loss=torch.nn.MSELoss() for a regression")


def _named_model_batch(fn) -> bool:
    try:
        names = list(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        return False
    return names[:2] == ["model", "batch"]


def scalar_loss(loss) -> torch.Tensor:
    if not isinstance(loss, torch.Tensor) or loss.numel() != 1:
        raise ConfigError(f"the loss must be a tensor holding one number, not {_shape(loss)}: "
                          "reduce it (e.g. .mean())")
    return loss.reshape(()).float()


def _float(t: torch.Tensor) -> torch.Tensor:
    return t.float() if t.is_floating_point() else t


def _shape(t) -> str:
    return f"{tuple(t.shape)} {str(t.dtype).replace('torch.', '')}" if isinstance(
        t, torch.Tensor) else type(t).__name__


def _name(fn) -> str:
    return type(fn).__name__ if isinstance(fn, torch.nn.Module) else getattr(
        fn, "__qualname__", repr(fn))
