"""Descriptions back into schedules: the table from each `kind` to its class.

Separate because it must know every family, so it sits above `ranges` and `cycles`; the
adapter uses it to restore a scheduler from its state_dict.
"""
from __future__ import annotations

from paperlib.errors import ConfigError

from .base import Schedule
from .cycles import CyclicalMomentum, SmithOneCycle, Triangular
from .ranges import Constant, ExpRange, LinearRange, MultiStep, PiecewiseLinear


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
