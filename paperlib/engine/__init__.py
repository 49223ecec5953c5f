"""The training engine: one loop for a run alone, a fused group and a range test.

A run is a `Job` (job.py); `plan` (execution.py) decides, under an `Execution`, which jobs train
together and which stepper takes their steps; `fit` trains one job, `fit_many` trains many in
the plan's groups, both through one loop (loop.py); a stepper (steppers.py) takes each step;
run.json, checkpoints, per-image records and resume are record.py's; objective.py turns any
batch and output into the loss (`loss=` a criterion, or a `StepLoss`). `RunResult` is what
comes back.

This file is the engine's surface: code outside the engine imports from `paperlib.engine`,
never from loop.py or steppers.py.
"""
from .job import Compute, Every, Folder, Job, RunResult, as_folder, describe_schedule
from .loop import RunInterrupted, fit, fit_many
from .objective import Objective, StepLoss
from .execution import (CAPTURE_CHOICES, FUSE_CHOICES, MAX_FUSED_IMAGES, STEPPERS, Execution, Group,
                   fusion_groups, plan)
from .record import preserved_state, rng_state, set_rng_state
from .steppers import StackedModels, evaluate

__all__ = ["Compute", "Every", "Folder", "Job", "RunResult", "as_folder", "describe_schedule",
           "RunInterrupted", "fit", "fit_many", "Objective", "StepLoss", "CAPTURE_CHOICES", "FUSE_CHOICES",
           "MAX_FUSED_IMAGES", "STEPPERS", "Execution", "Group", "fusion_groups", "plan",
           "preserved_state", "rng_state", "set_rng_state", "StackedModels", "evaluate"]
