"""The training engine: one loop for a run alone, a fused group and a range test.

A run is a `Job` (job.py); `fit` trains one, `fit_many` trains many, fusing those with equal
`Job.fusion_key()` (loop.py); a stepper (steppers.py) takes each step; run.json, checkpoints and
resume are record.py's. `RunResult` is what comes back.
"""
from .job import Compute, Every, Folder, Job, RunResult
from .loop import RunInterrupted, fit, fit_many, fusion_groups
from .record import preserved_state, rng_state, set_rng_state
from .steppers import StackedModels, evaluate

__all__ = ["Compute", "Every", "Folder", "Job", "RunResult", "RunInterrupted", "fit",
           "fit_many", "fusion_groups", "preserved_state", "rng_state", "set_rng_state",
           "StackedModels", "evaluate"]
