"""Schedules that go from one value to another once: constant, linear and geometric ranges
(the LR range test), multistep decay and piecewise-linear interpolation.

Kept apart from the cycles because none of these repeat; the three-phase 1cycle in `cycles`
is built from `PiecewiseLinear`.
"""
from __future__ import annotations

import bisect
from dataclasses import dataclass
from typing import ClassVar

from paperlib.errors import ConfigError

from .base import (Schedule, _as_sequence, _non_negative, _positive, _set_field, _step_count,
                   _strictly_increasing)


@dataclass(frozen=True)
class Constant(Schedule):
    value: float
    kind: ClassVar[str] = "constant"

    def __post_init__(self) -> None:
        _set_field(self, "value", _non_negative("value", self.value))

    def _value(self, step: int) -> float:
        return self.value


@dataclass(frozen=True)
class _Range(Schedule):
    """start -> end over steps 0..total-1 (both ends included), then held at end."""

    start: float
    end: float
    total: int

    def __post_init__(self) -> None:
        _set_field(self, "start", self._check_end("start", self.start))
        _set_field(self, "end", self._check_end("end", self.end))
        _set_field(self, "total", _step_count("total", self.total, 1))

    def _value(self, step: int) -> float:
        if step >= self.total:
            return self.end
        if self.total == 1:
            return self.start
        return self._between(step / (self.total - 1))


@dataclass(frozen=True)
class LinearRange(_Range):
    """start -> end linearly over steps 0..total-1 (both ends included), then held at end.

    With total=1 the single step in range gets `start`. `start > end` is allowed (a falling
    momentum ramp, Fig 15a).
    """

    kind: ClassVar[str] = "linear_range"
    _check_end = staticmethod(_non_negative)

    def _between(self, fraction: float) -> float:
        return self.start + (self.end - self.start) * fraction


@dataclass(frozen=True)
class ExpRange(_Range):
    """start -> end geometrically over steps 0..total-1 (both ends included), then held at end."""

    kind: ClassVar[str] = "exp_range"
    _check_end = staticmethod(_positive)

    def _between(self, fraction: float) -> float:
        return self.start * (self.end / self.start) ** fraction


@dataclass(frozen=True)
class MultiStep(Schedule):
    """lr * gamma ** (number of milestones <= step): Caffe's "multistep" policy."""

    lr: float
    milestones: tuple[int, ...]
    gamma: float
    kind: ClassVar[str] = "multistep"

    def __post_init__(self) -> None:
        _set_field(self, "lr", _non_negative("lr", self.lr))
        _set_field(self, "gamma", _positive("gamma", self.gamma))
        milestones = tuple(
            _step_count(f"milestones[{i}]", m, 0) for i, m in enumerate(_as_sequence("milestones", self.milestones))
        )
        _strictly_increasing("milestones", milestones)
        _set_field(self, "milestones", milestones)

    def _value(self, step: int) -> float:
        return self.lr * self.gamma ** bisect.bisect_right(self.milestones, step)


@dataclass(frozen=True)
class PiecewiseLinear(Schedule):
    """Linear interpolation through (knot, value) pairs, held constant before the first knot
    and after the last."""

    knots: tuple[int, ...]
    values: tuple[float, ...]
    kind: ClassVar[str] = "piecewise_linear"

    def __post_init__(self) -> None:
        knots = tuple(_step_count(f"knots[{i}]", k, 0) for i, k in enumerate(_as_sequence("knots", self.knots)))
        values = tuple(_non_negative(f"values[{i}]", v) for i, v in enumerate(_as_sequence("values", self.values)))
        if not knots:
            raise ConfigError("knots must hold at least one step, got none")
        if len(knots) != len(values):
            raise ConfigError(
                f"knots and values must have the same length, got {len(knots)} knots and {len(values)} values"
            )
        _strictly_increasing("knots", knots)
        _set_field(self, "knots", knots)
        _set_field(self, "values", values)

    def _value(self, step: int) -> float:
        return _interpolate(step, self.knots, self.values)


def _interpolate(step: int, knots: tuple[int, ...], values: tuple[float, ...]) -> float:
    if step <= knots[0]:
        return values[0]
    if step >= knots[-1]:
        return values[-1]
    right = bisect.bisect_right(knots, step)
    k0, k1 = knots[right - 1], knots[right]
    v0, v1 = values[right - 1], values[right]
    return v0 + (v1 - v0) * ((step - k0) / (k1 - k0))


# ----------------------------------------------------------------------------------------------
# Factories (the public way to build schedules)


def constant(value: float) -> Schedule:
    return Constant(value)


def linear_range(start: float, end: float, total: int) -> Schedule:
    """Linear ramp over steps 0..total-1, endpoint included; Smith's range tests are linear."""
    return LinearRange(start, end, total)


def exp_range(start: float, end: float, total: int) -> Schedule:
    """Geometric ramp over steps 0..total-1, endpoint included."""
    return ExpRange(start, end, total)


def multistep(lr: float, milestones, gamma: float) -> Schedule:
    """Step decay; Fig 5a's baseline is multistep(0.35, [50000, 70000], 0.1)."""
    return MultiStep(lr, milestones, gamma)


def piecewise_linear(knots, values) -> Schedule:
    return PiecewiseLinear(knots, values)

