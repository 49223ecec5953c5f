"""How jobs run: which train together, and which stepper takes their steps. Decided here, once.

Why one plan: the same jobs are trained by `fit_many`, timed by the estimate before a GPU day,
and fanned out as Ray tasks by the launcher. If each of them decided for itself which jobs fuse
and whether a step is captured, the estimate would time one step and the runs take another, and
a Ray task would group what the kernel would not. So the three call `plan(jobs, execution)` and
take its groups as they are.

- `Execution` is how jobs execute, none of which changes what a run is: `fuse` ("auto": on CUDA
  only, where grouped convolutions beat the same runs one after another; on the CPU they
  measured slower), `capture` ("auto": every group on CUDA is recorded as one CUDA graph;
  "off": never), `max_members` (a cap on a group), and `precision`, the arithmetic of the Jobs a
  caller builds from it (`Execution.compute()`). Each is checked once, when it is made.
- `Group(members, stepper)`: indices into the jobs, and "eager" (a run alone, its own model and
  optimizer stepped as a hand-written loop would), "stacked" (N runs as one vmap'ed model) or
  "captured" (the stacked step replayed from a CUDA graph). `why` says why a job stands alone.
- Jobs fuse when their `Job.fusion_key()` agree, up to MAX_FUSED_IMAGES images per step.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..device import check_precision
from ..errors import ConfigError
from .job import Compute, Job

FUSE_CHOICES = ("auto", "on", "off")
CAPTURE_CHOICES = ("auto", "off")
STEPPERS = ("eager", "stacked", "captured")

# A fused step holds at most this many images (members x batch): the largest group the device
# check measures (16 runs at batch 512); past it, activations of ResNet-56 at batch ~1,000 would
# not fit one GPU's memory.
MAX_FUSED_IMAGES = 8192


@dataclass(frozen=True)
class Execution:
    """How jobs execute (see the module docstring); checked once, here."""

    precision: str = "auto"
    fuse: str = "auto"
    capture: str = "auto"
    max_members: int = 0  # the most runs in one group (0: as many as MAX_FUSED_IMAGES allows)

    def __post_init__(self):
        check_precision(self.precision)
        if self.fuse not in FUSE_CHOICES:
            raise ConfigError(f"fuse ({self.fuse!r}) must be one of {', '.join(FUSE_CHOICES)}")
        if self.capture not in CAPTURE_CHOICES:
            raise ConfigError(f"capture ({self.capture!r}) must be one of "
                              f"{', '.join(CAPTURE_CHOICES)}")
        if (isinstance(self.max_members, bool) or not isinstance(self.max_members, int)
                or self.max_members < 0):
            raise ConfigError(f"max_members ({self.max_members!r}) must be an integer >= 0 "
                              "(0: no cap)")

    def compute(self, **kwargs) -> Compute:
        """The Compute of a Job built to run under this Execution."""
        return Compute(precision=self.precision, **kwargs)

    def fused_on(self, device_type: str) -> bool:
        return self.fuse == "on" or (self.fuse == "auto" and device_type == "cuda")

    def captured_on(self, device_type: str) -> bool:
        return self.capture == "auto" and device_type == "cuda"


@dataclass(frozen=True)
class Group:
    """Jobs (indices) that step together, and the stepper that steps them."""

    members: tuple[int, ...]
    stepper: str  # one of STEPPERS
    why: str = ""  # for a job that stands alone where others fuse: the reason


def plan(jobs: list[Job], execution: Execution | None = None, *,
         device_type: str | None = None) -> list[Group]:
    """The groups `jobs` train in under `execution`, in first-seen order. `device_type` ("cuda" or
    "cpu") is where they will run: by default the jobs' own device; a launcher that builds jobs
    on one machine and trains them on another's GPU says so."""
    execution = execution or Execution()
    if not jobs:
        return []
    device_type = device_type or _device_type(jobs)
    fused = execution.fused_on(device_type)
    captured = execution.captured_on(device_type)
    groups = []
    for members in (fusion_groups(jobs, execution.max_members) if fused
                    else [[i] for i in range(len(jobs))]):
        why = jobs[members[0]].unfusable()
        if captured and why is None:
            stepper = "captured"  # a run alone too: the launches are what the capture saves
        elif fused and len(members) > 1:
            stepper = "stacked"
        else:
            stepper = "eager"
        groups.append(Group(tuple(members), stepper, why or ""))
    return groups


def _device_type(jobs: list[Job]) -> str:
    return jobs[0].device.type


def fusion_groups(jobs: list[Job], max_members: int = 0) -> list[list[int]]:
    """Indices of `jobs` grouped by Job.fusion_key in first-seen order (a job whose key is None
    stands alone); groups of at most `max_members` (0: no limit) and of at most
    MAX_FUSED_IMAGES images per step."""
    groups: dict = {}
    for i, job in enumerate(jobs):
        key = job.fusion_key()
        groups.setdefault(("alone", i) if key is None else key, []).append(i)
    out = []
    for members in groups.values():
        batch = jobs[members[0]].batch_size or 1
        size = max(1, min(max_members or len(members), MAX_FUSED_IMAGES // batch))
        out.extend(members[k:k + size] for k in range(0, len(members), size))
    return out
