"""Optimizers: SGD with PyTorch's update rule and with Caffe's, written once over tensors.

Smith's runs used Caffe, whose SGD keeps the learning rate *inside* the velocity
(SETTINGS.md §1, "Caffe update rule"):

    plain:     v <- m*v + lr*(g + wd*w);      w <- w - v
    Nesterov:  v' = m*v + lr*(g + wd*w);      w <- w - ((1+m)*v' - m*v)

PyTorch's SGD keeps it outside (v <- m*v + g + wd*w; w <- w - lr*v). The two agree while lr is
constant and differ when it changes every step, as it does under 1cycle: with PyTorch semantics a
rise in lr also rescales the momentum already accumulated.

Why the rules are written here once, as `sgd_update` over lists of tensors: two callers apply
them. `SGD` and `CaffeSGD` (torch Optimizers, for a model trained alone or by any user loop)
pass Python floats, one lr, momentum and weight decay per parameter group; the engine's stacked
stepper (paperlib.engine.steppers) passes per-member values as device tensors of shape [N], one
row of N runs trained as one model. A float goes into a foreach kernel as its scalar; a tensor
is broadcast over each member's slice of a stacked parameter. Either way the terms, their order
and Caffe's multipliers are the same code.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from .errors import ConfigError

OPTIMIZERS = ("sgd", "nesterov", "caffe-sgd", "caffe-nesterov", "adam", "adamw")
Coefficient = float | Tensor  # one value for every tensor, or one per fused member ([N])


def _per_member(c: Tensor, x: Tensor) -> Tensor:
    """c [N] shaped to broadcast over x [N, ...]."""
    return c.view((c.shape[0],) + (1,) * (x.dim() - 1))


def _scale_(xs: list[Tensor], c: Coefficient) -> None:
    if isinstance(c, Tensor):
        for x in xs:
            x.mul_(_per_member(c, x))
    else:
        torch._foreach_mul_(xs, c)


def _scaled(xs: list[Tensor], c: Coefficient) -> list[Tensor]:
    if isinstance(c, Tensor):
        return [x * _per_member(c, x) for x in xs]
    return torch._foreach_mul(xs, c)


def _add_scaled_(xs: list[Tensor], ys: list[Tensor], c: Coefficient) -> None:
    """x += c * y for each pair."""
    if isinstance(c, Tensor):
        for x, y in zip(xs, ys):
            x.add_(y * _per_member(c, y))
    else:
        torch._foreach_add_(xs, ys, alpha=c)


def _plus_scaled(xs: list[Tensor], ys: list[Tensor], c: Coefficient) -> list[Tensor]:
    """x + c * y for each pair."""
    if isinstance(c, Tensor):
        return [x + y * _per_member(c, y) for x, y in zip(xs, ys)]
    return torch._foreach_add(xs, ys, alpha=c)


@torch.no_grad()
def sgd_update(params: list[Tensor], grads: list[Tensor], velocities: list[Tensor], *,
               lr: Coefficient, momentum: Coefficient, weight_decay: Coefficient,
               nesterov: bool, caffe: bool) -> None:
    """One SGD update of `params` in place, with L2 weight decay and (Nesterov) momentum, by
    Caffe's rule (lr inside the velocity) or PyTorch's (outside); see the module docstring.

    lr and weight_decay are the values for these tensors, multipliers applied. A weight decay of
    exactly 0.0 (a float) skips its term; a tensor always applies it (0 * w adds nothing).
    """
    if isinstance(weight_decay, Tensor) or weight_decay:
        grads = _plus_scaled(grads, params, weight_decay)
    if caffe:
        previous = _scaled(velocities, momentum) if nesterov else None  # m*v before the update
        _scale_(velocities, momentum)
        _add_scaled_(velocities, grads, lr)
        if nesterov:
            _add_scaled_(params, velocities, -(1.0 + momentum))
            torch._foreach_add_(params, previous)
        else:
            torch._foreach_sub_(params, velocities)
        return
    _scale_(velocities, momentum)
    torch._foreach_add_(velocities, grads, alpha=1)
    step = _plus_scaled(grads, velocities, momentum) if nesterov else velocities
    _add_scaled_(params, step, -lr)


class _RuleSGD(torch.optim.Optimizer):
    """A torch Optimizer that applies `sgd_update` to each parameter group with its own values.
    Subclasses fix the rule (`caffe`) and the name of the velocity in the optimizer's state."""

    caffe: bool
    state_key: str

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

    def velocities(self, params: list[Tensor]) -> list[Tensor]:
        """The velocity of each parameter, zeros before its first update."""
        for p in params:
            if self.state[p].get(self.state_key) is None:
                self.state[p][self.state_key] = torch.zeros_like(
                    p, memory_format=torch.preserve_format)
        return [self.state[p][self.state_key] for p in params]

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            if params:
                sgd_update(params, [p.grad for p in params], self.velocities(params),
                           lr=group["lr"], momentum=group["momentum"],
                           weight_decay=group["weight_decay"], nesterov=group["nesterov"],
                           caffe=self.caffe)
        return loss


class SGD(_RuleSGD):
    """SGD with momentum and L2 weight decay, updated the way torch.optim.SGD does (dampening
    0): the same arithmetic, in the same order, and the same state ("momentum_buffer")."""

    caffe, state_key = False, "momentum_buffer"


class CaffeSGD(_RuleSGD):
    """SGD with momentum and L2 weight decay, updated the way Caffe's SGD/Nesterov solvers do."""

    caffe, state_key = True, "velocity"


def make_optimizer(kind: str, param_groups, *, lr: float = 0.1, momentum: float | None = 0.9,
                   weight_decay: float = 0.0) -> torch.optim.Optimizer:
    """Build one of OPTIMIZERS over `param_groups` (a module, an iterable of tensors or of groups).

    Groups may carry `lr_mult` and `decay_mult` (Caffe's per-blob multipliers); the schedule
    adapter `schedules.set_hparams` honours them when it writes lr and weight decay each step.
    "adam" and "adamw" are torch's; their momentum is beta1 (beta2 0.999), which cyclical
    momentum schedules drive as SGD's. momentum None: 0 for SGD, torch's 0.9 for Adam.
    """
    if isinstance(param_groups, nn.Module):
        param_groups = param_groups.parameters()
    if kind not in OPTIMIZERS:
        raise ConfigError(f"optimizer {kind!r} is unknown; choose one of {', '.join(OPTIMIZERS)}")
    groups = [_listed(g) for g in param_groups]  # generators would be used up by the check below
    if kind in ("adam", "adamw"):
        adam = torch.optim.AdamW if kind == "adamw" else torch.optim.Adam
        return adam(groups, lr=lr, betas=(0.9 if momentum is None else momentum, 0.999),
                    weight_decay=weight_decay)
    momentum = momentum or 0.0
    if kind == "nesterov" and momentum <= 0:
        raise ConfigError(f"momentum ({momentum}) must be > 0 for optimizer 'nesterov'")
    rule = CaffeSGD if kind.startswith("caffe-") else SGD
    return rule(groups, lr=lr, momentum=momentum, weight_decay=weight_decay,
                nesterov=kind.endswith("nesterov"))


def multiplied(group: dict, lr: Coefficient, weight_decay: Coefficient | None
               ) -> tuple[Coefficient, Coefficient | None]:
    """The lr and weight decay of one parameter group: Caffe's per-blob multipliers applied
    (`lr_mult`, `decay_mult`; 1 where the group has none). The one place they are applied: the
    schedule adapter (floats, into a torch optimizer) and the stacked stepper (per-member
    tensors) both call it."""
    return (lr * group.get("lr_mult", 1.0),
            None if weight_decay is None else weight_decay * group.get("decay_mult", 1.0))


def rule_of(optimizer) -> dict | None:
    """The `sgd_update` flags of an optimizer (one of OPTIMIZERS by name, or an SGD or CaffeSGD
    object whose groups share one Nesterov flag) and the state key of its velocity; None for any
    other optimizer, whose update sgd_update does not write."""
    if isinstance(optimizer, str):
        if optimizer in ("adam", "adamw"):
            return None
        caffe, nesterov = optimizer.startswith("caffe-"), optimizer.endswith("nesterov")
    elif isinstance(optimizer, _RuleSGD):
        flags = {bool(g["nesterov"]) for g in optimizer.param_groups}
        if len(flags) != 1:
            return None
        caffe, nesterov = optimizer.caffe, flags.pop()
    else:
        return None
    return {"caffe": caffe, "nesterov": nesterov,
            "state_key": CaffeSGD.state_key if caffe else SGD.state_key}


def _listed(group):
    if isinstance(group, dict):
        params = group["params"]
        return {**group, "params": [params] if isinstance(params, torch.Tensor) else list(params)}
    return group
