"""Schedules meeting PyTorch: writing their values into an optimizer, and tabulating them.

Separate because this is the only part that touches torch optimizers and pandas; the schedules
themselves are pure functions of the step. `set_hparams` is the single place that writes lr /
momentum / weight decay into an optimizer; `ScheduledHParams` drives it from schedules inside an
ordinary PyTorch training loop.
"""
from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import pandas as pd
import torch

from paperlib.errors import ConfigError
from paperlib.optim import multiplied

from .base import Schedule, _momentum, _non_negative, _step_count
from .registry import schedule_from_description


def _assign(group: dict, key: str, value: float) -> None:
    # Capturable/fused optimizers may hold hyper-parameters as tensors that must be updated in place.
    if isinstance(group.get(key), torch.Tensor):
        group[key].fill_(value)
    else:
        group[key] = value


def set_hparams(
    optimizer,
    *,
    lr: float,
    momentum: float | None = None,
    weight_decay: float | None = None,
) -> None:
    """Write lr (and optionally momentum and weight decay) into every param group.

    lr and weight_decay are scaled per group by "lr_mult" / "decay_mult" when present (Caffe's
    multipliers: Smith's prototxts give the FC bias lr_mult 2, decay_mult 0). Momentum
    goes to "momentum" (SGD-style) or to beta1 of "betas" (Adam family, beta2 kept); groups with
    neither are skipped with one warning.
    """
    # the checks' fast path: plain floats in range, as schedules give them every step (a NaN
    # fails every comparison and takes the full check, which names it)
    if not (type(lr) is float and 0.0 <= lr < math.inf):
        lr = _non_negative("lr", lr)
    if momentum is not None and not (type(momentum) is float and 0.0 <= momentum < 1.0):
        momentum = _momentum("momentum", momentum)
    if weight_decay is not None and not (type(weight_decay) is float
                                         and 0.0 <= weight_decay < math.inf):
        weight_decay = _non_negative("weight_decay", weight_decay)

    groups_without_momentum = 0
    for group in optimizer.param_groups:
        group_lr, group_wd = multiplied(group, lr, weight_decay)
        _assign(group, "lr", group_lr)
        if momentum is not None:
            if "momentum" in group:
                _assign(group, "momentum", momentum)
            elif "betas" in group:
                group["betas"] = (momentum, group["betas"][1])
            else:
                groups_without_momentum += 1
        if group_wd is not None:
            _assign(group, "weight_decay", group_wd)

    if groups_without_momentum:
        warnings.warn(
            f"{type(optimizer).__name__} has {groups_without_momentum} param group(s) with neither "
            f"'momentum' nor 'betas'; momentum {momentum} was not applied to them",
            UserWarning,
            stacklevel=2,
        )


class ScheduledHParams(torch.optim.lr_scheduler.LRScheduler):
    """Drive an optimizer's lr (and momentum) from schedules in an ordinary PyTorch loop.

    Construction writes the step-0 values; each `step()` (called after `optimizer.step()`)
    advances one optimizer step, so after k calls the optimizer holds lr(k) and momentum(k).
    `state_dict()` holds only plain data (the schedules as their descriptions), so it survives
    `torch.load(weights_only=True)`; `load_state_dict()` restores the step and the schedules and
    rewrites the optimizer's values for that step.
    """

    def __init__(self, optimizer, lr: Schedule, momentum: Schedule | None = None, last_epoch: int = -1) -> None:
        if not isinstance(lr, Schedule):
            raise ConfigError(f"lr must be a Schedule (e.g. from one_cycle or constant), got {lr!r}")
        if momentum is not None and not isinstance(momentum, Schedule):
            raise ConfigError(f"momentum must be a Schedule or None, got {momentum!r}")
        # Set before the base constructor, which immediately takes the first step.
        self.lr_schedule = lr
        self.momentum_schedule = momentum
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        lr = self.lr_schedule(self.last_epoch)
        return [multiplied(group, lr, None)[0] for group in self.optimizer.param_groups]

    def step(self, epoch: int | None = None) -> None:
        if epoch is not None:
            raise ConfigError("ScheduledHParams.step() takes no epoch: it always advances by one optimizer step")
        self._step_count += 1
        self.last_epoch += 1
        self._write_current()

    def _write_current(self) -> None:
        step = self.last_epoch
        momentum = None if self.momentum_schedule is None else self.momentum_schedule(step)
        set_hparams(self.optimizer, lr=self.lr_schedule(step), momentum=momentum)
        self._last_lr = [float(group["lr"]) for group in self.optimizer.param_groups]

    def state_dict(self) -> dict[str, Any]:
        return {
            "last_epoch": self.last_epoch,
            "_step_count": self._step_count,
            "_last_lr": list(self._last_lr),
            "lr_schedule": self.lr_schedule.describe(),
            "momentum_schedule": None if self.momentum_schedule is None else self.momentum_schedule.describe(),
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.last_epoch = int(state_dict["last_epoch"])
        self._step_count = int(state_dict["_step_count"])
        self.lr_schedule = schedule_from_description(state_dict["lr_schedule"])
        momentum = state_dict["momentum_schedule"]
        self.momentum_schedule = None if momentum is None else schedule_from_description(momentum)
        self._write_current()


# ----------------------------------------------------------------------------------------------
# Tables


def schedule_frame(lr: Schedule, momentum: Schedule | None = None, *, total: int) -> pd.DataFrame:
    """Columns step, lr, momentum (NaN without a momentum schedule) for steps 0..total-1."""
    total = _step_count("total", total, 1)
    steps = np.arange(total, dtype=np.int64)
    lr_values = np.array([lr(s) for s in range(total)], dtype=np.float64)
    if momentum is None:
        momentum_values = np.full(total, np.nan)
    else:
        momentum_values = np.array([momentum(s) for s in range(total)], dtype=np.float64)
    return pd.DataFrame({"step": steps, "lr": lr_values, "momentum": momentum_values})
