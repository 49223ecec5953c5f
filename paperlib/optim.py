"""Optimizers: PyTorch SGD, and SGD with Caffe's update rule.

Smith's runs used Caffe, whose SGD keeps the learning rate *inside* the velocity
(SETTINGS.md §1, "Caffe update rule"):

    plain:     v <- m*v + lr*(g + wd*w);      w <- w - v
    Nesterov:  v' = m*v + lr*(g + wd*w);      w <- w - ((1+m)*v' - m*v)

PyTorch's SGD keeps it outside (v <- m*v + g + wd*w; w <- w - lr*v). The two agree while lr is
constant and differ when it changes every step, as it does under 1cycle: with PyTorch semantics a
rise in lr also rescales the momentum already accumulated.
"""
from __future__ import annotations

import torch
from torch import nn

from .errors import ConfigError

OPTIMIZERS = ("sgd", "nesterov", "caffe-sgd", "caffe-nesterov")


class CaffeSGD(torch.optim.Optimizer):
    """SGD with momentum and L2 weight decay, updated the way Caffe's SGD/Nesterov solvers do."""

    def __init__(self, params, lr: float, momentum: float = 0.9, weight_decay: float = 0.0,
                 nesterov: bool = False):
        if lr < 0:
            raise ConfigError(f"lr ({lr}) must be >= 0")
        if not 0.0 <= momentum < 1.0:
            raise ConfigError(f"momentum ({momentum}) must be in [0, 1)")
        if weight_decay < 0:
            raise ConfigError(f"weight_decay ({weight_decay}) must be >= 0")
        super().__init__(params, dict(lr=lr, momentum=momentum, weight_decay=weight_decay,
                                      nesterov=nesterov))

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            if not params:
                continue
            grads = [p.grad for p in params]
            for p in params:
                if "velocity" not in self.state[p]:
                    self.state[p]["velocity"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            velocities = [self.state[p]["velocity"] for p in params]
            lr, m, wd = group["lr"], group["momentum"], group["weight_decay"]
            if wd:
                grads = torch._foreach_add(grads, params, alpha=wd)
            if group["nesterov"]:
                previous = torch._foreach_mul(velocities, m)  # m*v, before the update
            torch._foreach_mul_(velocities, m)
            torch._foreach_add_(velocities, grads, alpha=lr)
            if group["nesterov"]:
                torch._foreach_add_(params, velocities, alpha=-(1.0 + m))
                torch._foreach_add_(params, previous)
            else:
                torch._foreach_sub_(params, velocities)
        return loss


def make_optimizer(kind: str, param_groups, *, lr: float = 0.1, momentum: float = 0.9,
                   weight_decay: float = 0.0) -> torch.optim.Optimizer:
    """Build one of OPTIMIZERS over `param_groups` (a module, an iterable of tensors or of groups).

    Groups may carry `lr_mult` and `decay_mult` (Caffe's per-blob multipliers); the schedule
    adapter `schedules.set_hparams` honours them when it writes lr and weight decay each step.
    """
    if isinstance(param_groups, nn.Module):
        param_groups = param_groups.parameters()
    if kind not in OPTIMIZERS:
        raise ConfigError(f"optimizer {kind!r} is unknown; choose one of {', '.join(OPTIMIZERS)}")
    if kind == "nesterov" and momentum <= 0:
        raise ConfigError(f"momentum ({momentum}) must be > 0 for optimizer 'nesterov'")
    groups = [_listed(g) for g in param_groups]  # generators would be used up by the check below
    if kind.startswith("caffe-"):
        return CaffeSGD(groups, lr=lr, momentum=momentum, weight_decay=weight_decay,
                        nesterov=kind == "caffe-nesterov")
    params = [p for g in groups for p in (g["params"] if isinstance(g, dict) else [g])]
    # On CUDA the fused kernel updates every tensor in one launch; on the CPU torch's default
    # (per-tensor loop) is as fast.
    fused = bool(params) and all(p.is_cuda for p in params)
    return torch.optim.SGD(groups, lr=lr, momentum=momentum, weight_decay=weight_decay,
                           nesterov=kind == "nesterov", fused=fused or None)


def _listed(group):
    if isinstance(group, dict):
        params = group["params"]
        return {**group, "params": [params] if isinstance(params, torch.Tensor) else list(params)}
    return group
