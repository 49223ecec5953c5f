"""Learning-rate and momentum schedules as pure functions of the optimizer step.

Convention: `schedule(s)` is the value used by optimizer step `s` (0-based), which is what Caffe
prints as "Iteration s, lr = ..., momentum = ..." before applying update `s`. A schedule keeps no
state, so a resumed run only needs to know its step.

Every schedule is a frozen, picklable dataclass whose fields are validated on construction
(bad values raise `ConfigError` naming the parameter). `describe()` gives a JSON-able dict for
provenance and `schedule_from_description()` turns it back into the schedule.

Shapes follow Smith 2018 (arXiv 1803.09820) and Smith 2015 (arXiv 1506.01186):
  * `linear_range` / `exp_range`: LR range tests (Smith's are linear: Smith 2015 §3.3, Smith 2018 §4.1);
  * `triangular`: Caffe's "triangular" cyclical LR (Smith 2015, §3.1), used for Fig 5;
  * `multistep`: the piecewise-constant baseline of Fig 5a;
  * `one_cycle(style="smith")`: Smith's Caffe "1cycle" policy exactly as his logs print it;
  * `one_cycle(style="three-phase")`: the smoothed three-phase reading (equal to PyTorch's
    `OneCycleLR(three_phase=True, anneal_strategy="linear")`);
  * `cyclical_momentum`: the Appendix A.2 momentum wave whose amplitude halves every cycle.

`set_hparams` is the single place that writes lr / momentum / weight decay into an optimizer;
`ScheduledHParams` drives it from schedules inside an ordinary PyTorch training loop.
"""
from __future__ import annotations

import bisect
import dataclasses
import math
import numbers
import operator
import warnings
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import torch

from paperlib.errors import ConfigError

__all__ = [
    "Schedule",
    "Constant",
    "LinearRange",
    "ExpRange",
    "Triangular",
    "MultiStep",
    "PiecewiseLinear",
    "SmithOneCycle",
    "CyclicalMomentum",
    "constant",
    "linear_range",
    "exp_range",
    "triangular",
    "multistep",
    "piecewise_linear",
    "one_cycle",
    "cyclical_momentum",
    "schedule_from_description",
    "set_hparams",
    "ScheduledHParams",
    "schedule_frame",
]

ONE_CYCLE_STYLES = ("smith", "three-phase")


# ----------------------------------------------------------------------------------------------
# Parameter checks. Each returns the value normalised to a plain Python int/float so that
# describe() stays JSON-able even when numpy scalars were passed in.


def _real(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ConfigError(f"{name} must be a real number, got {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ConfigError(f"{name} must be finite, got {value}")
    return value


def _non_negative(name: str, value: Any) -> float:
    value = _real(name, value)
    if value < 0:
        raise ConfigError(f"{name} must be >= 0, got {value}")
    return value


def _positive(name: str, value: Any) -> float:
    value = _real(name, value)
    if value <= 0:
        raise ConfigError(f"{name} must be > 0, got {value}")
    return value


def _momentum(name: str, value: Any) -> float:
    value = _real(name, value)
    if not 0.0 <= value < 1.0:
        raise ConfigError(f"{name} must be in [0, 1) (e.g. 0.95 or 0.85), got {value}")
    return value


def _step_count(name: str, value: Any, minimum: int) -> int:
    """A whole number of optimizer steps; floats are refused rather than silently truncated."""
    if isinstance(value, bool):
        raise ConfigError(f"{name} must be an int number of optimizer steps, got {value!r}")
    try:
        value = operator.index(value)
    except TypeError:
        raise ConfigError(
            f"{name} must be an int number of optimizer steps, got {value!r}; "
            f"round it explicitly, e.g. int({value!r})"
        ) from None
    if value < minimum:
        raise ConfigError(f"{name} must be >= {minimum}, got {value}")
    return value


def _ordered(low_name: str, low: float, high_name: str, high: float) -> None:
    if low > high:
        raise ConfigError(f"{low_name} ({low}) must not exceed {high_name} ({high})")


def _check_step(step: Any) -> int:
    if isinstance(step, bool):
        raise ConfigError(f"step must be an int optimizer step index, got {step!r}")
    try:
        step = operator.index(step)
    except TypeError:
        raise ConfigError(f"step must be an int optimizer step index, got {step!r}") from None
    if step < 0:
        raise ConfigError(f"step ({step}) must be >= 0: schedules are indexed from step 0")
    return step


def _set_field(obj: Any, name: str, value: Any) -> None:
    # Frozen dataclasses store normalised values through object.__setattr__ in __post_init__.
    object.__setattr__(obj, name, value)


# ----------------------------------------------------------------------------------------------
# Schedules


class Schedule:
    """Base class: a pure function from a 0-based optimizer step to a float."""

    kind: ClassVar[str] = "schedule"

    def __call__(self, step: int) -> float:
        return float(self._value(_check_step(step)))

    def _value(self, step: int) -> float:
        raise NotImplementedError

    def describe(self) -> dict:
        """`{"kind": ..., **fields}` with tuples as lists, so it can go straight into JSON."""
        description: dict[str, Any] = {"kind": self.kind}
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            description[field.name] = list(value) if isinstance(value, tuple) else value
        return description


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


def _as_sequence(name: str, value: Any) -> tuple:
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        raise ConfigError(f"{name} must be a list of numbers, got {value!r}")
    return tuple(value)


def _strictly_increasing(name: str, steps: tuple[int, ...]) -> None:
    for earlier, later in zip(steps, steps[1:]):
        if later <= earlier:
            raise ConfigError(f"{name} must be strictly increasing, got {list(steps)} ({later} follows {earlier})")


def _interpolate(step: int, knots: tuple[int, ...], values: tuple[float, ...]) -> float:
    if step <= knots[0]:
        return values[0]
    if step >= knots[-1]:
        return values[-1]
    right = bisect.bisect_right(knots, step)
    k0, k1 = knots[right - 1], knots[right]
    v0, v1 = values[right - 1], values[right]
    return v0 + (v1 - v0) * ((step - k0) / (k1 - k0))


_SCHEDULE_KINDS: dict[str, type[Schedule]] = {
    cls.kind: cls
    for cls in (Constant, LinearRange, ExpRange, Triangular, MultiStep, PiecewiseLinear, SmithOneCycle, CyclicalMomentum)
}


def schedule_from_description(description: dict) -> Schedule:
    """Inverse of `Schedule.describe()` (used to restore schedules from checkpoints and JSON)."""
    if not isinstance(description, dict) or "kind" not in description:
        raise ConfigError(f"a schedule description must be a dict with a 'kind' key, got {description!r}")
    fields = dict(description)
    kind = fields.pop("kind")
    if kind not in _SCHEDULE_KINDS:
        raise ConfigError(f"unknown schedule kind {kind!r}; expected one of {sorted(_SCHEDULE_KINDS)}")
    try:
        return _SCHEDULE_KINDS[kind](**fields)
    except TypeError as error:
        raise ConfigError(f"description of a {kind!r} schedule has the wrong fields: {error}") from None


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


def triangular(lr_min: float, lr_max: float, step_size: int) -> Schedule:
    """Caffe "triangular" CLR; Fig 5a uses triangular(0.1, 3.0, 5000) for 10000 steps."""
    return Triangular(lr_min, lr_max, step_size)


def multistep(lr: float, milestones, gamma: float) -> Schedule:
    """Step decay; Fig 5a's baseline is multistep(0.35, [50000, 70000], 0.1)."""
    return MultiStep(lr, milestones, gamma)


def piecewise_linear(knots, values) -> Schedule:
    return PiecewiseLinear(knots, values)


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


# ----------------------------------------------------------------------------------------------
# Writing hyper-parameters into an optimizer


def _assign(group: dict, key: str, value: float) -> None:
    # Capturable/fused optimizers may hold hyper-parameters as tensors that must be updated in place.
    if isinstance(group.get(key), torch.Tensor):
        group[key].fill_(value)
    else:
        group[key] = value


def _group_lr(group: dict, lr: float) -> float:
    # Caffe-style per-group multiplier (Smith's prototxts give the FC bias lr_mult 2, decay_mult 0).
    return lr * group.get("lr_mult", 1.0)


def set_hparams(
    optimizer,
    *,
    lr: float,
    momentum: float | None = None,
    weight_decay: float | None = None,
) -> None:
    """Write lr (and optionally momentum and weight decay) into every param group.

    lr and weight_decay are scaled per group by "lr_mult" / "decay_mult" when present. Momentum
    goes to "momentum" (SGD-style) or to beta1 of "betas" (Adam family, beta2 kept); groups with
    neither are skipped with one warning.
    """
    lr = _non_negative("lr", lr)
    if momentum is not None:
        momentum = _momentum("momentum", momentum)
    if weight_decay is not None:
        weight_decay = _non_negative("weight_decay", weight_decay)

    groups_without_momentum = 0
    for group in optimizer.param_groups:
        _assign(group, "lr", _group_lr(group, lr))
        if momentum is not None:
            if "momentum" in group:
                _assign(group, "momentum", momentum)
            elif "betas" in group:
                group["betas"] = (momentum, group["betas"][1])
            else:
                groups_without_momentum += 1
        if weight_decay is not None:
            _assign(group, "weight_decay", weight_decay * group.get("decay_mult", 1.0))

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
        return [_group_lr(group, lr) for group in self.optimizer.param_groups]

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
