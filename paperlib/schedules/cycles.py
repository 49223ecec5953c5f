"""Schedules that cycle: Caffe's triangular CLR, Smith's 1cycle and his cyclical momentum.

Kept apart from the one-way ranges because these carry the paper's own policies (Smith 2015
§3.1, Smith 2018 §4.1 and Appendix A.2) and the `one_cycle` factory that pairs an LR schedule
with its momentum schedule.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

from paperlib.errors import ConfigError

from .base import Schedule, _momentum, _non_negative, _ordered, _set_field, _step_count
from .ranges import PiecewiseLinear

ONE_CYCLE_STYLES = ("smith", "three-phase")


@dataclass(frozen=True)
class _Cycle(Schedule):
    """An lr cycle between lr_min and lr_max whose half-period is step_size steps."""

    lr_min: float
    lr_max: float
    step_size: int

    def __post_init__(self) -> None:
        _set_field(self, "lr_min", _non_negative("lr_min", self.lr_min))
        _set_field(self, "lr_max", _non_negative("lr_max", self.lr_max))
        _set_field(self, "step_size", _step_count("step_size", self.step_size, 1))
        _ordered("lr_min", self.lr_min, "lr_max", self.lr_max)


@dataclass(frozen=True)
class Triangular(_Cycle):
    """Caffe's "triangular" cyclical LR (Smith 2015, §3.1): period 2*step_size, no decay."""

    kind: ClassVar[str] = "triangular"

    def _value(self, step: int) -> float:
        # Same arithmetic as Smith 2015's formula so values match Caffe's to the last digit.
        cycle = math.floor(1 + step / (2 * self.step_size))
        x = abs(step / self.step_size - 2 * cycle + 1)
        return self.lr_min + (self.lr_max - self.lr_min) * max(0.0, 1.0 - x)


@dataclass(frozen=True)
class SmithOneCycle(_Cycle):
    """Smith's Caffe "1cycle" LR (Smith 2018 §4.1/Appendix A; reproduces the lr his Caffe logs print).

    Rises linearly lr_min -> lr_max over step_size steps, falls linearly lr_max -> 0 (not to
    lr_min) by 2*step_size, then stays at lr_min/1000 for the rest of training.
    """

    kind: ClassVar[str] = "one_cycle_smith"

    def _value(self, step: int) -> float:
        if step <= self.step_size:
            return self.lr_min + (self.lr_max - self.lr_min) * step / self.step_size
        if step <= 2 * self.step_size:
            return self.lr_max * (2 - step / self.step_size)
        return self.lr_min / 1000


@dataclass(frozen=True)
class CyclicalMomentum(Schedule):
    """Smith 2018 Appendix A.2 cyclical momentum: a triangle wave mom_start -> mom_turn (at
    step_size) -> mom_start (at 2*step_size) whose amplitude halves every cycle ("triangular2")."""

    mom_start: float
    mom_turn: float
    step_size: int
    kind: ClassVar[str] = "cyclical_momentum"

    def __post_init__(self) -> None:
        _set_field(self, "mom_start", _momentum("mom_start", self.mom_start))
        _set_field(self, "mom_turn", _momentum("mom_turn", self.mom_turn))
        _set_field(self, "step_size", _step_count("step_size", self.step_size, 1))

    def _value(self, step: int) -> float:
        cycle = step // (2 * self.step_size)
        x = (step - (2 * cycle + 1) * self.step_size) / self.step_size
        # 0.5**cycle equals Smith's division by 2**cycle but underflows to 0 instead of building a
        # huge integer for very late steps.
        fraction = min(1.0, max(0.0, (1.0 - abs(x)) * 0.5**cycle))
        return self.mom_start + (self.mom_turn - self.mom_start) * fraction


# ----------------------------------------------------------------------------------------------
# Factories (the public way to build schedules)


def triangular(lr_min: float, lr_max: float, step_size: int) -> Schedule:
    """Caffe "triangular" CLR; Fig 5a uses triangular(0.1, 3.0, 5000) for 10000 steps."""
    return Triangular(lr_min, lr_max, step_size)


def cyclical_momentum(mom_start: float, mom_turn: float, step_size: int) -> Schedule:
    """Fig 8a: cyclical_momentum(0.95, 0.85, 9000) falls as the LR rises; (0.85, 0.95, 9000) rises."""
    return CyclicalMomentum(mom_start, mom_turn, step_size)


def one_cycle(
    style: str,
    lr_min: float,
    lr_max: float,
    step_size: int,
    total: int,
    final_lr: float | None = None,
    mom_max: float = 0.95,
    mom_min: float = 0.85,
) -> tuple[Schedule, Schedule]:
    """The 1cycle policy as (lr_schedule, momentum_schedule).

    style="smith": Smith's Caffe policy (see `SmithOneCycle`) with his Appendix A.2 momentum:
        mom_max -> mom_min while the LR rises, back to mom_max while it falls, then a
        half-amplitude second triangle. The LR floor is fixed at lr_min/1000, so `final_lr` must
        be None. 2*step_size may exceed `total`: Smith ran his LR range tests as 1cycle with
        stepsize = max_iter, which only ever uses the rising half.
    style="three-phase": lr (0, lr_min) -> (step_size, lr_max) -> (2*step_size, lr_min) ->
        (total-1, final_lr), then held; final_lr defaults to lr_min/1000. Momentum mirrors the
        first two phases (mom_max -> mom_min -> mom_max) and then stays at mom_max. Needs
        2*step_size <= total-1; when equal the last phase has no steps and final_lr is unused.

    mom_min > mom_max is allowed: that gives momentum rising with the LR (a Fig 8a curve).
    """
    total = _step_count("total", total, 1)
    if style == "smith":
        if final_lr is not None:
            raise ConfigError(
                f"final_lr is fixed at lr_min/1000 in style 'smith' (got final_lr={final_lr}); "
                "pass final_lr=None or use style='three-phase'"
            )
        lr = SmithOneCycle(lr_min, lr_max, step_size)
        momentum = CyclicalMomentum(_momentum("mom_max", mom_max), _momentum("mom_min", mom_min), step_size)
        return lr, momentum

    if style == "three-phase":
        lr_min = _non_negative("lr_min", lr_min)
        lr_max = _non_negative("lr_max", lr_max)
        _ordered("lr_min", lr_min, "lr_max", lr_max)
        step_size = _step_count("step_size", step_size, 1)
        final_lr = lr_min / 1000 if final_lr is None else _non_negative("final_lr", final_lr)
        _ordered("final_lr", final_lr, "lr_min", lr_min)
        mom_max = _momentum("mom_max", mom_max)
        mom_min = _momentum("mom_min", mom_min)
        if 2 * step_size > total - 1:
            raise ConfigError(
                f"style 'three-phase' needs 2*step_size <= total-1, got step_size={step_size} and "
                f"total={total}; use step_size <= {(total - 1) // 2} or a larger total"
            )
        knots = [0, step_size, 2 * step_size]
        lr_values = [lr_min, lr_max, lr_min]
        if total - 1 > 2 * step_size:
            knots.append(total - 1)
            lr_values.append(final_lr)
        lr = PiecewiseLinear(tuple(knots), tuple(lr_values))
        momentum = PiecewiseLinear((0, step_size, 2 * step_size), (mom_max, mom_min, mom_max))
        return lr, momentum

    raise ConfigError(f"style must be one of {list(ONE_CYCLE_STYLES)}, got {style!r}")


