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

Layout, each module importing only those above it in this list:
  * `base`: the `Schedule` base class and the parameter checks;
  * `ranges`: one-way shapes (constant, linear and exponential ranges, multistep, piecewise linear);
  * `cycles`: triangular CLR, Smith's 1cycle, cyclical momentum and the `one_cycle` factory;
  * `registry`: `schedule_from_description`, which has to know every family;
  * `adapter`: `set_hparams`, `ScheduledHParams` and `schedule_frame`, the torch/pandas side.
Import from `paperlib.schedules` itself; the module split is not part of the interface.
"""
from __future__ import annotations

from .adapter import ScheduledHParams, schedule_frame, set_hparams
from .base import Schedule
from .cycles import (ONE_CYCLE_STYLES, CyclicalMomentum, SmithOneCycle, Triangular,
                     cyclical_momentum, one_cycle, triangular)
from .ranges import (Constant, ExpRange, LinearRange, MultiStep, PiecewiseLinear, constant,
                     exp_range, linear_range, multistep, piecewise_linear)
from .registry import schedule_from_description

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
