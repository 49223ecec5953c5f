"""What every schedule shares: the `Schedule` base class and the checks on its parameters.

Separate from the schedule families so that each family (ranges, cycles) and the optimizer
adapter can build on it without seeing one another. Every check raises `ConfigError` naming the
parameter, and returns the value as a plain Python int/float.
"""
from __future__ import annotations

import dataclasses
import math
import numbers
import operator
from typing import Any, ClassVar

from paperlib.errors import ConfigError


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


def _as_sequence(name: str, value: Any) -> tuple:
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        raise ConfigError(f"{name} must be a list of numbers, got {value!r}")
    return tuple(value)


def _strictly_increasing(name: str, steps: tuple[int, ...]) -> None:
    for earlier, later in zip(steps, steps[1:]):
        if later <= earlier:
            raise ConfigError(f"{name} must be strictly increasing, got {list(steps)} ({later} follows {earlier})")


# ----------------------------------------------------------------------------------------------
# The base class


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
